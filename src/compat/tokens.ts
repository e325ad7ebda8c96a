import type { Context } from "hono";
import { decodeJwt } from "jose";
import type { Config } from "../config";
import type { Deps } from "../deps";
import type { AppEnv } from "../http/context";
import { ApiError, type Failure, fail } from "../http/problem";
import { type AccessClaims, signAccessToken, verifyAccessToken } from "../tokens/jwt";
import { tokenResponse } from "../tokens/response";
import { rotateRefreshToken } from "../tokens/sessions";

/** The audience of the `users` API's long-lived tokens: /v1 (audience JWT_AUDIENCE) refuses them. */
export const usersAudience = (config: Config) => `${config.JWT_AUDIENCE}:compat-users`;

/** The claims of an access token this request has just signed (no need to verify our own). */
export function claimsOf(accessToken: string): AccessClaims {
  return decodeJwt(accessToken) as unknown as AccessClaims;
}

/**
 * The `users` API's token: an access token for the same session that lives
 * `COMPAT_TOKEN_TTL_SECONDS`, because those clients never refresh. Every route that takes it
 * checks in D1 that the session is live, so logout, deactivation and deletion still revoke it.
 */
export function usersToken(config: Config, claims: AccessClaims, now: number) {
  return signAccessToken(config, { sub: claims.sub, sid: claims.sid, role: claims.role, authTimeMs: claims.auth_time * 1000 }, now, {
    audience: usersAudience(config),
    ttlSeconds: config.COMPAT_TOKEN_TTL_SECONDS,
  });
}

/**
 * SimpleJWT's `{ access, refresh }`: the core's refresh rotation (reuse detection included) and an
 * access token for the session, as `POST /v1/auth/token` answers them.
 */
export async function simpleJwtPair(deps: Deps, refreshToken: string): Promise<{ access: string; refresh: string } | Failure> {
  const rotated = await rotateRefreshToken(deps, refreshToken);
  if ("error" in rotated) return rotated;
  const { session } = rotated;
  const tokens = await tokenResponse(deps.config, { session, refreshToken: rotated.refreshToken, isNewUser: false }, deps.now);
  return { access: tokens.access_token, refresh: tokens.refresh_token };
}

/**
 * Reads `Authorization: Token <t>` (DRF's scheme) or `Bearer <t>` and verifies it for `audience`;
 * throws `unauthorized` with Django REST Framework's messages.
 */
export async function compatClaims(c: Context<AppEnv>, audience: string, schemes: string[]): Promise<AccessClaims> {
  const match = c.req.header("Authorization")?.match(/^(\w+) +([A-Za-z0-9._~+/-]+=*)$/);
  const scheme = match?.[1]?.toLowerCase();
  if (!match || !scheme || !schemes.includes(scheme)) {
    throw new ApiError(fail("unauthorized", { detail: "Authentication credentials were not provided." }));
  }
  const claims = await verifyAccessToken(c.get("config"), match[2] as string, audience);
  if (!claims) throw new ApiError(fail("unauthorized", { detail: "Invalid token." }));
  c.set("auth", claims);
  return claims;
}
