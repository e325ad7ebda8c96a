import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { DependencyError } from "../storage/guard";
import type { AppEnv } from "./context";
import { ApiError, type Failure, problem } from "./problem";

/** Returns the success value, or throws the failure for `app.onError` to write. */
export function orThrow<T>(result: T | Failure): T {
  if (result && typeof result === "object" && "error" in result) throw new ApiError(result as Failure);
  return result as T;
}

/**
 * The one `app.onError`: known failures become their problem document; a failing D1 or KV (every
 * call is guarded, src/storage/guard.ts) is a 503 the client may retry; anything else is our bug,
 * logged with the request id and answered 500 without internals (never a stack trace on the wire).
 */
export function handleError(error: Error, c: Context<AppEnv>): Response {
  if (error instanceof ApiError) return problem(c, error.failure, error.headers);
  if (error instanceof DependencyError) {
    console.error(`[${c.get("requestId")}] storage unavailable: ${error.message}`);
    return problem(c, { error: "service_unavailable", detail: "A storage dependency failed. Try again shortly." });
  }
  if (error instanceof HTTPException) {
    if (error.status === 413) return problem(c, { error: "payload_too_large", detail: "The body is larger than 16 KiB." });
    if (error.status === 400) return problem(c, { error: "malformed_request", detail: "The body is not valid JSON." });
    // The OpenAPI router's own media-type gate is stricter than `jsonBody` (`application/json;` passes one, not the other).
    if (error.status === 415) return problem(c, { error: "unsupported_media_type", detail: "Send the body as application/json." });
  }
  const requestId = c.get("requestId");
  console.error(`[${requestId}] unhandled ${error.stack ?? `${error.name}: ${error.message}`}`);
  return problem(c, { error: "internal_error", detail: `Something went wrong. Reference: ${requestId}.` });
}
