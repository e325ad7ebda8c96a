import { runRetention } from "./admin/retention";
import { createApp } from "./app";
import { loadConfig } from "./config";
import { database } from "./db/client";
import { refreshBlockEdges } from "./fraud/blocks";
import { guardedKv } from "./storage/guard";
import type { WebhookMessage } from "./webhooks/outbox";
import { consumeWebhooks, sweepOutbox } from "./webhooks/queue";

const app = createApp();

/** The cron expression of the daily retention job (wrangler.toml [triggers]); the other one sweeps the webhook outbox. */
const RETENTION_CRON = "17 3 * * *";

export default {
  fetch: app.fetch,
  /** Cron Triggers: retention cleanup in bounded batches (daily), the webhook outbox sweep (every 5 minutes). */
  async scheduled(controller, env, ctx) {
    const loaded = loadConfig(env);
    if (!loaded.ok) {
      console.error(`scheduled job skipped, configuration invalid: ${loaded.problems.join("; ")}`);
      return;
    }
    const db = database(env.DB, loaded.config.STORAGE_TIMEOUT_MS);
    ctx.waitUntil(
      controller.cron === RETENTION_CRON
        ? runRetention(db, loaded.config, Date.now()).then((deleted) => console.log(`retention: ${JSON.stringify(deleted)}`))
        : Promise.all([
            sweepOutbox(env.WEBHOOK_QUEUE, db, Date.now()).then((count) => count > 0 && console.log(`webhook sweep: ${count} re-enqueued`)),
            refreshBlockEdges(db, guardedKv(env.KV, loaded.config.STORAGE_TIMEOUT_MS), { config: loaded.config, now: Date.now() }),
          ]),
    );
  },
  /** The webhook Queue's consumer (wrangler.toml [[queues.consumers]]). */
  async queue(batch, env, _ctx) {
    const loaded = loadConfig(env);
    if (!loaded.ok) {
      console.error(`webhook batch retried, configuration invalid: ${loaded.problems.join("; ")}`);
      batch.retryAll({ delaySeconds: 60 });
      return;
    }
    await consumeWebhooks(batch, database(env.DB, loaded.config.STORAGE_TIMEOUT_MS), loaded.config, (input, init) => fetch(input, init));
  },
} satisfies ExportedHandler<Env, WebhookMessage>;
