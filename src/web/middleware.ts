import type { Context, MiddlewareHandler } from "hono";
import { randomToken } from "../crypto";
import { sessionDatabase } from "../db/client";
import { mayReadReplica } from "../http/middleware";
import type { WebEnv } from "./context";
import { LANG_COOKIE, readCookie, requestCookie, writeCookie } from "./cookies";
import { LANGUAGES, pickLanguage } from "./i18n";

const TURNSTILE = "https://challenges.cloudflare.com";

/**
 * Security headers of every page: a strict CSP whose only script and style sources are this
 * response's nonce (plus Turnstile's origin when the captcha is on), no framing, no caching.
 * The app-wide middleware adds nosniff, HSTS and the referrer policy.
 */
export const pageHeaders: MiddlewareHandler<WebEnv> = async function pageHeaders(c, next) {
  const nonce = randomToken(16);
  c.set("nonce", nonce);
  await next();
  const turnstile = c.get("config")?.TURNSTILE_SECRET_KEY ? ` ${TURNSTILE}` : "";
  // Passkey ceremonies fetch their options from this origin (src/web/passkeys.tsx).
  const self = c.get("config")?.webauthn ? " 'self'" : "";
  const policy = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'${turnstile}`,
    `style-src 'nonce-${nonce}'`,
    "img-src 'self' data:",
    ...(turnstile ? [`frame-src${turnstile}`] : []),
    ...(turnstile || self ? [`connect-src${self}${turnstile}`] : []),
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
  const headers = c.res.headers;
  headers.set("Content-Security-Policy", policy);
  headers.set("X-Frame-Options", "DENY");
  headers.set("Cache-Control", "no-store");
  headers.append("Vary", "Accept-Language, Cookie");
};

/** Language (cookie, else Accept-Language) and the cookie mode, for everything after it. */
export const pageSetup: MiddlewareHandler<WebEnv> = async function pageSetup(c, next) {
  const lang = pickLanguage(c.req.header("Accept-Language"), requestCookie(c, LANG_COOKIE));
  c.set("lang", lang);
  c.set("t", LANGUAGES[lang]);
  c.set("secureCookies", !(c.get("config").sandbox && new URL(c.req.url).protocol === "http:"));
  c.set("wrote", false);
  await next();
};

/**
 * The pages' D1 session (read replication), like `d1Session` for the API but with the bookmark
 * in a cookie: a browser that just wrote reads its own write on the next page from any replica.
 */
export const pageDatabase: MiddlewareHandler<WebEnv> = async function pageDatabase(c, next) {
  const incoming = readCookie(c, "bookmark");
  const db = sessionDatabase(c.env.DB, {
    bookmark: incoming,
    readOnly: mayReadReplica(c.req.method, c.req.path),
    timeoutMs: c.get("config").STORAGE_TIMEOUT_MS,
  });
  c.set("db", db);
  await next();
  const bookmark = db.session.getBookmark();
  // Only after writes: a read's bookmark is no newer, and could overwrite a concurrent write's.
  if (bookmark && bookmark !== incoming && (c.req.method === "POST" || c.get("wrote"))) writeCookie(c, "bookmark", bookmark, 3600);
};

/** For the language switch: where a page may send the browser back to. */
const PAGE_PATHS = [
  "/",
  "/password",
  "/verify",
  "/profile",
  "/admin",
  "/admin/traffic",
  "/admin/blocks",
  "/admin/users",
  "/admin/audit",
  "/admin/webhooks",
] as const;

export const isPagePath = (path: string | undefined): path is (typeof PAGE_PATHS)[number] =>
  (PAGE_PATHS as readonly string[]).includes(path ?? "");

/** What every view needs from the request. */
export type PageContext = {
  t: WebEnv["Variables"]["t"];
  lang: WebEnv["Variables"]["lang"];
  nonce: string;
  csrf: string;
  path: string;
  appName: string;
  signedIn: boolean;
  passwordMinLength: number;
  /** Passkeys are configured: the pages offer them and load their script. */
  passkeys: boolean;
};

/**
 * What every view needs from the request. An error page may be rendered for a request that
 * failed before the page middleware ran (or before config parsed): English and empty values then.
 */
export function pageContext(c: Context<WebEnv>, path: string, signedIn: boolean): PageContext {
  const config = c.get("config");
  return {
    t: c.get("t") ?? LANGUAGES.en,
    lang: c.get("lang") ?? "en",
    nonce: c.get("nonce") ?? "",
    csrf: c.get("csrf") ?? "",
    path,
    appName: config?.APP_NAME ?? "",
    signedIn,
    passwordMinLength: config?.PASSWORD_MIN_LENGTH ?? 15,
    passkeys: Boolean(config?.webauthn),
  };
}
