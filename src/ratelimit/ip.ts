import type { Context } from "hono";
import type { AppEnv } from "../http/context";
import { kvOf } from "../http/deps";
import { clientIp } from "../http/middleware";
import { ApiError, type ErrorCode, fail } from "../http/problem";
import { hitWindows, type Window } from "./kv-window";

/**
 * Counts the request against KV windows keyed by client IP and sets the `RateLimit-*` headers;
 * throws a 429 problem (`rate_limited` unless the contract names another code) when one is full.
 */
export async function limitByIp(c: Context<AppEnv>, scope: string, windows: Window[], code: ErrorCode = "rate_limited") {
  const verdict = await hitWindows(kvOf(c), `rl:${scope}:ip:${clientIp(c)}`, windows, Date.now());
  for (const [name, value] of Object.entries(verdict.headers)) c.header(name, value);
  if (!verdict.allowed) {
    throw new ApiError(
      fail(code, { detail: "Too many requests from this network. Try again later.", retry_after: verdict.retryAfter }),
      verdict.headers,
    );
  }
}
