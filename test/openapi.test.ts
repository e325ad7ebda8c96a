import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import worker from "../src/index";
import { call } from "./helpers";

// /openapi.json as third-party tools read it (Redocly, Spectral, Dredd, Prism, openapi-typescript):
// what spec/API.md "Service" promises of the document. `npm run lint:openapi` runs Redocly itself.

type Header = { $ref?: string };
type Schema = { $ref?: string; default?: unknown; properties?: Record<string, Schema>; [key: string]: unknown };
type Response = { headers?: Record<string, Header>; content?: Record<string, { schema?: Schema }> };
type Parameter = { name: string; in: string; example?: unknown };
type Operation = {
  operationId?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses: Record<string, Response>;
};
type Document = {
  servers?: { url: string }[];
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; headers?: Record<string, unknown> };
};

let document: Document;
let operations: { method: string; path: string; operation: Operation; name: string }[];

beforeAll(async () => {
  const response = await call("GET", "/openapi.json");
  expect(response.status).toBe(200);
  document = await response.json();
  operations = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ method, path, operation, name: `${method.toUpperCase()} ${path}` })),
  );
});

/**
 * The names of the handlers a request to this operation runs, in order, read from the app's real
 * route table (app-wide `use`, the feature routers' middleware, then the handler). Sub-apps with
 * their own `onError` wrap their handlers; Hono keeps the original beside the wrapper.
 */
function chainOf(method: string, path: string): string[] {
  const concrete = path.replace(/\{[^}]+\}/g, "x1");
  return createApp()
    .routes.filter((route) => route.method === "ALL" || route.method === method.toUpperCase())
    .filter((route) => {
      // Hono's `/x/*` also matches `/x`; `:name` is one segment.
      const source = route.path
        .split("/")
        .map((segment) => (segment === "*" ? "\u0000" : segment.startsWith(":") ? "[^/]+" : segment.replace(/[.+?^${}()|[\]\\]/g, "\\$&")))
        .join("/")
        .replace("/\u0000", "(?:/.*)?");
      return new RegExp(`^${source}$`).test(concrete);
    })
    .map((route) => {
      const handler = route.handler as { name: string; __COMPOSED_HANDLER?: { name: string } };
      return (handler.__COMPOSED_HANDLER ?? handler).name;
    });
}

/** What a middleware answers by itself, whatever the route behind it (spec/API.md "Errors"), by request method. */
const MIDDLEWARE_ANSWERS: Record<string, (method: string) => string[]> = {
  // A bad or unsafe configuration: 503 on every route.
  requireConfig: () => ["503"],
  requireAccessToken: () => ["401"],
  // The per-user Rate Limiting binding (/v1/me*, invite).
  limitPerUser: () => ["429"],
  // A GET has no body to measure or parse.
  bodyLimit: (method) => (method === "get" ? [] : ["413"]),
  jsonBody: (method) => (method === "get" ? [] : ["400", "415"]),
  // An old API that COMPAT_APIS does not name is not there.
  compatEnabled: () => ["404"],
};

describe("the OpenAPI document's operations", () => {
  it("each has a unique operationId, a description and only declared tags, each tag with a description", () => {
    const declared = new Map((document.tags ?? []).map((tag) => [tag.name, tag.description]));
    for (const [name, description] of declared) expect(description, `tag ${name}`).toBeTruthy();
    const ids = new Set<string>();
    for (const { name, operation } of operations) {
      expect(operation.operationId, name).toMatch(/^[a-z][A-Za-z0-9]*$/);
      expect(ids.has(operation.operationId as string), `${name}: duplicate operationId`).toBe(false);
      ids.add(operation.operationId as string);
      expect(operation.description?.length, `${name} has a description`).toBeGreaterThan(10);
      expect(operation.tags?.length, `${name} has a tag`).toBeGreaterThan(0);
      for (const tag of operation.tags ?? []) expect(declared.has(tag), `${name}: tag "${tag}" is declared`).toBe(true);
    }
    expect(ids.size).toBe(operations.length);
    // No empty section in /docs: a declared tag that no operation uses is left out.
    const used = new Set(operations.flatMap(({ operation }) => operation.tags ?? []));
    expect([...declared.keys()].filter((tag) => !used.has(tag))).toEqual([]);
    expect(ids).toContain("sendCode");
    expect(ids).toContain("getMe");
  });

  it("list every status the middleware a route runs can answer by itself (429, 503, 401, 413, …)", () => {
    let limited = 0;
    for (const { method, path, name, operation } of operations) {
      const chain = chainOf(method, path);
      expect(chain, `${name} runs requireConfig`).toContain("requireConfig");
      const expected = new Set(chain.flatMap((handler) => MIDDLEWARE_ANSWERS[handler]?.(method) ?? []));
      // The JSON API's routes validate declared parameters and bodies before the handler: validation_failed.
      if (path.startsWith("/v1") && (operation.parameters?.length || operation.requestBody)) expected.add("400");
      if (expected.has("429")) limited += 1;
      for (const status of expected) expect(Object.keys(operation.responses), `${name} (runs ${chain.join(", ")})`).toContain(status);
    }
    // getMe, updateMe, deleteMe, changePhone, listSessions, revokeSession, activateInvite, listReferrals, setPassword.
    expect(limited).toBeGreaterThanOrEqual(9);
  });

  it("say security: [] when public, and bearerAuth when the route runs requireAccessToken", () => {
    for (const { method, path, name, operation } of operations) {
      expect(Array.isArray(operation.security), `${name} declares security`).toBe(true);
      const schemes = (operation.security ?? []).flatMap((requirement) => Object.keys(requirement));
      const chain = chainOf(method, path);
      if (chain.includes("requireAccessToken")) expect(operation.security, name).toEqual([{ bearerAuth: [] }]);
      if (chain.includes("requireWebSession")) expect(schemes, name).toEqual(["webSession"]);
    }
    expect(document.paths["/v1/auth/otp"]?.post?.security).toEqual([]);
    expect(document.paths["/health"]?.get?.security).toEqual([]);
  });

  it("give every path parameter an example", () => {
    const parameters = operations.flatMap(({ operation, name }) =>
      (operation.parameters ?? []).filter((p) => p.in === "path").map((p) => ({ name, p })),
    );
    expect(parameters.length).toBeGreaterThan(0);
    for (const { name, p } of parameters) expect(p.example, `${name} {${p.name}}`).toEqual(expect.any(String));
  });

  it("describe X-Request-Id on every answer, Retry-After on 429 and 503, RateLimit-* where 429 can come, Cache-Control and X-D1-Bookmark under /v1", () => {
    const header = (name: string) => ({ $ref: `#/components/headers/${name}` });
    for (const { path, name, operation } of operations) {
      const limited = "429" in operation.responses;
      for (const [status, response] of Object.entries(operation.responses)) {
        const headers = response.headers ?? {};
        const where = `${name} → ${status}`;
        expect(headers["X-Request-Id"], where).toEqual(header("X-Request-Id"));
        if (status === "429" || status === "503") expect(headers["Retry-After"], where).toEqual(header("Retry-After"));
        if (limited)
          expect(Object.keys(headers), where).toEqual(
            expect.arrayContaining(["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]),
          );
        if (path.startsWith("/v1")) {
          expect(headers["Cache-Control"], where).toEqual(header("Cache-Control"));
          expect(headers["X-D1-Bookmark"], where).toEqual(header("X-D1-Bookmark"));
        }
      }
    }
    expect(Object.keys(document.components.headers ?? {}).sort()).toEqual(
      ["Cache-Control", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "X-D1-Bookmark", "X-Request-Id"].sort(),
    );
  });

  it("carry no `default` in request bodies, so generated clients keep defaulted fields optional", () => {
    const resolve = (schema: Schema | undefined) =>
      schema?.$ref ? document.components.schemas[schema.$ref.replace("#/components/schemas/", "")] : schema;
    for (const { name, operation } of operations) {
      for (const [type, { schema }] of Object.entries(operation.requestBody?.content ?? {})) {
        expect(JSON.stringify(resolve(schema) ?? {}), `${name} ${type}`).not.toContain('"default"');
      }
    }
    const send = resolve(document.paths["/v1/auth/otp"]?.post?.requestBody?.content?.["application/json"]?.schema);
    expect(send?.required).toEqual(["phone"]);
    expect(send?.properties?.purpose).toBeDefined();
  });
});

describe("the OpenAPI document's servers", () => {
  const openapiWith = async (variant: object, host: string) => {
    const request = new Request(`https://${host}/openapi.json`, { headers: { Host: host } });
    const response = await worker.fetch(request, variant as typeof env, createExecutionContext());
    return (await response.json()) as Document;
  };

  it("names none when PUBLIC_URL is unset, whatever Host the request carries", async () => {
    expect(document.servers).toBeUndefined();
    expect(JSON.stringify(await openapiWith(env, "attacker.example"))).not.toContain("attacker.example");
  });

  it("names PUBLIC_URL when it is set, never the request's Host", async () => {
    const doc = await openapiWith({ ...env, PUBLIC_URL: "https://auth.example.org/" }, "attacker.example");
    expect(doc.servers).toEqual([{ url: "https://auth.example.org" }]);
  });
});
