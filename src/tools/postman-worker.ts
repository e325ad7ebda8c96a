// A Worker of its own for `npm run postman` (scripts/postman.mjs starts it with wrangler): it
// reads /openapi.json from the app in-process, in workerd like the deployed Worker, and answers
// the collection file. Not imported by src/index.ts, so none of this is deployed.
import { createApp } from "../app";
import { type OpenApiDocument, postmanCollection, serializeCollection } from "./postman";

export default {
  async fetch(_request, env) {
    const openapi = await createApp().request("/openapi.json", {}, env);
    if (!openapi.ok) return openapi;
    const collection = await postmanCollection((await openapi.json()) as OpenApiDocument);
    return new Response(serializeCollection(collection), { headers: { "Content-Type": "application/json" } });
  },
} satisfies ExportedHandler<Env>;
