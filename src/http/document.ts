import type { OpenAPIHono } from "@hono/zod-openapi";
import { version } from "../../package.json";
import { COMPAT_TAGS } from "../compat/openapi";
import type { Config } from "../config";
import { WEB_TAG } from "../web/openapi";

// What /openapi.json says beyond the routes' own definitions: the tags, the response headers, and
// the answers every route can give because of what runs before or after it in src/app.ts.

/**
 * The JSON API's tags, in the order /docs and the Postman collection show them. A tag no
 * operation uses is left out of the document (`finishDocument`).
 */
const API_TAGS = [
  { name: "Service", description: "Health, API metadata, the keys that verify access tokens, this document and its reference page." },
  {
    name: "Sign-in",
    description: "One-time codes by SMS: send a code, then verify it for tokens. The first verification of a phone creates the account.",
  },
  { name: "Tokens", description: "Refresh-token rotation (a rotated token presented again revokes its whole family) and logout." },
  { name: "Profile", description: "The signed-in user's own profile, phone number and account." },
  { name: "Sessions", description: "The signed-in user's live sessions (one per device), and revoking one." },
  { name: "Referrals", description: "Invite codes: activate someone's code once, list your own direct referrals." },
  { name: "Passwords", description: "An optional password as a second way in, held to NIST SP 800-63B-4's single-factor rules." },
  {
    name: "Passkeys",
    description: "Sign in without an SMS: add WebAuthn passkeys to the account, sign in with one. 404 unless WebAuthn is configured.",
  },
  { name: "Admin", description: "For role `admin` only: users, the audit trail and counters. Full phone numbers; every view is audited." },
  {
    name: "Webhooks",
    description: "For role `admin`: endpoints that receive signed Standard Webhooks events (at least once), their deliveries and replays.",
  },
  {
    name: "Fraud guard",
    description: "For role `admin`: blocks of a number prefix or a country that codes may not be sent to (SMS pumping), and lifting them.",
  },
  {
    name: "Delivery",
    description:
      "Delivery status callbacks from the SMS, WhatsApp, Telegram and voice providers, each checked with its own signature scheme.",
  },
];

export const DOCUMENT_TAGS = [...API_TAGS, ...COMPAT_TAGS, WEB_TAG];

/** Response headers clients read, as `components.headers` (names as sent). */
const HEADERS = {
  "X-Request-Id": {
    description: "This request's id: a valid incoming `X-Request-Id` echoed, else a fresh one. Quote it when reporting a problem.",
    schema: { type: "string", example: "3f1c2b9e-6a4d-4e0b-9a57-2c1d0f7e8a10" },
  },
  "Retry-After": {
    description: "Seconds to wait before trying again (also `retry_after` in the problem body).",
    schema: { type: "integer", minimum: 0, example: 60 },
  },
  "RateLimit-Limit": {
    description: "Requests allowed in the window with the least left (per-user limits send only this one).",
    schema: { type: "integer", example: 5 },
  },
  "RateLimit-Remaining": { description: "Requests left in that window.", schema: { type: "integer", example: 4 } },
  "RateLimit-Reset": { description: "Seconds until that window has room again.", schema: { type: "integer", example: 42 } },
  "X-D1-Bookmark": {
    description:
      "The D1 session bookmark after this request. Send it back as the `X-D1-Bookmark` request header to read your own writes from any replica.",
    schema: { type: "string" },
  },
  "Cache-Control": {
    description:
      "`no-store` on every answer with personal data or tokens (everything under /v1, the pages, the old APIs' tokens and profiles, every error); `public, max-age=300` on the JWKS.",
    schema: { type: "string", example: "no-store" },
  },
} as const;

type HeaderName = keyof typeof HEADERS;
type Response = { description: string; headers?: Record<string, unknown>; content?: Record<string, unknown> };
type Parameter = { in: string; example?: unknown; schema?: { example?: unknown } };
type Operation = {
  tags?: string[];
  security?: unknown[];
  parameters?: Parameter[];
  requestBody?: unknown;
  responses: Record<string, Response>;
};
type Document = { paths?: Record<string, Record<string, Operation>>; tags?: { name: string }[] };

const ref = (name: HeaderName) => ({ $ref: `#/components/headers/${name}` });

/** A problem+json answer; on a page, the HTML error page as well (errors before the page middleware are problem+json). */
const failure = (description: string, page: boolean) => ({
  description,
  content: {
    "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } },
    ...(page && { "text/html": { schema: { type: "string" } } }),
  },
});

/** Registers the shared response headers; call once on the app's registry. */
export function registerHeaders(registry: OpenAPIHono["openAPIRegistry"]) {
  for (const [name, header] of Object.entries(HEADERS)) registry.registerComponent("headers", name, header);
}

/** The document's top-level fields: `servers` only from PUBLIC_URL, never from the request (tools then use the document's own origin). */
export function documentInfo(config: Config) {
  return {
    openapi: "3.1.0",
    info: { title: "phone-auth-edge", version, description: "Phone-number sign-in with SMS one-time codes, JWTs and sessions." },
    ...(config.PUBLIC_URL && { servers: [{ url: config.PUBLIC_URL.replace(/\/+$/, "") }] }),
    tags: DOCUMENT_TAGS,
  };
}

/**
 * Adds to every operation what src/app.ts makes true of it: no declared security means public
 * (`security: []`); `requireConfig` and `onError` can answer 503 and 500 anywhere, the body
 * middleware 413 (and under /v1, 400 and 415) to any request with a body, the JSON API's
 * validation 400 wherever there is something to validate; every answer
 * carries `X-Request-Id`, /v1 answers `Cache-Control` and `X-D1-Bookmark`; 429 and 503 carry
 * `Retry-After`, and a route that can answer 429 carries the `RateLimit-*` headers.
 */
export function finishDocument<D extends object>(document: D): D {
  const doc = document as Document;
  const used = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, operation] of Object.entries(item)) {
      for (const tag of operation.tags ?? []) used.add(tag);
      operation.security ??= [];
      const page = operation.tags?.includes(WEB_TAG.name) ?? false;
      const answers = operation.responses;
      // Tools that fill in requests (Dredd, Postman) read the parameter's own `example`.
      for (const parameter of operation.parameters ?? []) {
        if (parameter.example === undefined && parameter.schema?.example !== undefined) parameter.example = parameter.schema.example;
      }
      // The JSON API's router validates declared parameters and bodies (`createRouter`'s hook).
      if (path.startsWith("/v1") && (operation.parameters?.length || operation.requestBody)) {
        answers["400"] ??= failure("A parameter or the body fails its schema (`validation_failed`)", false);
      }
      if (method !== "get") {
        // `limitBody` runs everywhere, `jsonBody` under /v1, before any route (src/app.ts).
        answers["413"] ??= failure("The body is larger than 16 KiB (`payload_too_large`)", false);
        if (path.startsWith("/v1")) {
          answers["400"] ??= failure("The body is not JSON (`malformed_request`)", false);
          answers["415"] ??= failure("A body that is not `application/json` (`unsupported_media_type`)", false);
        }
      }
      answers["500"] ??= failure("Unexpected failure (`internal_error`); nothing internal is shown", page);
      answers["503"] ??= failure("A dependency failed or the service is misconfigured (`service_unavailable`)", page);
      operation.responses = Object.fromEntries(Object.entries(answers).sort(([a], [b]) => a.localeCompare(b)));
      const limited = "429" in operation.responses;
      for (const [status, response] of Object.entries(operation.responses)) {
        const names: HeaderName[] = ["X-Request-Id"];
        // The old APIs' refusals and token answers are no-store too (src/compat/http.ts).
        const compat = operation.tags?.some((tag) => tag.startsWith("Compatibility:")) ?? false;
        if (path.startsWith("/v1") || page || compat || response.content?.["application/problem+json"]) names.push("Cache-Control");
        if (path.startsWith("/v1")) names.push("X-D1-Bookmark");
        if (status === "429" || status === "503") names.push("Retry-After");
        if (limited) names.push("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset");
        response.headers = { ...Object.fromEntries(names.map((name) => [name, ref(name)])), ...response.headers };
      }
    }
  }
  if (doc.tags) doc.tags = doc.tags.filter((tag) => used.has(tag.name));
  return document;
}
