// `npm run openapi`: writes dist/openapi.json (or the path given), the document the Worker serves
// at /openapi.json, read offline from the tool Worker (scripts/tool-worker.mjs). `redocly lint`
// and openapi-typescript read this file (`npm run lint:openapi`, `npm run typegen`).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { readFromToolWorker, root } from "./tool-worker.mjs";

const output = resolve(process.argv[2] ?? join(root, "dist", "openapi.json"));
const document = JSON.parse(await readFromToolWorker("/openapi.json"));
mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, `${JSON.stringify(document, null, 2)}\n`);
console.log(`wrote ${relative(root, output)}`);
