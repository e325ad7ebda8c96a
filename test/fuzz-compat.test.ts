import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type AuthSpec,
  authSpec,
  BODY_LIMIT,
  buildHeaders,
  contentType,
  type FieldKind,
  hostileHeaders,
  jsonBody,
  rawBody,
  resolveAuth,
  resolveRefs,
} from "./fuzz-arbitraries";
import {
  api,
  fixtures,
  forbiddenChanges,
  fuzzParameters,
  fuzzTimeout,
  installChangeLog,
  invalidateFixtures,
  observe,
  problemCode,
} from "./fuzz-harness";
import { freshIp } from "./helpers";

// Property-based tests of the compatibility APIs (issue #10). They answer errors in the old
// shapes, not problem+json: `users` → `{ "error": "…" }`, the DRF APIs → `{ "detail": "…" }` or
// `{ "<field>": ["…"] }`. The property: never a 5xx, every error a JSON object of the route's
// shape, and a refusal writes nothing but what refusals may write (fuzz-harness.ts).

type Dialect = "users" | "drf";

type CompatRoute = {
  method: "GET" | "POST";
  path: string;
  dialect: Dialect;
  fields?: Record<string, FieldKind>;
  required?: string[];
  /** The token that reaches the handler: the `users` API's `Token`, or a /v1 access token as Bearer. */
  auth?: "usersToken" | "user";
  /** Checks a one-time code or a password: a refusal may count the guess against the phone. */
  guesses?: boolean;
  /** A success may sign the fixtures' user in or out elsewhere. */
  spends?: boolean;
};

const usersRoutes = (base: string): CompatRoute[] => [
  { method: "POST", path: `${base}/send-code/`, dialect: "users", fields: { phone_number: "phone" }, required: ["phone_number"] },
  {
    method: "POST",
    path: `${base}/verify-code/`,
    dialect: "users",
    fields: { phone_number: "phone", verification_code: "code" },
    required: ["phone_number", "verification_code"],
    guesses: true,
  },
  { method: "GET", path: `${base}/profile/`, dialect: "users", auth: "usersToken" },
  {
    method: "POST",
    path: `${base}/activate-invite/`,
    dialect: "users",
    fields: { invite_code: "invite" },
    required: ["invite_code"],
    auth: "usersToken",
  },
];

/** Every route of the four old APIs (COMPAT_APIS' default: all of them). */
const ROUTES: CompatRoute[] = [
  ...usersRoutes("/users"),
  ...usersRoutes("/api/users"),
  { method: "GET", path: "/api/", dialect: "users" },
  { method: "POST", path: "/api/register/", dialect: "drf", fields: { mobile_number: "phone" }, required: ["mobile_number"] },
  {
    method: "POST",
    path: "/api/verify-otp/",
    dialect: "drf",
    fields: { session_id: "session", code: "code" },
    required: ["session_id", "code"],
    guesses: true,
  },
  {
    method: "POST",
    path: "/api/set-password/",
    dialect: "drf",
    fields: { session_id: "session", password: "password" },
    required: ["session_id"],
  },
  {
    method: "POST",
    path: "/api/user-info/",
    dialect: "drf",
    fields: { session_id: "session", email: "email", first_name: "name", last_name: "name" },
    required: ["session_id"],
  },
  {
    method: "POST",
    path: "/api/login/",
    dialect: "drf",
    fields: { session_id: "session", password: "password" },
    required: ["session_id", "password"],
    guesses: true,
  },
  { method: "POST", path: "/api/auth/send-otp/", dialect: "drf", fields: { phone_number: "phone" }, required: ["phone_number"] },
  {
    method: "POST",
    path: "/api/auth/verify-otp/",
    dialect: "drf",
    fields: { phone_number: "phone", otp_code: "code" },
    required: ["phone_number", "otp_code"],
    guesses: true,
  },
  { method: "GET", path: "/api/auth/profile/", dialect: "drf", auth: "user" },
  { method: "POST", path: "/api/token/refresh/", dialect: "drf", fields: { refresh: "refresh" }, required: ["refresh"], spends: true },
  { method: "POST", path: "/api/v1/usr/otp", dialect: "drf", fields: { phone_number: "phone" }, required: ["phone_number"] },
  {
    method: "POST",
    path: "/api/v1/usr/otp/verify",
    dialect: "drf",
    fields: { phone_number: "phone", code: "code" },
    required: ["phone_number", "code"],
    guesses: true,
  },
];

/** What is wrong with a compatibility API's answer, or null. */
function compatViolation(route: CompatRoute, response: Response, text: string): string | null {
  if (response.status >= 500) return `5xx: ${response.status} ${text.slice(0, 300)}`;
  if (!response.headers.get("X-Request-Id")) return "no X-Request-Id";
  if (response.status < 400) return null;
  const type = response.headers.get("Content-Type") ?? "";
  // The one answer the app gives before any route runs: a body over 16 KiB, refused unread.
  if (type === "application/problem+json" && problemCode(text) === "payload_too_large") return null;
  if (!type.startsWith("application/json")) return `error ${response.status} as ${type}: ${text.slice(0, 200)}`;
  if (response.status === 429 && !response.headers.get("Retry-After")) return "429 without Retry-After";
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `error body is not JSON: ${text.slice(0, 200)}`;
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) return `error body is not an object: ${text.slice(0, 200)}`;
  const members = Object.entries(body);
  if (route.dialect === "users") {
    return members.length === 1 && typeof (body as { error?: unknown }).error === "string" ? null : `not { error }: ${text.slice(0, 200)}`;
  }
  const detail = (body as { detail?: unknown }).detail;
  if (typeof detail === "string") {
    // SimpleJWT adds its own `code` beside the detail.
    return members.every(([name, value]) => name === "detail" || (name === "code" && typeof value === "string"))
      ? null
      : `odd detail body: ${text}`;
  }
  const fieldLists =
    members.length > 0 &&
    members.every(([, value]) => Array.isArray(value) && value.length > 0 && value.every((m) => typeof m === "string"));
  return fieldLists ? null : `neither { detail } nor { field: [...] }: ${text.slice(0, 200)}`;
}

type Case = { route: CompatRoute; auth: AuthSpec; body: unknown; encoding: "json" | "form" | "multipart"; headers: Record<string, string> };

function authFor(route: CompatRoute): fc.Arbitrary<AuthSpec> {
  if (!route.auth) return fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: authSpec });
  const own: AuthSpec =
    route.auth === "usersToken"
      ? { scheme: "Token", token: { kind: "fixture", which: "usersToken" } }
      : { scheme: "Bearer", token: { kind: "fixture", which: "user" } };
  return fc.oneof({ weight: 3, arbitrary: fc.constant(own) }, { weight: 2, arbitrary: authSpec });
}

function caseFor(route: CompatRoute, headers: fc.Arbitrary<Record<string, string>> = fc.constant({})): fc.Arbitrary<Case> {
  return fc.record({
    route: fc.constant(route),
    auth: authFor(route),
    body: jsonBody(route.fields ?? {}, route.required),
    encoding: fc.constantFrom("json", "json", "form", "multipart"),
    headers,
  });
}

/** A form field's text, as a browser or an old client would send a value of any type. */
const formText = (value: unknown) => (typeof value === "string" ? value : (JSON.stringify(value) ?? ""));

async function run(testCase: Case, raw?: { data: Uint8Array; type: string | null }) {
  const fx = await fixtures();
  const { route } = testCase;
  const headers = buildHeaders({ "CF-Connecting-IP": freshIp(), ...testCase.headers, Authorization: resolveAuth(testCase.auth, fx) });
  let body: BodyInit | undefined;
  if (raw) {
    body = raw.data;
    if (raw.type !== null) headers.set("Content-Type", raw.type);
  } else if (route.method === "POST") {
    const value = resolveRefs(testCase.body, fx);
    const entries = value && typeof value === "object" && !Array.isArray(value) ? Object.entries(value) : [["value", value] as const];
    if (testCase.encoding === "form") body = new URLSearchParams(entries.map(([name, item]) => [name, formText(item)]));
    else if (testCase.encoding === "multipart") {
      const form = new FormData();
      for (const [name, item] of entries) form.append(name, formText(item));
      body = form;
    } else {
      body = JSON.stringify(value) ?? "null";
      headers.set("Content-Type", "application/json");
    }
  }
  const request = new Request(`http://api.test${route.path}`, {
    method: route.method,
    headers,
    body: route.method === "POST" ? body : undefined,
  });
  const seen = await observe(request);
  if (seen.response.status < 300 && route.spends) invalidateFixtures();
  return seen;
}

function expectContract(route: CompatRoute, result: Awaited<ReturnType<typeof run>>) {
  const { response, text, changes, kv } = result;
  const where = `${route.method} ${route.path} → ${response.status} ${text.slice(0, 200)}`;
  expect(compatViolation(route, response, text), where).toBeNull();
  // The old bodies do not name the core's code: a guessing route's refusal may have been a wrong guess.
  if (response.status >= 400) expect(forbiddenChanges(route.guesses ? "invalid_code" : undefined, changes, kv), where).toEqual([]);
}

beforeAll(async () => {
  await installChangeLog();
  await fixtures();
}, 60_000);

describe("every compatibility API route", () => {
  const RUNS = 6;
  it.each(ROUTES.map((route) => [`${route.method} ${route.path}`, route] as const))(
    "%s: fuzzed JSON and form bodies and tokens never answer 5xx, errors keep the old shape, refusals change nothing",
    async (_name, route) => {
      await fc.assert(
        fc.asyncProperty(caseFor(route), async (testCase) => expectContract(route, await run(testCase))),
        fuzzParameters(RUNS),
      );
    },
    fuzzTimeout(RUNS),
  );

  const RAW_RUNS = 40;
  it(
    "raw bodies (duplicate keys, invalid UTF-8, deep nesting, huge, truncated) with any Content-Type and hostile headers: never 5xx, old shapes",
    async () => {
      const posts = ROUTES.filter((route) => route.method === "POST");
      const arbitrary = fc.constantFrom(...posts).chain((route) =>
        fc.record({
          testCase: caseFor(route, fc.oneof(fc.constant({}), hostileHeaders)),
          raw: rawBody(Object.keys(route.fields ?? {})),
          type: contentType,
        }),
      );
      await fc.assert(
        fc.asyncProperty(arbitrary, async ({ testCase, raw, type }) => {
          const result = await run(testCase, { data: raw.data, type: type || null });
          expectContract(testCase.route, result);
          if (raw.data.length > BODY_LIMIT) expect(result.response.status, raw.label).toBe(413);
        }),
        fuzzParameters(RAW_RUNS),
      );
    },
    fuzzTimeout(RAW_RUNS),
  );
});

describe("regressions the properties found", () => {
  it("a register session_id the API did not issue (a lone surrogate) answers 400 in DRF shape, not 503 from an invalid KV key", async () => {
    for (const path of ["/api/verify-otp/", "/api/set-password/", "/api/user-info/", "/api/login/"]) {
      const response = await api("POST", path, { body: { session_id: "a\uD800b", code: "123456", password: "a long enough passphrase" } });
      const text = await response.text();
      expect({ status: response.status, text }, path).toEqual({
        status: 400,
        text: JSON.stringify({ session_id: ["Invalid or expired session."] }),
      });
    }
  });
});
