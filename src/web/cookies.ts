import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
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

export type CookieName = keyof typeof NAMES;

export const cookieName = (c: Context<WebEnv>, name: CookieName) => (c.get("secureCookies") ? `__Host-${NAMES[name]}` : NAMES[name]);

export function readCookie(c: Context<WebEnv>, name: CookieName): string | undefined {
  return getCookie(c, cookieName(c, name)) || undefined;
}

/** HttpOnly, SameSite=Lax, Path=/ always; Secure and `__Host-` unless development over http. */
export function writeCookie(c: Context<WebEnv>, name: CookieName, value: string, maxAgeSeconds: number) {
  setCookie(c, cookieName(c, name), value, {
    path: "/",
    httpOnly: true,
    secure: c.get("secureCookies"),
    sameSite: "Lax",
    maxAge: Math.max(0, Math.min(maxAgeSeconds, 34_560_000)),
  });
}

export const clearCookie = (c: Context<WebEnv>, name: CookieName) => writeCookie(c, name, "", 0);

/** The language switch's choice: not a secret, so it keeps a plain name in every mode. */
export const LANG_COOKIE = "lang";

export function writeLangCookie(c: Context<WebEnv>, lang: string) {
  setCookie(c, LANG_COOKIE, lang, { path: "/", httpOnly: true, secure: c.get("secureCookies"), sameSite: "Lax", maxAge: 31_536_000 });
}
