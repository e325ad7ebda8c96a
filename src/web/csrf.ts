import type { Context, MiddlewareHandler } from "hono";
import { keyedHasher, randomToken, timingSafeEqual } from "../crypto";
import type { WebEnv } from "./context";
import { readCookie, writeCookie } from "./cookies";

// CSRF defence in two independent layers (OWASP CSRF Prevention Cheat Sheet):
// 1. the request must come from this origin (Origin, else Fetch Metadata, else Referer);
// 2. the form must carry a token that is an HMAC of a random per-browser secret kept in an
//    HttpOnly `__Host-` cookie ("signed double-submit"): another site can neither read the
//    token nor plant the cookie. Both are checked before anything else runs, so a refused post
//    changes nothing. SameSite=Lax on the session cookie is a third, browser-side layer.

export const CSRF_FIELD = "csrf";
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

const tokenFor = (c: Context<WebEnv>, secret: string) => keyedHasher(c.get("config").PASSWORD_PEPPER, "web-csrf")(secret);

/**
 * Is this request from our own origin? Browsers send `Origin` on every POST; under a
 * `no-referrer` policy it is `null` (Fetch §3.1), so `Sec-Fetch-Site` then decides, and a
 * `Referer` is the last resort. Nothing at all: refused.
 */
function fromOwnOrigin(c: Context): boolean {
  const own = new URL(c.req.url).origin;
  const origin = c.req.header("Origin");
  if (origin && origin !== "null") return origin === own;
  const site = c.req.header("Sec-Fetch-Site");
  if (site) return site === "same-origin";
  const referer = c.req.header("Referer");
  if (!referer) return false;
  try {
    return new URL(referer).origin === own;
  } catch {
    return false;
  }
}

/**
 * Every page: makes sure the browser has a CSRF secret and puts this response's form token on
 * the context. On a POST, first refuses (403, via `onRefused`) a foreign origin, a missing
 * secret, or a missing or wrong token.
 */
export function csrfProtection(onRefused: (c: Context<WebEnv>) => Response | Promise<Response>): MiddlewareHandler<WebEnv> {
  return async function csrfProtection(c, next) {
    let secret = readCookie(c, "csrf");
    if (secret && !SECRET_SHAPE.test(secret)) secret = undefined;
    if (c.req.method === "POST") {
      if (!fromOwnOrigin(c) || !secret) return onRefused(c);
      // A body the runtime cannot read as a form (a non-UTF-8 charset, multipart without its
      // boundary) cannot carry the token either: refused, not a 500.
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const sent = form[CSRF_FIELD];
      if (typeof sent !== "string" || !timingSafeEqual(sent, await tokenFor(c, secret))) return onRefused(c);
    }
    if (!secret) {
      secret = randomToken(32);
      writeCookie(c, "csrf", secret, 31_536_000);
    }
    c.set("csrf", await tokenFor(c, secret));
    await next();
  };
}
