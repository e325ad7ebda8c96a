import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "./context";
import { ApiError, type Failure, problem } from "./problem";

/** Returns the success value, or throws the failure for `app.onError` to write. */
export function orThrow<T>(result: T | Failure): T {
  if (result && typeof result === "object" && "error" in result) throw new ApiError(result as Failure);
  return result as T;
}

// Failures of D1 or KV themselves (not of our logic): the client may retry, so 503 not 500.
// A SQL error or constraint failure is our own bug and stays a 500.
const ownBug = /SQLITE_ERROR|SQLITE_CONSTRAINT|SQLITE_MISMATCH|SQLITE_RANGE/;
const dependencyFailure = /D1_|SQLITE_BUSY|SQLITE_FULL|SQLITE_IOERR|KV (GET|PUT|DELETE)|Network connection lost|overloaded|storage/i;

/**
 * The one `app.onError`: known failures become their problem document; anything else is logged
 * with the request id and answered without internals (never a stack trace on the wire).
 */
export function handleError(error: Error, c: Context<AppEnv>): Response {
  if (error instanceof ApiError) return problem(c, error.failure, error.headers);
  if (error instanceof HTTPException) {
    if (error.status === 413) return problem(c, { error: "payload_too_large", detail: "The body is larger than 16 KiB." });
    if (error.status === 400) return problem(c, { error: "malformed_request", detail: "The body is not valid JSON." });
  }
  const requestId = c.get("requestId");
  console.error(`[${requestId}] unhandled ${error.stack ?? `${error.name}: ${error.message}`}`);
  if (!ownBug.test(error.message) && dependencyFailure.test(error.message)) {
    return problem(c, { error: "service_unavailable", detail: "A storage dependency failed. Try again shortly." });
  }
  return problem(c, { error: "internal_error", detail: `Something went wrong. Reference: ${requestId}.` });
}
