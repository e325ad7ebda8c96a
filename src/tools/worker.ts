// A Worker of its own for the offline tools (scripts/tool-worker.mjs starts it with wrangler): it
// asks the app in-process, in workerd like the deployed Worker, for /openapi.json and answers it
// as it is (`npm run openapi`) or as a Postman collection (`npm run postman`). Not imported by
// src/index.ts, so none of this is deployed.
import { createApp } from "../app";
import { type OpenApiDocument, postmanCollection, serializeCollection } from "./postman";

export default {
  async fetch(request, env) {
    const openapi = await createApp().request("/openapi.json", {}, env);
    if (!openapi.ok || new URL(request.url).pathname === "/openapi.json") return openapi;
    const collection = await postmanCollection((await openapi.json()) as OpenApiDocument);
    return new Response(serializeCollection(collection), { headers: { "Content-Type": "application/json" } });
  },
} satisfies ExportedHandler<Env>;
