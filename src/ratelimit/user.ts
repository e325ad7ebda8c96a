import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/context";
import { ApiError, fail } from "../http/problem";

/** The per-user limits of the contract; they must match the `[[ratelimits]]` blocks in wrangler.toml. */
export const USER_LIMITS = {
  ME_LIMITER: { limit: 100, period: 60 },
  INVITE_LIMITER: { limit: 20, period: 60 },
} as const;

/**
 * Per-user limit through the Workers Rate Limiting binding (no KV write on reads), for the caller
 * in `c.get("auth")`; throws a 429 when spent. The binding says only yes or no, so these routes
 * carry `RateLimit-Limit` alone. Without the binding (a deployment that removed it) nothing is limited.
 */
export async function limitUser(c: Context<AppEnv>, binding: keyof typeof USER_LIMITS) {
  const limiter = c.env[binding];
  if (!limiter) return;
  const { limit, period } = USER_LIMITS[binding];
  c.header("RateLimit-Limit", String(limit));
  const { success } = await limiter.limit({ key: c.get("auth").sub });
  if (!success) {
    throw new ApiError(fail("rate_limited", { detail: "Too many requests for this account. Slow down.", retry_after: period }), {
      "RateLimit-Limit": String(limit),
    });
  }
}

/** `limitUser` as middleware, after `requireAccessToken`. */
export function limitPerUser(binding: keyof typeof USER_LIMITS): MiddlewareHandler<AppEnv> {
  return async function limitPerUser(c, next) {
    await limitUser(c, binding);
    await next();
  };
}
