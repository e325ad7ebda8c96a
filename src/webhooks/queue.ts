import type { Config } from "../config";
import type { Db } from "../db/client";
import { deliverEvent, strandedEvents } from "./deliver";
import type { WebhookMessage } from "./outbox";

/** Hands outbox events to the Queue. Never throws: an event the Queue did not take waits for the cron. */
export async function enqueueWebhooks(queue: Queue | undefined, eventIds: string[]): Promise<void> {
  if (!queue || eventIds.length === 0) return;
  try {
    await queue.sendBatch(eventIds.map((event_id) => ({ body: { event_id } satisfies WebhookMessage })));
  } catch (error) {
    console.error(`webhook enqueue failed, left for the cron: ${error instanceof Error ? error.message : "unknown"}`);
  }
}

/**
 * The Queue consumer: delivers each message's event; a message whose event still has a pending
 * delivery is retried with the delay until it is due (exponential backoff, src/webhooks/deliver.ts).
 */
export async function consumeWebhooks(batch: MessageBatch<WebhookMessage>, db: Db, config: Config, fetcher: typeof fetch) {
  // The messages of a batch are independent events: delivered side by side, not one after another.
  await Promise.all(batch.messages.map((message) => consumeOne(message, db, config, fetcher)));
}

async function consumeOne(message: Message<WebhookMessage>, db: Db, config: Config, fetcher: typeof fetch) {
  const eventId = message.body?.event_id;
  if (typeof eventId !== "string") {
    message.ack();
    return;
  }
  try {
    const next = await deliverEvent(db, config, { eventId, now: Date.now(), fetcher });
    if (next === null) message.ack();
    else message.retry({ delaySeconds: next });
  } catch (error) {
    console.error(`webhook delivery step failed: ${error instanceof Error ? error.message : "unknown"}`);
    message.retry({ delaySeconds: 30 });
  }
}

/** The cron's sweep: hands the Queue every event it never got (or lost). */
export async function sweepOutbox(queue: Queue | undefined, db: Db, now: number): Promise<number> {
  const stranded = await strandedEvents(db, now);
  await enqueueWebhooks(queue, stranded);
  return stranded.length;
}
