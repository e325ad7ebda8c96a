// A fresh local D1 for a throwaway `wrangler dev` / `unstable_startWorker` (the browser suite, the
// delivery e2e): a temp --persist-to directory with migrations/ applied by wrangler itself.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Creates the directory, applies the migrations, returns its path; throws with wrangler's output on failure.
 * @param {string} label
 * @returns {string}
 */
export function migratedLocalD1(label) {
  const persist = mkdtempSync(join(tmpdir(), `phone-auth-edge-${label}-`));
  const migrated = spawnSync(
    join(root, "node_modules", ".bin", "wrangler"),
    ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist],
    { cwd: root, env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" }, encoding: "utf8", timeout: 60_000 },
  );
  if (migrated.status !== 0) throw new Error(`applying the D1 migrations failed:\n${migrated.stdout}\n${migrated.stderr}`);
  return persist;
}
