// `npm run postman`: writes docs/postman_collection.json, the Postman collection generated from the
// Worker's /openapi.json (src/tools/postman.ts). It starts src/tools/postman-worker.ts in a local
// workerd through wrangler, with throwaway development secrets: no network, no .dev.vars needed.
// test/postman.test.ts fails when the committed file differs from what this would write.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_startWorker } from "wrangler";
import { generateDevSecrets } from "./secrets.mjs";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const output = join(root, "docs", "postman_collection.json");

// Keep miniflare from fetching the `Request.cf` placeholder from workers.cloudflare.com.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";

/** @param {string} value @returns {{ type: "plain_text", value: string }} */
const plain = (value) => ({ type: "plain_text", value });
const secrets = await generateDevSecrets();

const worker = await unstable_startWorker({
  config: join(root, "wrangler.toml"),
  entrypoint: join(root, "src", "tools", "postman-worker.ts"),
  sendMetrics: false,
  bindings: {
    JWT_PRIVATE_KEYS: plain(secrets.JWT_PRIVATE_KEYS),
    PASSWORD_PEPPER: plain(secrets.PASSWORD_PEPPER),
    ENVIRONMENT: plain("development"),
    SMS_PROVIDER: plain("console"),
  },
  dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist: false, watch: false, logLevel: "warn" },
});
try {
  await worker.ready;
  const response = await worker.fetch("http://localhost/");
  const text = await response.text();
  if (!response.ok) throw new Error(`the tool Worker answered ${response.status}: ${text}`);
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, text);
  console.log(`wrote ${relative(root, output)}`);
} finally {
  await worker.dispose();
}
