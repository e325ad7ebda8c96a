import { createRoute } from "@hono/zod-openapi";
import { version } from "../../package.json";
import { kvOf } from "../http/deps";
import { createRouter, problemResponses, z } from "../http/openapi";
import { problem } from "../http/problem";
import { guarded } from "../storage/guard";
import { publicJwks } from "../tokens/jwt";

const cacheControl = { $ref: "#/components/headers/Cache-Control" };

const Checks = z.object({ db: z.enum(["ok", "fail"]), kv: z.enum(["ok", "fail"]) });

const health = createRoute({
  method: "get",
  path: "/health",
  tags: ["Service"],
  summary: "Liveness with a real D1 query and KV read",
  operationId: "getHealth",
  description:
    "Runs a real D1 query and KV read. 200 when both answer; 503 `service_unavailable` with the same `checks` when one fails. Never cached.",
  responses: {
    200: {
      description: "Healthy",
      headers: { "Cache-Control": cacheControl },
      content: { "application/json": { schema: z.object({ status: z.literal("ok"), checks: Checks, version: z.string() }) } },
    },
    ...problemResponses(503),
  },
});

const meta = createRoute({
  method: "get",
  path: "/v1",
  tags: ["Service"],
  summary: "API metadata",
  operationId: "getApiMetadata",
  description: "The service name and version, and where the reference (`/docs`) and this document (`/openapi.json`) are.",
  responses: {
    200: {
      description: "Metadata",
      content: {
        "application/json": { schema: z.object({ name: z.string(), version: z.string(), docs: z.string(), openapi: z.string() }) },
      },
    },
  },
});

const jwks = createRoute({
  method: "get",
  path: "/.well-known/jwks.json",
  tags: ["Service"],
  summary: "Public keys that verify access tokens",
  operationId: "getJwks",
  description:
    "The public keys (JWK Set) that verify access tokens (ES256, `kid` in the token header). Several keys may be listed during a rotation. Cacheable for 5 minutes.",
  responses: {
    200: {
      description: "JWK Set",
      headers: { "Cache-Control": cacheControl },
      content: { "application/json": { schema: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }) } },
    },
  },
});

async function probe(check: () => Promise<unknown>): Promise<"ok" | "fail"> {
  try {
    await check();
    return "ok";
  } catch (error) {
    console.error(`health check failed: ${error instanceof Error ? error.message : "unknown"}`);
    return "fail";
  }
}

export const serviceRoutes = createRouter()
  .openapi(health, async (c) => {
    const timeout = c.get("config").STORAGE_TIMEOUT_MS;
    const [db, kv] = await Promise.all([
      probe(() => guarded("db", timeout, () => c.env.DB.prepare("SELECT 1").first())),
      probe(() => kvOf(c).get("health:probe")),
    ]);
    const checks = { db, kv };
    c.header("Cache-Control", "no-store");
    if (db === "fail" || kv === "fail") {
      return problem(c, { error: "service_unavailable", detail: "A storage dependency is failing.", checks }) as never;
    }
    return c.json({ status: "ok" as const, checks, version }, 200);
  })
  .openapi(meta, (c) => c.json({ name: c.get("config").APP_NAME, version, docs: "/docs", openapi: "/openapi.json" }, 200))
  .openapi(jwks, async (c) => {
    c.header("Cache-Control", "public, max-age=300");
    return c.json(await publicJwks(c.get("config")), 200);
  });
