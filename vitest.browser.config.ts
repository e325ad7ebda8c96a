import { defineConfig } from "vitest/config";
import { copyDocsAssets } from "./scripts/docs-assets.mjs";

// /docs serves Swagger UI from assets/docs/ (not committed), which `wrangler dev` reads.
copyDocsAssets();

// The browser suite: the Worker under `wrangler dev` (programmatic API) driven by real headless
// Chromium through playwright-core, in Node. The main config (workerd pool) never picks it up.
export default defineConfig({
  test: {
    include: ["test/browser/**/*.test.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 150_000,
  },
});
