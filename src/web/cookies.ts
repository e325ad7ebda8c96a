import type { Context } from "hono";
import type { WebEnv } from "./context";

/**
 * The pages' cookies. Over https (always, in production) they are `__Host-` prefixed: Secure,
 * Path=/, no Domain, so no sibling subdomain can plant or shadow them. In development over plain
 * http they drop the prefix and `Secure`, which browsers other than Chromium refuse there.
 */
const NAMES = {
  /** The refresh token of the session (rotated like the API's). */
  session: "session",
  /** A short-lived access token (JWT), so page views need no rotation until it expires. */
  access: "access",
  /** Random secret behind the forms' CSRF tokens. */
  csrf: "csrf",
  /** The sign-in in progress: which phone, when the code went out (and, in the sandbox, the code). */
  flow: "flow",
  /** The last D1 bookmark, so the next page reads this browser's own writes on any replica. */
  bookmark: "d1",
} as const;

type CookieName = keyof typeof NAMES;

const cookieName = (c: Context<WebEnv>, name: CookieName) => (c.get("secureCookies") ? `__Host-${NAMES[name]}` : NAMES[name]);

/** The language switch's choice: not a secret, so it keeps a plain name in every mode. */
export const LANG_COOKIE = "lang";

/** A cookie of the request (the first of that name in `Cookie`, RFC 6265 §5.4), or undefined. */
export function requestCookie(c: Context, name: string): string | undefined {
  for (const pair of (c.req.header("Cookie") ?? "").split(";")) {
    const at = pair.indexOf("=");
    if (at < 0 || pair.slice(0, at).trim() !== name) continue;
    try {
      return decodeURIComponent(pair.slice(at + 1).trim()) || undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export const readCookie = (c: Context<WebEnv>, name: CookieName) => requestCookie(c, cookieName(c, name));

// Browsers cap Max-Age at 400 days (RFC 6265bis §5.5).
const MAX_AGE_CAP = 34_560_000;

/** HttpOnly, SameSite=Lax, Path=/ always; Secure (and `__Host-`, see cookieName) unless development over http. */
function setCookie(c: Context<WebEnv>, name: string, value: string, maxAgeSeconds: number) {
  const maxAge = Math.max(0, Math.min(Math.floor(maxAgeSeconds), MAX_AGE_CAP));
  const secure = c.get("secureCookies") ? "; Secure" : "";
  c.header("Set-Cookie", `${name}=${encodeURIComponent(value)}; Max-Age=${maxAge}; Path=/; HttpOnly${secure}; SameSite=Lax`, {
    append: true,
  });
}

export const writeCookie = (c: Context<WebEnv>, name: CookieName, value: string, maxAgeSeconds: number) =>
  setCookie(c, cookieName(c, name), value, maxAgeSeconds);

export const clearCookie = (c: Context<WebEnv>, name: CookieName) => writeCookie(c, name, "", 0);

export const writeLangCookie = (c: Context<WebEnv>, lang: string) => setCookie(c, LANG_COOKIE, lang, 31_536_000);
