import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ApiError, type ErrorCode, type Failure, problemStatus } from "../http/problem";
import type { WebEnv } from "./context";

/** What a refused form shows: messages by field name, a form-level one, and where the focus goes. */
export type FormErrors = { fields: Partial<Record<string, string>>; form?: string; focus?: string };

/** The field each error code is about, by form field name (where the form has that field). */
const FIELD_OF: Partial<Record<ErrorCode, string>> = {
  invalid_phone: "phone",
  country_not_allowed: "phone",
  phone_taken: "phone",
  invalid_code: "code",
  code_expired: "code",
  too_many_attempts: "code",
  invalid_credentials: "password",
  reauthentication_required: "current_password",
  current_password_required: "current_password",
  current_password_invalid: "current_password",
  weak_password: "new_password",
  invite_not_found: "invite_code",
  own_invite_code: "invite_code",
  invite_already_activated: "invite_code",
  invite_inactive: "invite_code",
  invite_cycle: "invite_code",
};

/**
 * Turns a service's failure into page errors in the page's language: next to the field it
 * concerns (validation errors by their `path`), else at the top of the form. `fields` lists the
 * form's fields in page order; `messages` overrides the message of a validation path.
 */
export function formErrors(
  c: Context<WebEnv>,
  failure: Failure,
  fields: readonly string[],
  messages: Partial<Record<string, string>> = {},
): FormErrors {
  const t = c.get("t");
  const message = t.errors[failure.error](failure, c.get("config").PASSWORD_MIN_LENGTH);
  if (failure.error === "validation_failed" && failure.errors?.length) {
    const byField: Record<string, string> = {};
    for (const { path } of failure.errors) {
      if (fields.includes(path)) byField[path] ??= messages[path] ?? message;
    }
    if (Object.keys(byField).length > 0) return fieldErrors(fields, byField);
  }
  const field = FIELD_OF[failure.error];
  if (field && fields.includes(field)) {
    return fieldErrors(fields, { [field]: message });
  }
  return { fields: {}, form: message };
}

/** Errors the page found itself (a required box left empty), keyed by field. */
export function fieldErrors(fields: readonly string[], byField: Record<string, string>): FormErrors {
  return { fields: byField, focus: fields.find((field) => byField[field] !== undefined) };
}

/**
 * The status of a page that shows a refused form: the contract's own for limits (429) and
 * outages (5xx), so clients and monitoring read them alike; 422 for any other refusal.
 */
export function pageStatus(c: Context<WebEnv>, failure: Failure): ContentfulStatusCode {
  if (failure.retry_after !== undefined) c.header("Retry-After", String(failure.retry_after));
  const status = problemStatus(failure.error);
  return status === 429 || status >= 500 ? status : 422;
}

/**
 * Runs a request function or service call the JSON API uses too; its refusal (an ApiError, or a
 * returned failure) comes back as data for the page to show. Anything else propagates.
 */
export async function attempt<T>(work: () => Promise<T | Failure>): Promise<{ ok: true; value: T } | { ok: false; failure: Failure }> {
  try {
    const value = await work();
    if (value && typeof value === "object" && "error" in value) return { ok: false, failure: value as Failure };
    return { ok: true, value: value as T };
  } catch (error) {
    if (error instanceof ApiError) return { ok: false, failure: error.failure };
    throw error;
  }
}

/** The posted form's text fields (files and repeated names ignored). */
export async function readForm(c: Context<WebEnv>): Promise<(name: string) => string> {
  const body = await c.req.parseBody();
  return (name) => {
    const value = body[name];
    return typeof value === "string" ? value : "";
  };
}
