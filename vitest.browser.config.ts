import { defineConfig } from "vitest/config";

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
