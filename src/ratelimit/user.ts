import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/context";
import { ApiError, fail } from "../http/problem";

/** The per-user limits of the contract; they must match the `[[ratelimits]]` blocks in wrangler.toml. */
export const USER_LIMITS = {
  ME_LIMITER: { limit: 100, period: 60 },
  INVITE_LIMITER: { limit: 20, period: 60 },
} as const;

/**
 * Per-user limit through the Workers Rate Limiting binding (no KV write on reads). Runs after
 * `requireAccessToken`. The binding says only yes or no, so these routes carry `RateLimit-Limit`
 * alone. Without the binding (a deployment that removed it) nothing is limited.
 */
export function limitPerUser(binding: keyof typeof USER_LIMITS): MiddlewareHandler<AppEnv> {
  const { limit, period } = USER_LIMITS[binding];
  return async function limitPerUser(c, next) {
    const limiter = c.env[binding];
    if (limiter) {
      c.header("RateLimit-Limit", String(limit));
      const { success } = await limiter.limit({ key: c.get("auth").sub });
      if (!success) {
        throw new ApiError(fail("rate_limited", { detail: "Too many requests for this account. Slow down.", retry_after: period }), {
          "RateLimit-Limit": String(limit),
        });
      }
    }
    await next();
  };
}
