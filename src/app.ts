import type { Context, MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { adminRoutes } from "./admin/routes";
import { compatRoutes } from "./compat";
import { deliveryHooks } from "./delivery/hooks";
import { fraudRoutes } from "./fraud/routes";
import type { AppEnv } from "./http/context";
import { documentInfo, finishDocument, registerHeaders } from "./http/document";
import { handleError } from "./http/errors";
import { d1Session, jsonBody, limitBody, noStore, requestId, requireConfig, securityHeaders } from "./http/middleware";
import { createRouter } from "./http/openapi";
import { fail, problem } from "./http/problem";
import { meRoutes } from "./me/routes";
import { otpRoutes } from "./otp/routes";
import { passkeyRoutes } from "./passkeys/routes";
import { passwordRoutes } from "./passwords/routes";
import { loadPhoneMetadata } from "./phone";
import { referralRoutes } from "./referrals/routes";
import { docsRoutes, documentService } from "./service/docs";
import { serviceRoutes } from "./service/routes";
import { tokenRoutes } from "./tokens/routes";
import { webRoutes } from "./web/routes";
import { webhookRoutes } from "./webhooks/routes";

/** Builds the Worker's app: middleware in contract order, then the feature routers. */
export function createApp() {
  const app = createRouter();
  app.use("*", requestId, securityHeaders, requireConfig, phonePlans);
  // CORS for everything a script on another origin may call: the JSON API, the service routes and
  // the compatibility APIs (old web clients called them cross-origin). Never credentials, and
  // never the web pages, whose forms are same-origin only (src/web/csrf.ts).
  for (const path of CORS_PATHS) app.use(path, corsFromConfig);
  app.use("*", limitBody);
  // The JSON API only: the compatibility APIs also take form posts, and the web pages post forms.
  app.use("/v1/*", noStore, jsonBody, d1Session);

  const routed = app
    .route("/", serviceRoutes)
    .route("/", otpRoutes)
    .route("/", tokenRoutes)
    .route("/", meRoutes)
    .route("/", referralRoutes)
    .route("/", passwordRoutes)
    .route("/", passkeyRoutes)
    .route("/", adminRoutes)
    .route("/", webhookRoutes)
    .route("/", fraudRoutes)
    .route("/", compatRoutes)
    .route("/", deliveryHooks);
  // The web pages (src/web): mounted outside the chain so the typed API client does not see them.
  routed.route("/", webRoutes);

  routed.get("/openapi.json", (c) => c.json(finishDocument(routed.getOpenAPI31Document(documentInfo(c.get("config"))))));
  // /docs, outside the typed chain too.
  routed.route("/", docsRoutes);
  routed.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  registerHeaders(routed.openAPIRegistry);
  documentService(routed.openAPIRegistry);

  const allowed = allowedMethods(routed.routes);
  routed.notFound((c: Context<AppEnv>) => {
    const methods = allowed(new URL(c.req.url).pathname);
    if (methods.length > 0) {
      c.header("Allow", methods.join(", "));
      return problem(c, fail("method_not_allowed", { detail: `${c.req.method} is not allowed here. Allowed: ${methods.join(", ")}.` }));
    }
    return problem(c, fail("not_found", { detail: "No such route." }));
  });
  routed.onError(handleError);
  return routed;
}

// Routes that never read a phone need not wait for the numbering plans (src/phone.ts).
const WITHOUT_PHONES = /^\/(health$|\.well-known\/|openapi\.json$|docs)/;

/** Reads the numbering plans (once per isolate) before a route that may parse a phone. */
const phonePlans: MiddlewareHandler<AppEnv> = async function phonePlans(c, next) {
  if (!WITHOUT_PHONES.test(c.req.path)) await loadPhoneMetadata(c.env.ASSETS, c.get("config").STORAGE_TIMEOUT_MS);
  await next();
};

const CORS_PATHS = ["/v1/*", "/health", "/openapi.json", "/.well-known/*", "/api/*", "/users/*"];

const allowedOrigin = (origin: string, c: Context<AppEnv>) => (c.get("config").CORS_ORIGINS.includes(origin) ? origin : null);
const EXPOSED_HEADERS = ["X-Request-Id", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "X-D1-Bookmark"];
const exposedHeaders = EXPOSED_HEADERS.join(",");
const preflight = cors({
  origin: allowedOrigin,
  allowHeaders: ["Authorization", "Content-Type", "X-Request-Id", "X-D1-Bookmark"],
  exposeHeaders: EXPOSED_HEADERS,
  maxAge: 600,
});

/**
 * CORS for the origins in CORS_ORIGINS. Preflights get Hono's `cors` answer. On other requests
 * the same headers go on the final response: Hono's `cors` would set them on a placeholder
 * response before the route runs, which Hono then copies onto the route's response and wraps
 * once more for `Vary` (three Response objects more per request, on every API call).
 */
const corsFromConfig: MiddlewareHandler<AppEnv> = async function corsFromConfig(c, next) {
  if (c.req.method === "OPTIONS") return preflight(c, next);
  await next();
  const headers = c.res.headers;
  const origin = allowedOrigin(c.req.header("Origin") ?? "", c);
  if (origin) headers.set("Access-Control-Allow-Origin", origin);
  headers.set("Access-Control-Expose-Headers", exposedHeaders);
  headers.append("Vary", "Origin");
};

/** For 405: which methods some route serves at a path (computed once from the route table). */
function allowedMethods(routes: { path: string; method: string }[]) {
  const table = routes
    .filter((route) => route.method !== "ALL" && !route.path.includes("*"))
    .map((route) => {
      // Same strictness as the router: literal segments escaped, `:param` one segment, no trailing slash.
      const source = route.path
        .split("/")
        .map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
        .join("/");
      return { method: route.method, pattern: new RegExp(`^${source}$`) };
    });
  return (path: string) => [...new Set(table.filter((route) => route.pattern.test(path)).map((route) => route.method))];
}

export type App = ReturnType<typeof createApp>;
