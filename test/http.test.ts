import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { call, expectProblem, freshIp, freshPhone, type Problem, signIn } from "./helpers";
import { signingJwk } from "./token-helpers";

afterEach(() => {
  vi.restoreAllMocks();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Calls the Worker with an env of our own (a variant config, or bindings that fail). */
function callWith(variant: object, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) {
  const request = new Request(`http://api.test${path}`, {
    method,
    headers: { "CF-Connecting-IP": freshIp(), ...init.headers },
    body: init.body,
  });
  return worker.fetch(request, variant as typeof env, createExecutionContext());
}

function expectSecurityHeaders(response: Response) {
  expect(response.headers.get("X-Content-Type-Options")).toBe("nosniff");
  expect(response.headers.get("Strict-Transport-Security")).toMatch(/max-age=\d+/);
  expect(response.headers.get("Referrer-Policy")).toBe("no-referrer");
  expect(response.headers.get("X-Request-Id")).toBeTruthy();
}

/** A problem document: the RFC 9457 members plus `code`, and nothing that looks like internals. */
function expectCleanProblem(body: Problem) {
  expect(body).toMatchObject({ type: expect.any(String), title: expect.any(String), status: expect.any(Number), code: expect.any(String) });
  expect(typeof body.detail).toBe("string");
  const text = JSON.stringify(body);
  expect(text).not.toMatch(/stack|\.ts:\d+|\.js:\d+|\n\s+at /i);
  expect(body).not.toHaveProperty("stack");
}

type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  minLength?: number;
  maxLength?: number;
  pattern?: string;
};
type DocumentedOperation = {
  tags?: string[];
  description?: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string }[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  responses: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
};
type OpenApiDocument = {
  paths: Record<string, Record<string, DocumentedOperation>>;
  components?: { schemas?: Record<string, JsonSchema>; securitySchemes?: Record<string, unknown> };
};

async function openApiDocument(): Promise<OpenApiDocument> {
  const response = await call("GET", "/openapi.json");
  expect(response.status).toBe(200);
  return response.json();
}

/** Does `value` conform to `schema`? The subset of JSON Schema the compatibility bodies use. */
function conforms(schema: JsonSchema, value: unknown): boolean {
  const types = [schema.type ?? []].flat();
  if (value === null) return types.includes("null");
  if (types.includes("object")) {
    if (typeof value !== "object") return false;
    const object = value as Record<string, unknown>;
    if (!(schema.required ?? []).every((name) => name in object)) return false;
    return Object.entries(schema.properties ?? {}).every(([name, property]) => !(name in object) || conforms(property, object[name]));
  }
  if (types.includes("string")) {
    if (typeof value !== "string") return false;
    const length = [...value].length;
    if (length < (schema.minLength ?? 0) || length > (schema.maxLength ?? Number.POSITIVE_INFINITY)) return false;
    return schema.pattern === undefined || new RegExp(schema.pattern, "u").test(value);
  }
  return true;
}

describe("error model", () => {
  it("answers not_found as problem+json for an unknown path", async () => {
    for (const path of ["/nope", "/v1/nope", "/v1/me/nope/deeper", "/v2/auth/otp"]) {
      const response = await call("GET", path);
      const body = await expectProblem(response, 404, "not_found");
      expectCleanProblem(body);
      expect(body.type).toBe("about:blank");
      expect(body.title).toBeTruthy();
      expectSecurityHeaders(response);
    }
  });

  it.each([
    ["PUT", "/v1/auth/otp", "POST"],
    ["GET", "/v1/auth/otp", "POST"],
    ["GET", "/v1/auth/token", "POST"],
    ["DELETE", "/v1/auth/logout", "POST"],
    ["POST", "/v1/me", "GET"],
    ["PUT", "/v1/me/sessions", "GET"],
    ["GET", "/v1/me/sessions/abc", "DELETE"],
    ["POST", "/health", "GET"],
    ["DELETE", "/.well-known/jwks.json", "GET"],
  ])("answers method_not_allowed with Allow for %s %s", async (method, path, allowed) => {
    const response = await call(method, path);
    const body = await expectProblem(response, 405, "method_not_allowed");
    expectCleanProblem(body);
    const allow = (response.headers.get("Allow") ?? "").split(",").map((m) => m.trim());
    expect(allow).toContain(allowed);
    expect(allow).not.toContain(method);
    expectSecurityHeaders(response);
  });

  it("never answers 405 for a method the Allow header itself lists (trailing slash, look-alike path)", async () => {
    // Either the route serves the path or the path is unknown (404); a 405 saying
    // "GET is not allowed here. Allowed: GET" is self-contradictory (RFC 9110 §15.5.6).
    const contradictions: string[] = [];
    for (const [method, path] of [
      ["GET", "/v1/me/"],
      ["GET", "/health/"],
      ["POST", "/v1/auth/otp/"],
      // An unescaped "." in a route pattern must not make a look-alike path "known".
      ["GET", "/Xwell-known/jwksXjson"],
    ] as const) {
      const response = await call(method, path, method === "POST" ? { body: { phone: freshPhone() } } : {});
      const allow = (response.headers.get("Allow") ?? "").split(",").map((m) => m.trim());
      if (response.status === 405 && allow.includes(method)) contradictions.push(`${method} ${path} → 405, Allow: ${allow.join(", ")}`);
      else expect([200, 401, 404], `${method} ${path}`).toContain(response.status);
    }
    expect(contradictions).toEqual([]);
  });

  it("lists every method a path serves in Allow", async () => {
    const response = await call("PUT", "/v1/me");
    await expectProblem(response, 405, "method_not_allowed");
    const allow = (response.headers.get("Allow") ?? "").split(",").map((m) => m.trim());
    expect(allow).toEqual(expect.arrayContaining(["GET", "PATCH", "DELETE"]));
  });

  it("answers malformed_request for a body that is not valid JSON", async () => {
    for (const body of ["{", '{"phone": "+375291234567",}', "{phone: 1}", "nul", '"unterminated']) {
      const response = await call("POST", "/v1/auth/otp", { body });
      expectCleanProblem(await expectProblem(response, 400, "malformed_request"));
    }
    await expectProblem(await call("POST", "/v1/auth/token", { body: "{" }), 400, "malformed_request");
  });

  it("answers unsupported_media_type for a body that is not application/json", async () => {
    const body = JSON.stringify({ phone: freshPhone() });
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"]) {
      const response = await call("POST", "/v1/auth/otp", { body, headers: { "Content-Type": type } });
      expectCleanProblem(await expectProblem(response, 415, "unsupported_media_type"));
    }
  });

  it("accepts application/json with a charset parameter", async () => {
    const phone = freshPhone();
    const response = await call("POST", "/v1/auth/otp", {
      body: { phone },
      headers: { "Content-Type": "application/json; charset=utf-8" },
    });
    expect(response.status).toBe(200);
  });

  it("answers payload_too_large for a body over 16 KiB, before parsing or media-type checks", async () => {
    const big = JSON.stringify({ phone: freshPhone(), padding: "x".repeat(17 * 1024) });
    expectCleanProblem(await expectProblem(await call("POST", "/v1/auth/otp", { body: big }), 413, "payload_too_large"));
    // Not JSON at all and the wrong type: size is still checked first.
    const junk = "{".repeat(16 * 1024 + 1);
    await expectProblem(await call("POST", "/v1/auth/otp", { body: junk }), 413, "payload_too_large");
    await expectProblem(
      await call("POST", "/v1/auth/otp", { body: junk, headers: { "Content-Type": "text/plain" } }),
      413,
      "payload_too_large",
    );
    await expectProblem(await call("POST", "/v1/auth/token", { body: big }), 413, "payload_too_large");
  });

  it("answers payload_too_large for an oversized streamed body without Content-Length", async () => {
    const chunk = new TextEncoder().encode("x".repeat(4096));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 6) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const request = new Request("http://api.test/v1/auth/otp", {
      method: "POST",
      headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
      body: stream,
    });
    expect(request.headers.get("Content-Length")).toBeNull();
    await expectProblem(await worker.fetch(request, env, createExecutionContext()), 413, "payload_too_large");
  });

  it("accepts a body of exactly 16 KiB", async () => {
    const phone = freshPhone();
    const base = JSON.stringify({ phone, padding: "" });
    const body = JSON.stringify({ phone, padding: "x".repeat(16 * 1024 - base.length) });
    expect(body.length).toBe(16 * 1024);
    expect((await call("POST", "/v1/auth/otp", { body })).status).toBe(200);
  });

  it("answers validation_failed for a JSON array, null, a string or a number as the body", async () => {
    for (const body of ["[]", `[{"phone":"${freshPhone()}"}]`, "null", '"+375291234567"', "42", "true"]) {
      const response = await call("POST", "/v1/auth/otp", { body });
      const problem = await expectProblem(response, 400, "validation_failed");
      expectCleanProblem(problem);
      expect(Array.isArray(problem.errors)).toBe(true);
    }
    await expectProblem(await call("POST", "/v1/auth/token", { body: "null" }), 400, "validation_failed");
    await expectProblem(await call("POST", "/v1/auth/logout", { body: "[]" }), 400, "validation_failed");
  });

  it("answers validation_failed with errors naming the field", async () => {
    const problem = await expectProblem(await call("POST", "/v1/auth/otp", { body: { phone: 12345 } }), 400, "validation_failed");
    expect(problem.errors).toEqual(expect.arrayContaining([{ path: "phone", message: expect.any(String) }]));
  });

  it("answers an unexpected exception as internal_error without internals, and logs it with the request id", async () => {
    const secret = "SECRET-INTERNAL-DETAIL-4711";
    // A SQL error is our own bug (not a failing dependency): 500, never 503.
    const failing = () => {
      throw new Error(`D1_ERROR: SQLITE_ERROR: kaboom ${secret}`);
    };
    const broken = {
      ...env,
      DB: {
        prepare: failing,
        batch: failing,
        exec: failing,
        dump: failing,
        withSession: () => ({ prepare: failing, batch: failing, getBookmark: () => null }),
      },
    };
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const tokens = await signIn();
    const response = await callWith(broken, "GET", "/v1/me", {
      headers: { Authorization: `Bearer ${tokens.access_token}`, "X-Request-Id": "trace-500-test" },
    });
    const text = await response.clone().text();
    const body = await expectProblem(response, 500, "internal_error");
    expectCleanProblem(body);
    expect(text).not.toContain(secret);
    expect(text).not.toContain("kaboom");
    expect(response.headers.get("X-Request-Id")).toBe("trace-500-test");
    expectSecurityHeaders(response);
    expect(logged.mock.calls.flat().join("\n")).toContain("trace-500-test");
  });

  it("answers a failing storage dependency as service_unavailable with Retry-After", async () => {
    const failing = () => {
      throw new Error("D1_ERROR: Network connection lost.");
    };
    const broken = {
      ...env,
      DB: {
        prepare: failing,
        batch: failing,
        exec: failing,
        dump: failing,
        withSession: () => ({ prepare: failing, batch: failing, getBookmark: () => null }),
      },
    };
    vi.spyOn(console, "error").mockImplementation(() => {});
    const tokens = await signIn();
    const response = await callWith(broken, "GET", "/v1/me", { headers: { Authorization: `Bearer ${tokens.access_token}` } });
    expectCleanProblem(await expectProblem(response, 503, "service_unavailable"));
    expect(Number(response.headers.get("Retry-After"))).toBeGreaterThan(0);
  });
});

describe("headers on every response", () => {
  it("generates an X-Request-Id when none is sent", async () => {
    const a = await call("GET", "/health");
    const b = await call("GET", "/health");
    expect(a.headers.get("X-Request-Id")).toMatch(UUID);
    expect(a.headers.get("X-Request-Id")).not.toBe(b.headers.get("X-Request-Id"));
  });

  it("echoes a valid incoming X-Request-Id on success and error responses", async () => {
    for (const [method, path] of [
      ["GET", "/health"],
      ["GET", "/nope"],
      ["PUT", "/v1/auth/otp"],
      ["GET", "/v1/me"],
    ] as const) {
      const response = await call(method, path, { headers: { "X-Request-Id": "req-0123_abc.DEF:9" } });
      expect(response.headers.get("X-Request-Id")).toBe("req-0123_abc.DEF:9");
    }
  });

  it("replaces an invalid incoming X-Request-Id", async () => {
    for (const incoming of ["r".repeat(300), "has spaces in it", "bad\tid", "<script>", "id;drop", "a/b"]) {
      const response = await call("GET", "/health", { headers: { "X-Request-Id": incoming } });
      const id = response.headers.get("X-Request-Id");
      expect(id).not.toBe(incoming);
      expect(id).toMatch(UUID);
    }
  });

  it("sets nosniff, HSTS and no-referrer on successes, errors, token responses and docs", async () => {
    const tokens = await signIn();
    const responses = [
      await call("GET", "/health"),
      await call("GET", "/v1"),
      await call("GET", "/openapi.json"),
      await call("GET", "/docs"),
      await call("GET", "/.well-known/jwks.json"),
      await call("GET", "/v1/me", { token: tokens.access_token }),
      await call("POST", "/v1/auth/token", { body: { refresh_token: tokens.refresh_token } }),
      await call("GET", "/v1/me"),
      await call("GET", "/nope"),
      await call("PUT", "/v1/auth/otp"),
      await call("POST", "/v1/auth/otp", { body: "{" }),
      await call("POST", "/v1/auth/otp", { body: "x".repeat(17 * 1024) }),
      await call("POST", "/v1/auth/otp", { body: "x", headers: { "Content-Type": "text/plain" } }),
    ];
    for (const response of responses) expectSecurityHeaders(response);
  });
});

describe("service endpoints", () => {
  it("GET /health answers ok with checks and version", async () => {
    const response = await call("GET", "/health");
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
    const body = (await response.json()) as { version: string };
    expect(body).toEqual({ status: "ok", checks: { db: "ok", kv: "ok" }, version: expect.any(String) });
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("GET /health answers service_unavailable with checks when KV fails", async () => {
    const failing = () => Promise.reject(new Error("KV GET failed: storage unavailable"));
    const broken = { ...env, KV: { get: failing, put: failing, delete: failing, list: failing, getWithMetadata: failing } };
    vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await callWith(broken, "GET", "/health");
    const body = await expectProblem(response, 503, "service_unavailable");
    expect(body.checks).toEqual({ db: "ok", kv: "fail" });
    expect(response.headers.get("Retry-After")).toBeTruthy();
  });

  it("GET /v1 answers name, version, docs and openapi", async () => {
    const response = await call("GET", "/v1");
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    const health = (await (await call("GET", "/health")).json()) as { version: string };
    expect(body).toEqual({ name: "phone-auth-edge", version: health.version, docs: "/docs", openapi: "/openapi.json" });
  });

  it("GET /openapi.json is an OpenAPI 3.1 document covering every route", async () => {
    const response = await call("GET", "/openapi.json");
    expect(response.status).toBe(200);
    const doc = (await response.json()) as {
      openapi: string;
      info: { version: string };
      paths: Record<string, Record<string, unknown>>;
      components?: { schemas?: Record<string, unknown> };
    };
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info.version).toBeTruthy();
    const expected: [string, string][] = [
      ["/v1/auth/otp", "post"],
      ["/v1/auth/otp/verify", "post"],
      ["/v1/auth/token", "post"],
      ["/v1/auth/logout", "post"],
      ["/v1/me", "get"],
      ["/v1/me", "patch"],
      ["/v1/me", "delete"],
      ["/v1/me/sessions", "get"],
      ["/v1/me/sessions/{id}", "delete"],
      ["/health", "get"],
      ["/v1", "get"],
      ["/.well-known/jwks.json", "get"],
    ];
    for (const [path, method] of expected) {
      expect(doc.paths[path], `${method.toUpperCase()} ${path}`).toHaveProperty(method);
    }
    // Request schemas come from the same Zod schemas that validate.
    const otp = doc.paths["/v1/auth/otp"]?.post as { requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> } };
    const schema = otp.requestBody?.content?.["application/json"]?.schema;
    const resolved = schema?.$ref ? doc.components?.schemas?.[schema.$ref.replace("#/components/schemas/", "")] : schema;
    expect(resolved).toMatchObject({ properties: { phone: expect.any(Object) } });
  });

  it("GET /openapi.json documents every compatibility route and web page with its methods", async () => {
    const doc = await openApiDocument();
    const users = ["/users", "/api/users"].flatMap((base): [string, string[]][] => [
      [`${base}/send-code/`, ["post"]],
      [`${base}/verify-code/`, ["post"]],
      [`${base}/profile/`, ["get"]],
      [`${base}/activate-invite/`, ["post"]],
    ]);
    const compat: [string, string[], string][] = [
      ...users.map(([path, methods]): [string, string[], string] => [path, methods, "users"]),
      ["/api/", ["get"], "users"],
      ["/api/register/", ["post"], "register"],
      ["/api/verify-otp/", ["post"], "register"],
      ["/api/set-password/", ["post"], "register"],
      ["/api/user-info/", ["post"], "register"],
      ["/api/login/", ["post"], "register"],
      ["/api/token/refresh/", ["post"], "register"],
      ["/api/auth/send-otp/", ["post"], "auth"],
      ["/api/auth/verify-otp/", ["post"], "auth"],
      ["/api/auth/profile/", ["get"], "auth"],
      ["/api/v1/usr/otp", ["post"], "usr"],
      ["/api/v1/usr/otp/verify", ["post"], "usr"],
    ];
    for (const [path, methods, api] of compat) {
      expect(Object.keys(doc.paths[path] ?? {}), path).toEqual(methods);
      for (const method of methods) {
        const operation = doc.paths[path]?.[method] ?? { responses: {} };
        expect(operation.tags?.[0], path).toBe(`Compatibility: ${api}`);
        expect(operation.description, path).toContain("COMPAT_APIS");
        const error = api === "users" ? "CompatUsersError" : "CompatDrfError";
        // 500, and a 503 before the old API ran (bad configuration), are the core's problem+json.
        const refusals = Object.entries(operation.responses).filter(
          ([status, response]) => status !== "200" && !response.content?.["application/problem+json"],
        );
        for (const [, response] of refusals)
          expect(response.content?.["application/json"]?.schema?.$ref).toBe(`#/components/schemas/${error}`);
        if (method === "post") {
          const content = operation.requestBody?.content ?? {};
          expect(Object.keys(content), path).toEqual(["application/json", "application/x-www-form-urlencoded"]);
          expect(content["application/x-www-form-urlencoded"]).toEqual(content["application/json"]);
        }
      }
    }
    expect(doc.components?.schemas?.CompatUsersError).toMatchObject({ properties: { error: { type: "string" } } });
    expect(doc.paths["/api/token/refresh/"]?.post?.tags).toEqual(["Compatibility: register", "Compatibility: auth"]);
    expect(doc.paths["/users/profile/"]?.get?.security).toEqual([{ compatToken: [] }]);
    expect(doc.paths["/api/users/activate-invite/"]?.post?.security).toEqual([{ compatToken: [] }]);
    expect(doc.paths["/api/auth/profile/"]?.get?.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.components?.securitySchemes?.compatToken).toMatchObject({ type: "apiKey", in: "header", name: "Authorization" });

    const pages: [string, string[]][] = [
      ["/", ["get", "post"]],
      ["/verify", ["get", "post"]],
      ["/resend", ["post"]],
      ["/password", ["get", "post"]],
      ["/lang", ["get"]],
      ["/profile", ["get", "post"]],
      ["/profile/invite", ["post"]],
      ["/profile/password", ["post"]],
      ["/profile/sessions/revoke", ["post"]],
      ["/profile/delete", ["post"]],
      ["/logout", ["post"]],
    ];
    for (const [path, methods] of pages) {
      expect(Object.keys(doc.paths[path] ?? {}), path).toEqual(methods);
      for (const method of methods) {
        const operation = doc.paths[path]?.[method] ?? { responses: {} };
        expect(operation.tags, path).toEqual(["Web pages"]);
        const html = Object.entries(operation.responses).some(
          ([status, response]) => !status.startsWith("5") && response.content?.["text/html"],
        );
        expect(html, `${method} ${path} answers HTML`).toBe(path !== "/lang");
        if (method === "post") {
          const form = operation.requestBody?.content?.["application/x-www-form-urlencoded"]?.schema;
          expect(form?.required, path).toContain("csrf");
        }
      }
    }
    expect(doc.paths["/lang"]?.get?.parameters?.map((p) => p.name)).toEqual(["to", "next"]);
    expect(doc.paths["/profile/delete"]?.post?.requestBody?.content?.["application/x-www-form-urlencoded"]?.schema).toMatchObject({
      properties: { csrf: {}, confirm: {}, current_password: {} },
      required: ["csrf", "confirm"],
    });
  });

  const PHONE = "+375291234567";
  it.each([
    // [path, body, valid, a field the refusal names]: one or more per old API
    ["/users/send-code/", { phone_number: PHONE }, true],
    ["/users/send-code/", {}, false, "phone_number"],
    ["/api/users/verify-code/", { phone_number: PHONE, verification_code: "12ab" }, false, "verification_code"],
    ["/api/register/", { mobile_number: PHONE }, true],
    ["/api/register/", { mobile_number: "" }, false, "mobile_number"],
    ["/api/verify-otp/", { session_id: "not a session", code: "123456" }, false, "session_id"],
    ["/api/set-password/", { session_id: "abc", password: "x".repeat(1025) }, false, "password"],
    ["/api/token/refresh/", { refresh: "r".repeat(513) }, false, "refresh"],
    ["/api/auth/send-otp/", { phone_number: PHONE }, true],
    ["/api/auth/verify-otp/", { phone_number: PHONE }, false, "otp_code"],
    ["/api/v1/usr/otp", { phone_number: PHONE }, true],
    ["/api/v1/usr/otp/verify", { phone_number: PHONE, code: "1" }, false, "code"],
  ] as [string, Record<string, string>, boolean, string?][])(
    "POST %s: the documented request schema and the handler agree on %j",
    async (path, example, valid, field) => {
      const doc = await openApiDocument();
      const content = doc.paths[path]?.post?.requestBody?.content ?? {};
      for (const type of ["application/json", "application/x-www-form-urlencoded"]) {
        // A phone of its own per request: the sends must not meet a resend cooldown.
        const filled = Object.fromEntries(Object.entries(example).map(([name, value]) => [name, value === PHONE ? freshPhone() : value]));
        const schema = content[type]?.schema as JsonSchema;
        expect(conforms(schema, filled), `${type} schema of ${path}`).toBe(valid);
        const body = type === "application/json" ? JSON.stringify(filled) : new URLSearchParams(filled).toString();
        const response = await call("POST", path, { body, headers: { "Content-Type": type } });
        const answer = (await response.json()) as Record<string, unknown>;
        if (valid) {
          expect(response.status, JSON.stringify(answer)).toBe(200);
        } else {
          expect(response.status).toBe(400);
          const named = path.includes("/users/") ? String(answer.error).startsWith(`${field}:`) : Array.isArray(answer[field as string]);
          expect(named, `${path} refuses ${field}: ${JSON.stringify(answer)}`).toBe(true);
        }
      }
    },
  );

  it("GET /docs serves Swagger UI on /openapi.json from the Worker's own assets, under a nonce CSP, unframeable", async () => {
    const response = await call("GET", "/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(response.headers.get("X-Frame-Options")).toBe("DENY");
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    const policy = response.headers.get("Content-Security-Policy") ?? "";
    const nonce = /script-src 'nonce-([^']+)'/.exec(policy)?.[1];
    expect(nonce).toBeTruthy();
    expect(policy).toContain(`style-src 'nonce-${nonce}'`);
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const html = await response.text();
    expect(html).toContain('url:"/openapi.json"');
    // Every script and stylesheet is same-origin and carries the nonce: nothing from a CDN.
    const loads = [...html.matchAll(/<(script|link)\b[^>]*>/g)].map(([tag]) => tag);
    expect(loads).toHaveLength(3);
    for (const tag of loads) {
      expect(tag).toContain(`nonce="${nonce}"`);
      expect(tag).not.toMatch(/(src|href)="(https?:)?\/\//);
    }
    expect(await call("GET", "/docs").then((again) => again.headers.get("Content-Security-Policy"))).not.toBe(policy);
  });

  it.each([
    ["/docs/swagger-ui-bundle.js", /^text\/javascript/, "SwaggerUIBundle"],
    ["/docs/swagger-ui.css", /^text\/css/, ".swagger-ui"],
  ])("GET %s is the pinned swagger-ui-dist file, from the ASSETS binding", async (path, type, marker) => {
    const response = await call("GET", path);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(type);
    expect(response.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(await response.text()).toContain(marker);
  });

  it("GET /docs/ answers 404 for any other file, including the assets' other contents", async () => {
    for (const path of ["/docs/LICENSE", "/docs/index.html", "/docs/..%2Fpasswords%2Fcommon.txt", "/passwords/common.txt"]) {
      await expectProblem(await call("GET", path), 404, "not_found");
    }
  });

  it("GET /.well-known/jwks.json publishes only public key members", async () => {
    const response = await call("GET", "/.well-known/jwks.json");
    expect(response.status).toBe(200);
    const text = await response.text();
    const jwks = JSON.parse(text) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
    const ours = signingJwk();
    expect(text).not.toContain(ours.d);
    for (const key of jwks.keys) {
      for (const privateMember of ["d", "p", "q", "dp", "dq", "qi", "k", "oth"]) expect(key).not.toHaveProperty(privateMember);
      expect(key).toMatchObject({ kty: "EC", crv: "P-256", kid: expect.any(String), x: expect.any(String), y: expect.any(String) });
    }
    expect(jwks.keys[0]).toMatchObject({ kid: ours.kid, x: ours.x, y: ours.y });
  });
});

describe("CORS", () => {
  const corsEnv = { ...env, CORS_ORIGINS: "https://app.example.com" };

  it("gives no Access-Control-Allow-Origin to an origin that is not listed (default config)", async () => {
    const response = await call("GET", "/v1", { headers: { Origin: "https://evil.example" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
    const preflight = await call("OPTIONS", "/v1/auth/otp", {
      headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" },
    });
    expect(preflight.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });

  it("allows a listed origin and exposes X-Request-Id", async () => {
    const response = await callWith(corsEnv, "GET", "/v1", { headers: { Origin: "https://app.example.com" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example.com");
    const exposed = (response.headers.get("Access-Control-Expose-Headers") ?? "").toLowerCase();
    expect(exposed).toContain("x-request-id");
    expect(exposed).toContain("retry-after");
    expect((response.headers.get("Vary") ?? "").toLowerCase()).toContain("origin");
  });

  it("answers a preflight from a listed origin", async () => {
    const response = await callWith(corsEnv, "OPTIONS", "/v1/auth/otp", {
      headers: {
        Origin: "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization",
      },
    });
    expect(response.status).toBeLessThan(300);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example.com");
    expect((response.headers.get("Access-Control-Allow-Headers") ?? "").toLowerCase()).toContain("authorization");
    expect(response.headers.get("Access-Control-Allow-Credentials")).toBeNull();
  });

  it("still refuses other origins when CORS_ORIGINS is set", async () => {
    for (const origin of ["https://evil.example", "https://app.example.com.evil.example", "http://app.example.com", "null"]) {
      const response = await callWith(corsEnv, "GET", "/v1", { headers: { Origin: origin } });
      expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
    }
  });

  it("covers the service routes and the compatibility APIs, but not the web pages", async () => {
    const origin = "https://app.example.com";
    for (const path of ["/health", "/.well-known/jwks.json", "/openapi.json", "/api/"]) {
      const response = await callWith(corsEnv, "GET", path, { headers: { Origin: origin } });
      expect(response.status, path).toBe(200);
      expect(response.headers.get("Access-Control-Allow-Origin"), path).toBe(origin);
    }
    const preflight = await callWith(corsEnv, "OPTIONS", "/api/users/send-code/", {
      headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get("Access-Control-Allow-Origin")).toBe(origin);
    expect(preflight.headers.get("Access-Control-Allow-Credentials")).toBeNull();
    const page = await callWith(corsEnv, "GET", "/", { headers: { Origin: origin } });
    expect(page.status).toBe(200);
    expect(page.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });

  it("allows a listed origin on error responses too", async () => {
    const response = await callWith(corsEnv, "GET", "/v1/me", { headers: { Origin: "https://app.example.com" } });
    await expectProblem(response, 401, "unauthorized");
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example.com");
  });
});

describe("D1 read replication (Sessions API)", () => {
  it("answers with a bookmark, and a client that sends it back reads its own writes", async () => {
    const { signIn: signInUser } = await import("./helpers");
    const user = await signInUser();
    const patch = await call("PATCH", "/v1/me", { token: user.access_token, body: { first_name: "Replica" } });
    const bookmark = patch.headers.get("X-D1-Bookmark");
    expect(bookmark).toMatch(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/);
    const read = await call("GET", "/v1/me", { token: user.access_token, headers: { "X-D1-Bookmark": bookmark as string } });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { first_name: string }).first_name).toBe("Replica");
  });

  it("ignores a bookmark D1 did not issue instead of failing", async () => {
    const { signIn: signInUser } = await import("./helpers");
    const user = await signInUser();
    for (const junk of ["garbage", "'; DROP TABLE users; --", "0".repeat(300)]) {
      const response = await call("GET", "/v1/me", { token: user.access_token, headers: { "X-D1-Bookmark": junk } });
      expect(response.status).toBe(200);
    }
  });
});
