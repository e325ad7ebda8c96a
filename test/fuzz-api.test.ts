import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "../src/audit/events";
import {
  type AuthSpec,
  authSpec,
  BODY_LIMIT,
  buildHeaders,
  contentType,
  type FieldKind,
  hostileHeaders,
  jsonBody,
  oddString,
  rawBody,
  resolveAuth,
  resolveRefs,
  type TokenSpec,
  tokenSpec,
  wrongType,
} from "./fuzz-arbitraries";
import {
  api,
  apiViolation,
  type Fixtures,
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

// Property-based tests of the JSON API (issue #10): for every route, whatever the body, query,
// path, headers and token, (1) never a 5xx, (2) every error is `application/problem+json` with a
// code of the contract's table, and (3) a refused request changes nothing but what the contract
// lets a refusal write (see `forbiddenChanges`). `npm test` runs a few cases per property with a
// fixed seed; `npm run fuzz` runs many with a random one.

type Who = "user" | "admin";

type ApiRoute = {
  method: string;
  path: string;
  /** Whose token reaches the handler. */
  auth?: Who;
  fields?: Record<string, FieldKind>;
  /** Fields the near-valid bodies always carry. */
  required?: string[];
  query?: Record<string, QueryKind>;
  /** A success may revoke, delete, demote or rotate a fixture: sign them in again. */
  spends?: boolean;
};

type QueryKind = "limit" | "cursor" | "text" | "phone" | "type" | "id" | "time" | "grouping";

/** Every route of the JSON API (checked against /openapi.json below). */
const ROUTES: ApiRoute[] = [
  { method: "GET", path: "/health" },
  // Providers' callbacks: in the test config no route names a receipt-taking provider, so every one is refused.
  { method: "POST", path: "/v1/hooks/delivery/{provider}", fields: { MessageSid: "text", MessageStatus: "text" } },
  {
    method: "GET",
    path: "/v1/hooks/delivery/whatsapp_cloud",
    query: { "hub.mode": "text", "hub.verify_token": "text", "hub.challenge": "text" },
  },
  { method: "GET", path: "/v1" },
  { method: "GET", path: "/openapi.json" },
  { method: "GET", path: "/docs" },
  { method: "GET", path: "/.well-known/jwks.json" },
  {
    method: "POST",
    path: "/v1/auth/otp",
    fields: { phone: "phone", purpose: "purpose", region: "region", channel: "channel", locale: "locale", turnstile_token: "text" },
    required: ["phone"],
  },
  {
    method: "POST",
    path: "/v1/auth/otp/verify",
    fields: { phone: "phone", code: "code", region: "region", invite_code: "invite" },
    required: ["phone", "code"],
  },
  { method: "POST", path: "/v1/auth/token", fields: { refresh_token: "refresh" }, required: ["refresh_token"], spends: true },
  { method: "POST", path: "/v1/auth/logout", auth: "user", fields: { refresh_token: "refresh", all: "bool" }, spends: true },
  {
    method: "POST",
    path: "/v1/auth/password/login",
    fields: { phone: "phone", password: "password", region: "region" },
    required: ["phone", "password"],
  },
  {
    method: "POST",
    path: "/v1/auth/password/reset",
    fields: { phone: "phone", code: "code", new_password: "password", region: "region" },
    required: ["phone", "code", "new_password"],
    spends: true,
  },
  { method: "GET", path: "/v1/me", auth: "user" },
  { method: "PATCH", path: "/v1/me", auth: "user", fields: { first_name: "name", last_name: "name", email: "email" } },
  { method: "DELETE", path: "/v1/me", auth: "user", fields: { current_password: "password" }, spends: true },
  {
    method: "POST",
    path: "/v1/me/phone",
    auth: "user",
    fields: { phone: "phone", code: "code", region: "region", current_password: "password" },
    required: ["phone", "code"],
    spends: true,
  },
  {
    method: "PUT",
    path: "/v1/me/password",
    auth: "user",
    fields: { new_password: "password", current_password: "password" },
    required: ["new_password"],
    spends: true,
  },
  { method: "GET", path: "/v1/me/sessions", auth: "user" },
  { method: "DELETE", path: "/v1/me/sessions/{id}", auth: "user", spends: true },
  { method: "POST", path: "/v1/me/invite", auth: "user", fields: { invite_code: "invite" }, required: ["invite_code"] },
  { method: "GET", path: "/v1/me/referrals", auth: "user", query: { limit: "limit", cursor: "cursor" } },
  { method: "POST", path: "/v1/me/passkeys/options", auth: "user", fields: { current_password: "password" } },
  {
    method: "POST",
    path: "/v1/me/passkeys",
    auth: "user",
    fields: { response: "text", name: "name", current_password: "password" },
    required: ["response"],
  },
  { method: "GET", path: "/v1/me/passkeys", auth: "user" },
  { method: "PATCH", path: "/v1/me/passkeys/{id}", auth: "user", fields: { name: "name" }, required: ["name"] },
  { method: "DELETE", path: "/v1/me/passkeys/{id}", auth: "user" },
  { method: "POST", path: "/v1/auth/passkey/options" },
  { method: "POST", path: "/v1/auth/passkey/verify", fields: { response: "text" }, required: ["response"] },
  { method: "GET", path: "/v1/admin/users", auth: "admin", query: { q: "phone", limit: "limit", cursor: "cursor" } },
  { method: "GET", path: "/v1/admin/users/{id}", auth: "admin" },
  { method: "PATCH", path: "/v1/admin/users/{id}", auth: "admin", fields: { is_active: "bool", role: "role" }, spends: true },
  {
    method: "GET",
    path: "/v1/admin/events",
    auth: "admin",
    query: { type: "type", phone: "phone", user_id: "id", limit: "limit", cursor: "cursor" },
  },
  { method: "GET", path: "/v1/admin/stats", auth: "admin" },
  // Webhooks: a success may add or change an endpoint (not a fixture), so nothing is spent.
  { method: "POST", path: "/v1/admin/webhooks", auth: "admin", fields: { url: "text", description: "name" }, required: ["url"] },
  { method: "GET", path: "/v1/admin/webhooks", auth: "admin" },
  { method: "PATCH", path: "/v1/admin/webhooks/{id}", auth: "admin", fields: { enabled: "bool", url: "text" } },
  { method: "DELETE", path: "/v1/admin/webhooks/{id}", auth: "admin" },
  { method: "POST", path: "/v1/admin/webhooks/{id}/rotate-secret", auth: "admin" },
  { method: "GET", path: "/v1/admin/webhooks/{id}/deliveries", auth: "admin", query: { limit: "limit", cursor: "cursor" } },
  { method: "POST", path: "/v1/admin/webhooks/deliveries/{id}/replay", auth: "admin" },
  // Fraud blocks: a created block is lifted by the test's own cleanup; refusals change nothing.
  { method: "GET", path: "/v1/admin/fraud/blocks", auth: "admin", query: { limit: "limit", cursor: "cursor" } },
  { method: "GET", path: "/v1/admin/analytics", auth: "admin", query: { from: "time", to: "time", group_by: "grouping", limit: "limit" } },
  { method: "POST", path: "/v1/admin/fraud/blocks", auth: "admin", fields: { prefix: "text", country: "region", reason: "name" } },
  { method: "DELETE", path: "/v1/admin/fraud/blocks/{id}", auth: "admin" },
];

const hasBody = (method: string) => method !== "GET" && method !== "HEAD";

// --- query strings and path ids -------------------------------------------------------------

/** Percent-encodes anything, lone surrogates included (as the bytes a browser would not send). */
function encode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return [...new TextEncoder().encode(text)].map((byte) => `%${byte.toString(16).padStart(2, "0")}`).join("");
  }
}

const RAW_ESCAPES = ["%", "%ZZ", "%ED%A0%80", "%C0%AF", "%00", "%FF%FE", "%2F..%2F", "%E0%A4", "+", "%20", "\u00e9"];

const cursorLike = fc.oneof(
  fc.tuple(fc.nat(), fc.uuid()).map(([at, id]) => btoa(`${at}.${id}`).replace(/=+$/, "")),
  fc.string({ maxLength: 250 }).map((text) => btoa(unescape(encodeURIComponent(text)))),
);

const queryValue: Record<QueryKind, fc.Arbitrary<string>> = {
  limit: fc.oneof(
    fc.integer({ min: -5, max: 120 }).map(String),
    fc.constantFrom("", "1e2", "0x10", "NaN", "Infinity", " 5", "5.5", "-0", "99999999999999999999"),
  ),
  cursor: cursorLike,
  text: fc.string({ maxLength: 70 }),
  phone: fc.constantFrom("+37529", "37529", "+", "29", "K7M"),
  type: fc.constantFrom(...EVENT_TYPES, "code_sent ", "CODE_SENT", ""),
  id: fc.uuid(),
  time: fc.oneof(
    fc.date({ min: new Date(0), max: new Date(Date.UTC(2100, 0, 1)), noInvalidDate: true }).map((date) => date.toISOString()),
    fc.constantFrom("2026-12-01", "2026-12-01T00:00:00+03:00", "yesterday", "0", "2026-13-01T00:00:00Z", ""),
  ),
  grouping: fc.constantFrom("day", "hour", "country", "prefix", "channel", "provider", "week", "DAY", ""),
};

type QueryPart = { name: string; value: string; raw?: string };

function queryArbitrary(query: Record<string, QueryKind> | undefined): fc.Arbitrary<QueryPart[]> {
  const names = Object.keys(query ?? {});
  const known =
    names.length === 0
      ? fc.constant<QueryPart[]>([])
      : fc.array(
          fc
            .constantFrom(...names)
            .chain((name) =>
              fc
                .oneof({ weight: 3, arbitrary: queryValue[query?.[name] as QueryKind] }, { weight: 2, arbitrary: oddString })
                .map((value) => ({ name, value })),
            ),
          { maxLength: 5 },
        );
  const odd = fc.array(
    fc.oneof(
      fc.record({ name: fc.string({ maxLength: 8 }), value: oddString }),
      fc.record({ name: fc.constantFrom(...(names.length ? names : ["x"])), value: fc.constant(""), raw: fc.constantFrom(...RAW_ESCAPES) }),
    ),
    { maxLength: 2 },
  );
  return fc.tuple(known, odd).map(([a, b]) => [...a, ...b]);
}

function queryString(parts: QueryPart[]): string {
  if (parts.length === 0) return "";
  return `?${parts.map((part) => `${encode(part.name)}=${part.raw ?? encode(part.value)}`).join("&")}`;
}

type IdSpec = { ref: "user" | "admin" | "inviter" | "userSession" | "adminSession" } | { raw: string } | { text: string };

const idSpec: fc.Arbitrary<IdSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("user", "admin", "inviter", "userSession", "adminSession").map((ref) => ({ ref }) as IdSpec) },
  { weight: 2, arbitrary: oddString.filter((text) => text.length > 0).map((text) => ({ text }) as IdSpec) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom(...RAW_ESCAPES, "..", ".", "%2e%2e", "a%2Fb"),
        fc.integer({ min: 65, max: 12_000 }).map((n) => "i".repeat(n)),
      )
      .map((raw) => ({ raw }) as IdSpec),
  },
);

function resolveId(spec: IdSpec, fx: Fixtures): string {
  if ("raw" in spec) return spec.raw;
  if ("text" in spec) return encode(spec.text);
  switch (spec.ref) {
    case "user":
      return fx.user.id;
    case "admin":
      return fx.admin.id;
    case "inviter":
      return fx.inviter.id;
    case "userSession":
      return fx.user.sid;
    case "adminSession":
      return fx.admin.sid;
  }
}

// --- one fuzzed request ---------------------------------------------------------------------

type Case = {
  route: ApiRoute;
  auth: AuthSpec;
  body: { json: unknown } | null;
  query: QueryPart[];
  id: IdSpec;
  headers: Record<string, string>;
};

/** Mostly the route's proper token (to reach the handler), otherwise anything. */
function authFor(route: ApiRoute): fc.Arbitrary<AuthSpec> {
  if (!route.auth) return authSpec;
  const own: fc.Arbitrary<AuthSpec> = fc.constant({ scheme: "Bearer", token: { kind: "fixture", which: route.auth } });
  return fc.oneof({ weight: 3, arbitrary: own }, { weight: 2, arbitrary: authSpec });
}

function caseFor(route: ApiRoute, headers: fc.Arbitrary<Record<string, string>> = fc.constant({})): fc.Arbitrary<Case> {
  const body = hasBody(route.method)
    ? fc.oneof(
        { weight: 9, arbitrary: jsonBody(route.fields ?? {}, route.required).map((json) => ({ json })) },
        { weight: 1, arbitrary: fc.constant(null) },
      )
    : fc.constant(null);
  return fc.record({ route: fc.constant(route), auth: authFor(route), body, query: queryArbitrary(route.query), id: idSpec, headers });
}

/** Sends one case; `contentType: null` sends no Content-Type at all. */
async function run(testCase: Case, options: { contentType?: string | null; rawBody?: BodyInit } = {}) {
  const fx = await fixtures();
  const { route } = testCase;
  const path = route.path.replace("{id}", resolveId(testCase.id, fx)) + queryString(testCase.query);
  const headers = buildHeaders({ "CF-Connecting-IP": freshIp(), ...testCase.headers, Authorization: resolveAuth(testCase.auth, fx) });
  let body: BodyInit | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (testCase.body) body = JSON.stringify(resolveRefs(testCase.body.json, fx)) ?? "null";
  const type = options.contentType === undefined ? "application/json" : options.contentType;
  if (body !== undefined && type !== null && !headers.has("Content-Type")) headers.set("Content-Type", type);
  const request = new Request(`http://api.test${path}`, { method: route.method, headers, body: hasBody(route.method) ? body : undefined });
  const seen = await observe(request);
  if (route.spends && seen.response.status < 300) invalidateFixtures();
  return { ...seen, request, path };
}

/** The property: no 5xx, problem+json errors, and a refusal writes only what refusals may write. */
function expectContract(result: Awaited<ReturnType<typeof run>>, method: string) {
  const { response, text, changes, kv } = result;
  const where = `${method} ${result.path.slice(0, 200)} → ${response.status}`;
  expect(apiViolation(method, response, text), where).toBeNull();
  if (response.status >= 400)
    expect(
      forbiddenChanges(problemCode(text), changes, kv),
      `${where} ${text.slice(0, 200)} ${JSON.stringify(forbiddenChanges(problemCode(text), changes, kv))}`,
    ).toEqual([]);
}

beforeAll(async () => {
  await installChangeLog();
  await fixtures();
}, 60_000);

describe("every JSON API route", () => {
  it("the route table covers every path and method of /openapi.json", async () => {
    const { response, text } = await observe(new Request("http://api.test/openapi.json"));
    expect(response.status).toBe(200);
    // The compatibility APIs and the web pages are in the document too; fuzz-compat and fuzz-web cover them.
    const elsewhere = /^(Compatibility: |Web pages$)/;
    const documented = Object.entries((JSON.parse(text) as { paths: Record<string, Record<string, { tags?: string[] }>> }).paths).flatMap(
      ([path, item]) =>
        Object.entries(item)
          .filter(([, operation]) => !elsewhere.test(operation.tags?.[0] ?? ""))
          .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    const covered = new Set(ROUTES.map((route) => `${route.method} ${route.path}`));
    expect(documented.filter((route) => !covered.has(route))).toEqual([]);
  });

  const RUNS = 8;
  it.each(ROUTES.map((route) => [`${route.method} ${route.path}`, route] as const))(
    "%s: fuzzed bodies, queries, ids and tokens never answer 5xx, always problem+json, and refusals change nothing",
    async (_name, route) => {
      await fc.assert(
        fc.asyncProperty(caseFor(route), async (testCase) => {
          expectContract(await run(testCase), route.method);
        }),
        fuzzParameters(RUNS),
      );
    },
    fuzzTimeout(RUNS),
  );
});

// --- raw bodies -----------------------------------------------------------------------------

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;
// Providers' callbacks are read raw (form or JSON, for their signatures), not as the JSON API's bodies.
const BODY_ROUTES = ROUTES.filter((route) => hasBody(route.method) && !route.path.startsWith("/v1/hooks/"));

describe("raw bodies on every route that takes one", () => {
  const RUNS = 60;
  it(
    "duplicate keys, invalid UTF-8, deep nesting, huge and truncated bodies, any Content-Type: 413 over 16 KiB, 415, 400, never 5xx",
    async () => {
      const arbitrary = fc.constantFrom(...BODY_ROUTES).chain((route) =>
        fc.record({
          testCase: caseFor(route),
          raw: rawBody(Object.keys(route.fields ?? {})),
          type: contentType,
          streamed: fc.boolean(),
        }),
      );
      await fc.assert(
        fc.asyncProperty(arbitrary, async ({ testCase, raw, type, streamed }) => {
          const body: BodyInit = streamed
            ? new ReadableStream<Uint8Array>({
                start(controller) {
                  for (let at = 0; at < raw.data.length; at += 4096) controller.enqueue(raw.data.slice(at, at + 4096));
                  controller.close();
                },
              })
            : raw.data;
          const result = await run(testCase, { rawBody: body, contentType: type || null });
          const { response, text } = result;
          expectContract(result, testCase.route.method);
          const where = `${raw.label} as ${JSON.stringify(type)} → ${response.status} ${text.slice(0, 200)}`;
          // Contract order: 413 → 415 → malformed_request → the route (auth, validation, …).
          const json = JSON_TYPE.test(type.split(";")[0]?.trim() ?? "");
          if (raw.data.length > BODY_LIMIT) expect(problemCode(text), where).toBe("payload_too_large");
          else if (raw.data.length > 0 && !json) expect(problemCode(text), where).toBe("unsupported_media_type");
          // However deep, parsed or refused cleanly: a deep array as the body or as a field's value is
          // 400 where the route reads a body (401 first without a token; 415 for a JSON type with
          // parameters the router refuses). Deep nesting under an unknown key, or a body on a route
          // that reads none, is ignored.
          else if (testCase.route.fields && /^nested .*\((array|field)\)$/.test(raw.label)) {
            expect([400, 401, 415], where).toContain(response.status);
          }
        }),
        fuzzParameters(RUNS),
      );
    },
    fuzzTimeout(RUNS),
  );
});

// --- hostile headers and tokens -------------------------------------------------------------

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

describe("hostile headers and tokens", () => {
  const RUNS = 60;
  it(
    "huge or malformed Authorization, X-Request-Id, X-D1-Bookmark, CF-Connecting-IP, Accept-Language, Cookie: never 5xx; X-Request-Id echoed only when well-formed",
    async () => {
      const arbitrary = fc.constantFrom(...ROUTES).chain((route) => caseFor(route, hostileHeaders));
      await fc.assert(
        fc.asyncProperty(arbitrary, async (testCase) => {
          const result = await run(testCase);
          expectContract(result, testCase.route.method);
          const sent = result.request.headers.get("X-Request-Id");
          const answered = result.response.headers.get("X-Request-Id") ?? "";
          if (sent !== null && REQUEST_ID.test(sent)) expect(answered).toBe(sent);
          else expect(answered).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        }),
        fuzzParameters(RUNS),
      );
    },
    fuzzTimeout(RUNS),
  );

  const AUTHED = ROUTES.filter((route) => route.auth);
  /** Tokens that must never authenticate: forged, tampered, garbage, a refresh token, another audience's. */
  const hostileToken: fc.Arbitrary<TokenSpec> = tokenSpec.filter(
    (spec) => spec.kind !== "fixture" || spec.which === "refresh" || spec.which === "usersToken",
  );
  const TOKEN_RUNS = 40;
  it(
    "every authenticated route answers 401 unauthorized to a forged, tampered, garbage, refresh or foreign-audience token",
    async () => {
      const arbitrary = fc.record({
        route: fc.constantFrom(...AUTHED),
        token: hostileToken,
        scheme: fc.constantFrom("Bearer", "bearer", "Bearer  "),
      });
      await fc.assert(
        fc.asyncProperty(arbitrary, async ({ route, token, scheme }) => {
          const fx = await fixtures();
          let resolved = token;
          if (token.kind === "tampered") {
            // A change inside a segment (the last character of a base64url segment may carry only padding bits).
            const genuine = fx[token.which].access;
            const inner = [...genuine].flatMap((char, at) =>
              char !== "." && genuine[at + 1] !== "." && at < genuine.length - 1 ? [at] : [],
            );
            resolved = { ...token, at: inner[token.at % inner.length] ?? 0 };
          }
          const body = hasBody(route.method) ? { json: route.path === "/v1/auth/logout" ? { all: true } : {} } : null;
          const result = await run({ route, auth: { scheme, token: resolved }, body, query: [], id: { ref: "userSession" }, headers: {} });
          expectContract(result, route.method);
          expect(problemCode(result.text), `${route.method} ${route.path} ${result.text.slice(0, 200)}`).toBe("unauthorized");
        }),
        fuzzParameters(TOKEN_RUNS),
      );
    },
    fuzzTimeout(TOKEN_RUNS),
  );
});

// --- unknown paths and methods --------------------------------------------------------------

describe("unknown paths and wrong methods", () => {
  const RUNS = 40;
  it(
    "answer 404 or 405 problem+json (405 with an Allow that does not list the method), never 5xx",
    async () => {
      const segment = fc.oneof(
        fc.constantFrom("v1", "auth", "otp", "me", "admin", "users", "sessions", "..", ".", "", "%2F", "%ZZ", "%00", "openapi.json"),
        oddString.map(encode),
      );
      const path = fc.oneof(
        fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => `/${parts.join("/")}`),
        fc
          .constantFrom(...ROUTES.map((route) => route.path.replace("{id}", "x")))
          .chain((known) => fc.constantFrom(known, `${known}/`, `${known}//`, known.toUpperCase())),
      );
      const method = fc.constantFrom("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "FOO", "get");
      await fc.assert(
        fc.asyncProperty(path, method, fc.option(wrongType, { nil: undefined }), async (target, verb, json) => {
          const upper = verb.toUpperCase();
          // Only paths of no route (or a route of another method): skip the ones a route serves.
          const served = ROUTES.some(
            (route) => route.method === upper && new RegExp(`^${route.path.replace("{id}", "[^/]+")}$`).test(target),
          );
          fc.pre(!served && !(upper === "HEAD" && ROUTES.some((route) => route.method === "GET" && route.path === target)));
          const headers = buildHeaders({
            "CF-Connecting-IP": freshIp(),
            "Content-Type": json === undefined ? undefined : "application/json",
          });
          const body = hasBody(upper) && json !== undefined ? JSON.stringify(json) : undefined;
          let request: Request;
          try {
            request = new Request(`http://api.test${target}`, { method: verb, headers, body });
          } catch {
            return fc.pre(false);
          }
          const { response, text, changes, kv } = await observe(request);
          const where = `${verb} ${target} → ${response.status} ${text.slice(0, 200)}`;
          // Web pages (mounted at "/"), the compatibility APIs and CORS preflights answer on their
          // own terms: an HTML page, an old JSON shape, or the app's own 404/405 problem document.
          if (isPage(new URL(request.url).pathname) || upper === "OPTIONS") {
            expect(response.status, where).toBeLessThan(500);
            if (response.status >= 400)
              expect(response.headers.get("Content-Type") ?? "", where).toMatch(/^(application\/(problem\+)?json|text\/html)/);
            return;
          }
          expect(apiViolation(upper, response, text), where).toBeNull();
          expect([404, 405], where).toContain(response.status);
          if (response.status === 405) expect((response.headers.get("Allow") ?? "").split(", "), where).not.toContain(upper);
          expect(forbiddenChanges(problemCode(text), changes, kv), where).toEqual([]);
        }),
        fuzzParameters(RUNS),
      );
    },
    fuzzTimeout(RUNS),
  );
});

/** The server-rendered pages and the compatibility APIs have their own error pages and shapes. */
function isPage(path: string): boolean {
  return /^\/(|password|verify|resend|lang|logout|profile(\/.*)?)$/.test(path) || path.startsWith("/users/") || path.startsWith("/api/");
}

// --- what the properties found --------------------------------------------------------------

describe("regressions the properties found", () => {
  it("a JSON media type with empty parameters (`application/json;`) answers 415 problem+json, not 500", async () => {
    const fx = await fixtures();
    for (const type of ["application/json;", "application/json;;;", "application/json; charset"]) {
      for (const [method, path, body, token] of [
        ["PUT", "/v1/me/password", { new_password: "a long enough passphrase here" }, fx.user.access],
        ["PATCH", "/v1/me", { first_name: "Ada" }, fx.user.access],
        ["POST", "/v1/auth/otp", { phone: fx.user.phone }, undefined],
      ] as const) {
        const response = await api(method, path, { body, token, headers: { "Content-Type": type } });
        const text = await response.text();
        expect(apiViolation(method, response, text), `${type} ${method} ${path}`).toBeNull();
        expect(problemCode(text), `${type} ${method} ${path}`).toBe("unsupported_media_type");
      }
    }
  });
});
