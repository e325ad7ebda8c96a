import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { configDefaults, defineConfig } from "vitest/config";
import { copyDocsAssets } from "./scripts/docs-assets.mjs";
import { generateDevSecrets } from "./scripts/secrets.mjs";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  // /docs serves Swagger UI from assets/docs/ (not committed): the pool reads [assets] from wrangler.toml.
  copyDocsAssets();
  // Fresh keys and pepper per run: nothing secret is committed, and no test can depend on a fixed key.
  const secrets = await generateDevSecrets();
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            ...secrets,
            ENVIRONMENT: "development",
            SMS_PROVIDER: "console",
            DEFAULT_REGION: "BY",
            // Passkeys on (test/passkeys.test.ts; a variant env without them proves the 404).
            WEBAUTHN_RP_ID: "auth.test",
            WEBAUTHN_RP_NAME: "phone-auth-edge tests",
            WEBAUTHN_ORIGINS: "https://auth.test",
            TEST_MIGRATIONS: migrations,
          },
        },
      }),
    ],
    test: {
      setupFiles: ["./test/setup.ts"],
      // Quiet by default: the console SMS provider logs every code it "sends", hundreds per run.
      // `LOG_SMS=1 npm test` shows them; every other log line, errors included, still prints.
      onConsoleLog: (log: string) => (process.env.LOG_SMS === "1" || !log.startsWith("[delivery:console]") ? undefined : false),
      // Some tests make dozens of requests (windows, fault injection, hashing); 2 shared cores are slow.
      testTimeout: 30_000,
      include: ["test/**/*.test.ts"],
      // The browser suite runs in Node against `wrangler dev` (vitest.browser.config.ts).
      exclude: [...configDefaults.exclude, "test/browser/**"],
    },
  };
});
