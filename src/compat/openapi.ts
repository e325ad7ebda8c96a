import { OpenAPIHono } from "@hono/zod-openapi";
import { COMPAT_API_NAMES, type CompatApi } from "../config";
import type { AppEnv } from "../http/context";
import { operationIdOf, ProblemSchema, z } from "../http/openapi";
import { type CompatHandler, enabled } from "./http";

// The old APIs in /openapi.json: each route is documented where it is mounted, with the body
// schema its handler validates, so the document cannot drift from what is served.

// What `compatError` (./http.ts) writes; a route of a disabled API is the core's 404 problem.
const UsersError = z.object({ error: z.string() }).openapi("CompatUsersError");
const DrfError = z
  .union([z.object({ detail: z.string() }), z.record(z.string(), z.array(z.string()))])
  .openapi("CompatDrfError", { description: "`{ detail }`, or messages by field." });

/** `Authorization: Token …` of the `users` API (DRF's scheme; `Bearer …` works too). */
export const COMPAT_TOKEN = {
  type: "apiKey",
  in: "header",
  name: "Authorization",
  description: "`Token <token>` or `Bearer <token>`",
} as const;

const COMPAT_DESCRIPTIONS: Record<CompatApi, string> = {
  users: "The old `users` app's API (`/users/…` and `/api/users/…`): a day-long token, errors as `{ error }`.",
  register: "The old multi-step registration API (`/api/register/` and the steps after it), with SimpleJWT tokens.",
  auth: "The old `auth` app's code sign-in (`/api/auth/…`), with SimpleJWT tokens.",
  usr: "The old `usr` app's code sign-in (`/api/v1/usr/…`): tokens also as HttpOnly cookies.",
};

/** One tag per old API, in /openapi.json's `tags`. */
export const COMPAT_TAGS = COMPAT_API_NAMES.map((api) => ({
  name: `Compatibility: ${api}`,
  description: `${COMPAT_DESCRIPTIONS[api]} Served only when \`COMPAT_APIS\` names \`${api}\`.`,
}));

const problemContent = { "application/problem+json": { schema: ProblemSchema } };

type Operation = { summary: string; ok: z.ZodType; errors: number[]; security?: "compatToken" | "bearerAuth" };

/**
 * A router for one old API: `serve` mounts each handler behind the `COMPAT_APIS` gate of `apis`
 * (for every method, so a disabled API's path is a 404, never a 405) and documents it there.
 */
export function compatRouter(...apis: CompatApi[]) {
  const app = new OpenAPIHono<AppEnv>();
  const gate = enabled(...apis);
  const tags = apis.map((api) => `Compatibility: ${api}`);
  const description = `Served only when \`COMPAT_APIS\` names ${apis.map((api) => `\`${api}\``).join(" or ")}.`;
  const error = { description: "Refused", content: { "application/json": { schema: apis[0] === "users" ? UsersError : DrfError } } };
  function serve(method: "get" | "post", path: string, handler: CompatHandler, { summary, ok, errors, security }: Operation) {
    app.use(path, gate);
    app[method](path, handler);
    // Old DRF clients post forms: the same schema reads either encoding.
    const content = { "application/json": { schema: handler.schema }, "application/x-www-form-urlencoded": { schema: handler.schema } };
    app.openAPIRegistry.registerPath({
      method,
      path,
      operationId: operationIdOf("compat", method, path),
      tags,
      summary,
      description: `${summary}. ${description}`,
      ...(security && { security: [{ [security]: [] }] }),
      ...(method === "post" && { request: { body: { required: true, content } } }),
      responses: {
        200: { description: "OK", content: { "application/json": { schema: ok } } },
        // The gate above answers the core's problem when COMPAT_APIS does not name the API.
        404: { description: "Not served: `COMPAT_APIS` does not name this API", content: problemContent },
        ...Object.fromEntries(errors.map((status) => [status, error])),
      },
    });
  }
  return { app, serve };
}
