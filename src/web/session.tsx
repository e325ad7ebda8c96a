import type { Context, MiddlewareHandler } from "hono";
import { deps } from "../http/deps";
import type { Failure } from "../http/problem";
import { limitUser } from "../ratelimit/user";
import { verifyAccessToken } from "../tokens/jwt";
import { tokenResponse } from "../tokens/response";
import { rotateRefreshToken } from "../tokens/sessions";
import { asApi, type WebEnv } from "./context";
import { clearCookie, readCookie, writeCookie } from "./cookies";
import { pageContext } from "./middleware";
import { RetryPage } from "./views/error";

// The web session is the API's session: the same refresh token (rotated by the same function as
// POST /v1/auth/token) in an HttpOnly cookie, next to the access token it came with. A page view
// verifies the access cookie statelessly, so page views write nothing to D1 until it expires
// (ACCESS_TOKEN_TTL_SECONDS); then the refresh cookie is rotated once and both are replaced.
// Revocation still bites at once: every page reads D1 through `callerSql`, which requires the
// session to be live and the user active.

type SessionTokens = { access_token: string; refresh_token: string; expires_in: number; refresh_expires_in: number };

/** Puts a session into the cookies, after a sign-in or a rotation. */
export function storeSession(c: Context<WebEnv>, tokens: SessionTokens) {
  writeCookie(c, "session", tokens.refresh_token, tokens.refresh_expires_in);
  writeCookie(c, "access", tokens.access_token, tokens.expires_in);
  c.set("wrote", true);
}

function forgetSession(c: Context<WebEnv>) {
  clearCookie(c, "session");
  clearCookie(c, "access");
}

/** Where the sign-in page is sent when a session ends, and which note it shows. */
export type SignedOutNote = "ended" | "reused" | "signed_out" | "deleted";

export function signedOut(c: Context<WebEnv>, note: SignedOutNote) {
  forgetSession(c);
  return c.redirect(`/?notice=${note}`, 303);
}

/**
 * The profile pages' gate: the caller's claims on `c.get("auth")` (from the access cookie, or a
 * rotation of the refresh cookie), and the same per-user limit as `/v1/me*`.
 */
export const requireWebSession: MiddlewareHandler<WebEnv> = async function requireWebSession(c, next) {
  const config = c.get("config");
  const access = readCookie(c, "access");
  let claims = access ? await verifyAccessToken(config, access) : null;
  if (!claims) {
    const refresh = readCookie(c, "session");
    if (!refresh) return c.redirect("/", 303);
    const services = deps(asApi(c));
    const rotated = await rotateRefreshToken(services, refresh);
    if ("error" in rotated) return lostRotation(c, rotated);
    const tokens = await tokenResponse(
      config,
      { session: rotated.session, refreshToken: rotated.refreshToken, isNewUser: false },
      services.now,
    );
    storeSession(c, tokens);
    claims = await verifyAccessToken(config, tokens.access_token);
    if (!claims) throw new Error("a freshly signed access token did not verify");
  }
  c.set("auth", claims);
  await limitUser(asApi(c), "ME_LIMITER");
  await next();
};

/**
 * A rotation that failed. `invalid_token` may be a race lost just now to another tab (inside
 * REFRESH_REUSE_GRACE_SECONDS, nothing is revoked): that tab's response carries the new cookie,
 * so keep the cookies (clearing them would log that tab out too) and look once more in a
 * second. Anything else, or the second look failing too, ends the session in this browser.
 */
function lostRotation(c: Context<WebEnv>, failure: Failure) {
  if (failure.error === "invalid_token" && c.req.query("retry") === undefined) {
    const target = `${c.req.method === "GET" ? c.req.path : "/profile"}?retry=1`;
    return c.html(<RetryPage page={pageContext(c, "/profile", false)} target={target} />, 200);
  }
  return signedOut(c, failure.error === "token_reused" ? "reused" : "ended");
}
