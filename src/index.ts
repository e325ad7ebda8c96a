import { runRetention } from "./admin/retention";
import { createApp } from "./app";
import { loadConfig } from "./config";
import { database } from "./db/client";

const app = createApp();

export default {
  fetch: app.fetch,
  /** Cron Trigger (wrangler.toml [triggers]): retention cleanup in bounded batches. */
  async scheduled(_controller, env, ctx) {
    const loaded = loadConfig(env);
    if (!loaded.ok) {
      console.error(`retention skipped, configuration invalid: ${loaded.problems.join("; ")}`);
      return;
    }
    ctx.waitUntil(
      runRetention(database(env.DB), loaded.config, Date.now()).then((deleted) => console.log(`retention: ${JSON.stringify(deleted)}`)),
    );
  },
} satisfies ExportedHandler<Env>;
