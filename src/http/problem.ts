import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Every machine-readable error `code` of the contract (spec/API.md, "Errors"). */
const catalogue = {
  malformed_request: [400, "Malformed request"],
  unsupported_media_type: [415, "Unsupported media type"],
  validation_failed: [400, "Validation failed"],
  invalid_phone: [400, "Invalid phone number"],
  country_not_allowed: [403, "Country not allowed"],
  captcha_required: [400, "Captcha required"],
  captcha_failed: [403, "Captcha failed"],
  rate_limited: [429, "Too many requests"],
  resend_too_soon: [429, "Resend too soon"],
  sms_delivery_failed: [502, "SMS delivery failed"],
  channel_unavailable: [400, "Channel unavailable"],
  destination_blocked: [403, "Destination blocked"],
  invalid_code: [400, "Invalid code"],
  code_expired: [400, "Code expired"],
  too_many_attempts: [429, "Too many attempts"],
  unauthorized: [401, "Unauthorized"],
  invalid_token: [401, "Invalid token"],
  token_reused: [401, "Token reused"],
  invalid_credentials: [401, "Invalid credentials"],
  reauthentication_required: [403, "Reauthentication required"],
  current_password_required: [400, "Current password required"],
  current_password_invalid: [403, "Current password invalid"],
  account_disabled: [403, "Account disabled"],
  forbidden: [403, "Forbidden"],
  weak_password: [400, "Weak password"],
  phone_taken: [409, "Phone taken"],
  invite_not_found: [404, "Invite not found"],
  own_invite_code: [400, "Own invite code"],
  invite_already_activated: [409, "Invite already activated"],
  invite_inactive: [409, "Invite inactive"],
  invite_cycle: [400, "Invite cycle"],
  self_lockout: [409, "Self lockout"],
  sms_budget_exhausted: [503, "SMS budget exhausted"],
  service_unavailable: [503, "Service unavailable"],
  not_found: [404, "Not found"],
  method_not_allowed: [405, "Method not allowed"],
  payload_too_large: [413, "Payload too large"],
  internal_error: [500, "Internal error"],
} as const satisfies Record<string, readonly [ContentfulStatusCode, string]>;

export type ErrorCode = keyof typeof catalogue;

/** Extra members of a problem document (RFC 9457 §3.2 extension members). */
export type ProblemExtras = {
  detail?: string;
  /** Seconds; also sets the `Retry-After` header. */
  retry_after?: number;
  attempts_left?: number;
  errors?: { path: string; message: string }[];
  rule?: string;
  [member: string]: unknown;
};

/** A failure a service returns as data: the error code plus what the client should see. */
export type Failure = {
  error: ErrorCode;
  /** Response headers that go with the failure (`RateLimit-*` of the window that refused); never in the body. */
  headers?: Record<string, string>;
} & ProblemExtras;

/** Thrown from middleware and handlers; `app.onError` turns it into a problem response. */
export class ApiError extends Error {
  constructor(
    readonly failure: Failure,
    readonly headers: Record<string, string> = failure.headers ?? {},
  ) {
    super(failure.error);
  }
}

/** The HTTP status the contract gives an error code. */
export const problemStatus = (error: ErrorCode): ContentfulStatusCode => catalogue[error][0];

export const fail = (error: ErrorCode, extras: ProblemExtras = {}): Failure => ({ error, ...extras });

/** The one place that writes an `application/problem+json` response. */
export function problem(c: Context, failure: Failure, headers: Record<string, string> = {}): Response {
  const { error, detail, headers: own, ...extras } = failure;
  const [status, title] = catalogue[error];
  const body = { type: "about:blank", title, status, code: error, detail: detail ?? title, ...extras };
  for (const [name, value] of Object.entries({ ...own, ...headers })) c.header(name, value);
  if (failure.retry_after !== undefined) c.header("Retry-After", String(failure.retry_after));
  if (status === 503 && failure.retry_after === undefined) {
    body.retry_after = 30;
    c.header("Retry-After", "30");
  }
  c.header("Content-Type", "application/problem+json");
  c.header("Cache-Control", "no-store");
  return c.body(JSON.stringify(body), status);
}
