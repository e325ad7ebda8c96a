import type { Context, Handler, MiddlewareHandler } from "hono";
import type { z } from "zod";
import type { CompatApi } from "../config";
import type { AppEnv } from "../http/context";
import { ApiError, type ErrorCode, type Failure, fail, problem } from "../http/problem";
import { DependencyError } from "../storage/guard";

// The old APIs' wire habits: bodies as JSON or forms, and errors in their own shapes. Every rule
// behind them is the core's; only the envelope differs.

/** How an old API wrote errors: `users` → `{ "error": "…" }`; Django REST Framework → `{ "detail": "…" }`. */
export type Dialect = "users" | "drf";

export type CompatRoute = {
  dialect: Dialect;
  /** Old field names of core paths, e.g. `{ phone: "phone_number", code: "otp_code" }`. */
  fields?: Record<string, string>;
};

const TOO_MANY = new Set<ErrorCode>(["rate_limited", "resend_too_soon", "too_many_attempts"]);
const UNAUTHORIZED = new Set<ErrorCode>(["unauthorized", "invalid_token", "token_reused", "invalid_credentials"]);
// The `users` API answered 400 for validation, for invalid and expired codes and for every invite rule.
const USERS_BAD_REQUEST = new Set<ErrorCode>([
  "malformed_request",
  "unsupported_media_type",
  "validation_failed",
  "invalid_phone",
  "invalid_code",
  "code_expired",
  "invite_not_found",
  "own_invite_code",
  "invite_already_activated",
  "invite_inactive",
  "invite_cycle",
]);
const STATUS: Partial<Record<ErrorCode, number>> = {
  malformed_request: 400,
  unsupported_media_type: 415,
  validation_failed: 400,
  invalid_phone: 400,
  country_not_allowed: 403,
  sms_delivery_failed: 502,
  invalid_code: 400,
  code_expired: 400,
  reauthentication_required: 403,
  current_password_required: 400,
  current_password_invalid: 403,
  account_disabled: 403,
  weak_password: 400,
  sms_budget_exhausted: 503,
  service_unavailable: 503,
};

// Failures DRF serializers reported against one field.
const FIELD_OF: Partial<Record<ErrorCode, string>> = { invalid_phone: "phone", weak_password: "password" };

function statusOf(route: CompatRoute, failure: Failure): number {
  if (TOO_MANY.has(failure.error)) return 429;
  if (UNAUTHORIZED.has(failure.error)) return 401;
  if (route.dialect === "users" && USERS_BAD_REQUEST.has(failure.error)) return 400;
  return STATUS[failure.error] ?? 400;
}

/** Renders a core failure in the old API's error shape and status. */
function compatError(c: Context<AppEnv>, route: CompatRoute, failure: Failure, headers: Record<string, string> = {}) {
  const status = statusOf(route, failure);
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  if (failure.retry_after !== undefined) c.header("Retry-After", String(failure.retry_after));
  c.header("Cache-Control", "no-store");
  const detail = failure.detail ?? failure.error;
  const rename = (path: string) => route.fields?.[path] ?? path;
  let body: Record<string, unknown>;
  if (route.dialect === "users") {
    body = { error: status === 429 ? "Too many requests" : detail };
  } else if (status === 429) {
    // Django REST Framework's throttle message.
    body = { detail: `Request was throttled. Expected available in ${failure.retry_after ?? 60} seconds.` };
  } else if (failure.error === "validation_failed" && failure.errors?.length) {
    body = {};
    for (const { path, message } of failure.errors) {
      const field = rename(path);
      body[field] = [...((body[field] as string[] | undefined) ?? []), message];
    }
  } else if (FIELD_OF[failure.error]) {
    body = { [rename(FIELD_OF[failure.error] as string)]: [detail] };
  } else {
    body = { detail };
  }
  return c.json(body, status as 400);
}

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;
const FORM_TYPES = new Set(["application/x-www-form-urlencoded", "multipart/form-data"]);

/** The body as an object, from JSON or a form post (old DRF clients post forms); throws ApiError. */
async function readBody(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  if (c.req.method === "GET" || c.req.method === "HEAD") return {};
  const type = (c.req.header("Content-Type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (!type && (c.req.raw.body === null || c.req.header("Content-Length") === "0")) return {};
  if (JSON_TYPE.test(type)) {
    let parsed: unknown;
    try {
      parsed = await c.req.json();
    } catch {
      throw new ApiError(fail("malformed_request", { detail: "JSON parse error." }));
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      const message = "Expected a JSON object.";
      throw new ApiError(fail("validation_failed", { detail: message, errors: [{ path: "non_field_errors", message }] }));
    }
    return parsed as Record<string, unknown>;
  }
  if (FORM_TYPES.has(type)) {
    let form: Record<string, unknown>;
    try {
      form = await c.req.parseBody();
    } catch {
      throw new ApiError(fail("malformed_request", { detail: "The form body could not be read." }));
    }
    // Files are never expected; only text fields count.
    return Object.fromEntries(Object.entries(form).filter(([, value]) => typeof value === "string"));
  }
  throw new ApiError(fail("unsupported_media_type", { detail: `Unsupported media type "${type || "(none)"}" in request.` }));
}

/** Zod issues as the core's validation failure, with the old field names as paths. */
function validationFailure(error: z.ZodError): Failure {
  const errors = error.issues.map((issue) => ({ path: issue.path.join(".") || "non_field_errors", message: issue.message }));
  return fail("validation_failed", { detail: errors.map((e) => `${e.path}: ${e.message}`).join("; "), errors });
}

/** A handler that carries the body schema it validates with, for /openapi.json (./openapi.ts). */
export type CompatHandler = Handler<AppEnv> & { schema?: z.ZodType };

/**
 * A compatibility handler: reads and validates the body against the old API's schema, runs the
 * adapter, and renders any refusal (and a failing D1 or KV, as 503) in the old error shape. Other
 * errors still reach the app's `onError` (logged, 500, nothing leaked). `onFailure` sees each
 * refusal first.
 */
export function compatHandler<S extends z.ZodType>(
  route: CompatRoute,
  schema: S,
  run: (c: Context<AppEnv>, input: z.output<S>) => Promise<Response>,
  onFailure?: (c: Context<AppEnv>, failure: Failure) => Promise<void>,
): CompatHandler {
  const handler: Handler<AppEnv> = async (c) => {
    try {
      const parsed = schema.safeParse(await readBody(c));
      if (!parsed.success) throw new ApiError(validationFailure(parsed.error));
      return await run(c, parsed.data);
    } catch (error) {
      if (error instanceof DependencyError) {
        // Logged and answered like the core's 503, in the old shape.
        console.error(`[${c.get("requestId")}] storage unavailable: ${error.message}`);
        return compatError(
          c,
          route,
          fail("service_unavailable", { detail: "A storage dependency failed. Try again shortly.", retry_after: 30 }),
        );
      }
      if (!(error instanceof ApiError)) throw error;
      await onFailure?.(c, error.failure);
      return compatError(c, route, error.failure, error.headers);
    }
  };
  return Object.assign(handler, { schema });
}

/** Serves an old API only when `COMPAT_APIS` names it; otherwise the route does not exist. */
export function enabled(...apis: CompatApi[]): MiddlewareHandler<AppEnv> {
  return async function compatEnabled(c, next) {
    const on = c.get("config").COMPAT_APIS;
    // Not c.notFound(): the app's 404 handler would see a route here and answer 405.
    if (!apis.some((api) => on.includes(api))) return problem(c, fail("not_found", { detail: "No such route." }));
    await next();
  };
}
