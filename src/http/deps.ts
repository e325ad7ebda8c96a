import type { Context } from "hono";
import type { Config } from "../config";
import { database } from "../db/client";
import { createDelivery, type Delivery } from "../delivery";
import type { Deps } from "../deps";
import { guardedKv, type Kv } from "../storage/guard";
import { enqueueWebhooks } from "../webhooks/queue";
import type { AppEnv } from "./context";
import { clientInfo, clientIp } from "./middleware";

const deliveries = new WeakMap<Config, Delivery>();

/** The services' view of the outside world for this request: storage, delivery, the clock, who asks. */
export function deps(c: Context<AppEnv>): Deps {
  const config = c.get("config");
  let delivery = deliveries.get(config);
  if (!delivery) {
    // Late-bound so tests that replace globalThis.fetch reach the provider.
    delivery = createDelivery(config, (input, init) => fetch(input, init));
    deliveries.set(config, delivery);
  }
  const request = {
    requestId: c.get("requestId"),
    ip: clientIp(c),
    // Read when asked: building `cf` costs, and most requests record no country.
    get country() {
      return clientInfo(c).country;
    },
    defer: (work: Promise<unknown>) => {
      try {
        c.executionCtx.waitUntil(work);
      } catch {
        // No execution context (a direct app.request in a unit test): let it run unattended.
        void work;
      }
    },
  };
  const base = c.get("db") ?? database(c.env.DB, config.STORAGE_TIMEOUT_MS);
  // Outbox rows a batch wrote go to the Queue after the answer; a failed send leaves them for the cron.
  const db = { ...base, onOutbox: (eventIds: string[]) => request.defer(enqueueWebhooks(c.env.WEBHOOK_QUEUE, eventIds)) };
  return { config, db, kv: kvOf(c), assets: c.env.ASSETS, delivery, now: Date.now(), request };
}

/** This request's KV, every call bounded by STORAGE_TIMEOUT_MS. */
export function kvOf(c: Context<AppEnv>): Kv {
  return guardedKv(c.env.KV, c.get("config").STORAGE_TIMEOUT_MS);
}
