import type { OpenAPIHono } from "@hono/zod-openapi";
import { Hono } from "hono";
import { html, raw } from "hono/html";
import { randomToken } from "../crypto";
import type { AppEnv } from "../http/context";
import { fail, problem } from "../http/problem";

// `/docs`: Swagger UI on /openapi.json, from the Worker's own static assets (assets/docs/, copied
// from the pinned swagger-ui-dist by scripts/docs-assets.mjs): no CDN, so it works offline and
// nothing third-party runs on the page where people paste bearer tokens.

/** The files /docs loads, served from the ASSETS binding (every other name under /docs/ is a 404). */
const FILES: Record<string, string> = {
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui.css": "text/css; charset=utf-8",
};

/**
 * The pages' policy (src/web/middleware.ts): scripts and styles only by this response's nonce, no
 * framing. Swagger UI also fetches the document and, for "Try it out", the API: same origin only.
 */
function docsPolicy(nonce: string) {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
}

// No validator badge (it would call validator.swagger.io); the bearer token lives in the page's memory only.
const initialise = `SwaggerUIBundle({url:"/openapi.json",dom_id:"#swagger-ui",deepLinking:true,validatorUrl:null,persistAuthorization:false});`;

export const docsRoutes = new Hono<AppEnv>()
  .get("/docs", (c) => {
    const nonce = randomToken(16);
    c.header("Content-Security-Policy", docsPolicy(nonce));
    c.header("X-Frame-Options", "DENY");
    c.header("Cache-Control", "no-store");
    return c.html(html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${c.get("config").APP_NAME} API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css" nonce="${nonce}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js" nonce="${nonce}"></script>
<script nonce="${nonce}">${raw(initialise)}</script>
</body>
</html>`);
  })
  .get("/docs/:file", async (c) => {
    const file = c.req.param("file");
    const type = Object.hasOwn(FILES, file) ? FILES[file] : undefined;
    const asset = type ? await c.env.ASSETS.fetch(new URL(`/docs/${file}`, c.req.url)) : undefined;
    if (!type || !asset?.ok) {
      if (type) console.error(`[${c.get("requestId")}] /docs/${file} is missing from the assets: run node scripts/docs-assets.mjs`);
      return problem(c, fail("not_found", { detail: "No such route." }));
    }
    return new Response(asset.body, {
      headers: { "Content-Type": type, "Cache-Control": "public, max-age=3600", "X-Frame-Options": "DENY" },
    });
  });

/** `/openapi.json` and `/docs` in the document itself (both are plain routes, outside the typed chain). */
export function documentService(registry: OpenAPIHono["openAPIRegistry"]) {
  registry.registerPath({
    method: "get",
    path: "/openapi.json",
    operationId: "getOpenApiDocument",
    tags: ["Service"],
    summary: "This OpenAPI 3.1 document",
    description:
      "Generated from the same Zod schemas that validate requests. `servers` comes from `PUBLIC_URL` (none when unset, so tools use the document's own origin).",
    responses: { 200: { description: "The document", content: { "application/json": { schema: { type: "object" } } } } },
  });
  registry.registerPath({
    method: "get",
    path: "/docs",
    operationId: "getApiReference",
    tags: ["Service"],
    summary: "Interactive API reference (Swagger UI)",
    description: "Swagger UI on /openapi.json, served from the Worker's own assets (no CDN) under a nonce CSP; it cannot be framed.",
    responses: { 200: { description: "The page", content: { "text/html": { schema: { type: "string" } } } } },
  });
}
