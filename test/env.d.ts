import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      /** Fresh per run (vitest.config.ts): secrets in production, plain bindings in tests. */
      JWT_PRIVATE_KEYS: string;
      PASSWORD_PEPPER: string;
    }
  }
}
