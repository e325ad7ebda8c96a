// Copies the pinned Swagger UI (swagger-ui-dist, exact version in package.json) from node_modules
// into assets/docs/, which the Worker serves at /docs/* through its ASSETS binding (src/service/docs.ts).
// Not committed (1.8 MB of someone else's build, gitignored): `npm run dev`, the test configs,
// `npm run size` and `npm run deploy` run this first, so a fresh clone needs only `npm ci`.
// Run it alone with `node scripts/docs-assets.mjs`; it copies only what changed.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const source = join(root, "node_modules", "swagger-ui-dist");
const target = join(root, "assets", "docs");

/** What /docs loads (src/service/docs.ts names the same files), plus the licence that must travel with them. */
export const DOCS_FILES = ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"];

/** Copies the files unless assets/docs/ already holds this version's; returns the version. */
export function copyDocsAssets() {
  if (!existsSync(join(source, "package.json"))) {
    throw new Error("swagger-ui-dist is not installed: run `npm ci` first.");
  }
  const { version } = JSON.parse(readFileSync(join(source, "package.json"), "utf8"));
  mkdirSync(target, { recursive: true });
  for (const file of DOCS_FILES) {
    const from = join(source, file);
    const to = join(target, file);
    if (existsSync(to) && readFileSync(to).equals(readFileSync(from))) continue;
    copyFileSync(from, to);
  }
  return version;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`assets/docs: swagger-ui-dist ${copyDocsAssets()}`);
}
