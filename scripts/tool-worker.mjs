// Starts src/tools/worker.ts in a local workerd through wrangler, with throwaway development
// secrets (no network, no .dev.vars needed), and reads one answer from it. Used by
// `npm run openapi` and `npm run postman`, so both see the document the Worker serves.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_startWorker } from "wrangler";
import { generateDevSecrets } from "./secrets.mjs";

export const root = dirname(dirname(fileURLToPath(import.meta.url)));

/** @param {string} value @returns {{ type: "plain_text", value: string }} */
const plain = (value) => ({ type: "plain_text", value });

/**
 * The body the tool Worker answers at `path` (`/openapi.json`: the document; else the Postman collection).
 * @param {string} path
 */
export async function readFromToolWorker(path) {
  // Keep miniflare from fetching the `Request.cf` placeholder from workers.cloudflare.com.
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
  const secrets = await generateDevSecrets();
  const worker = await unstable_startWorker({
    config: join(root, "wrangler.toml"),
    entrypoint: join(root, "src", "tools", "worker.ts"),
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
    const response = await worker.fetch(`http://localhost${path}`);
    const text = await response.text();
    if (!response.ok) throw new Error(`the tool Worker answered ${response.status}: ${text}`);
    return text;
  } finally {
    await worker.dispose();
  }
}
