// `npm run postman`: writes docs/postman_collection.json, the Postman collection generated from the
// Worker's /openapi.json (src/tools/postman.ts), read from the tool Worker (scripts/tool-worker.mjs).
// test/postman.test.ts fails when the committed file differs from what this would write.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { readFromToolWorker, root } from "./tool-worker.mjs";

const output = join(root, "docs", "postman_collection.json");
const text = await readFromToolWorker("/postman_collection.json");
mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, text);
console.log(`wrote ${relative(root, output)}`);
