import type { Config } from "../config";
import { randomToken } from "../crypto";
import { batch, type Db } from "../db/client";
import { sql } from "../db/sql";
import { openSecret, signatureHeader } from "./signing";

/** Seconds before attempt `n + 1` after `n` failed ones: 30 s, doubling, at most an hour. */
export function retryDelaySeconds(failedAttempts: number): number {
  return Math.min(3600, 30 * 2 ** Math.max(0, failedAttempts - 1));
}

type Claimed = {
  id: string;
  attempts: number;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: number | null;
  payload: string;
};

/**
 * Delivers one outbox event to every endpoint whose delivery is due (the Queue consumer's step).
 * Each delivery is first claimed by one conditional UPDATE, so copies of one message (a Queue
 * redelivery, a cron re-enqueue) cannot send it twice at once. A 2xx marks it delivered; anything
 * else (or no answer within WEBHOOK_TIMEOUT_MS) schedules the next attempt, and the
 * WEBHOOK_MAX_ATTEMPTS-th failure keeps it as dead for replay. Returns the seconds until the
 * next due attempt, or null when nothing of this event is pending.
 */
export async function deliverEvent(
  db: Db,
  config: Config,
  input: { eventId: string; now: number; fetcher: typeof fetch },
): Promise<number | null> {
  const { eventId, now } = input;
  const claim = randomToken();
  const [, claimedRows] = await batch<[unknown[], Claimed[]]>(db, [
    sql`UPDATE webhook_deliveries SET claim = ${claim}, claimed_until = ${now + config.WEBHOOK_TIMEOUT_MS + 5000}
      WHERE event_id = ${eventId} AND status = 'pending' AND next_attempt_at <= ${now}
        AND (claimed_until IS NULL OR claimed_until <= ${now})
        AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = endpoint_id AND e.enabled = 1)`,
    sql`SELECT d.id, d.attempts, e.url, e.secret, e.previous_secret, e.previous_secret_until, ev.payload
      FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN webhook_events ev ON ev.id = d.event_id
      WHERE d.event_id = ${eventId} AND d.claim = ${claim}`,
  ]);
  const outcomes = await Promise.all(claimedRows.map((row) => attempt(config, eventId, row, now, input.fetcher)));
  const results = await batch<unknown[][]>(db, [
    ...outcomes.map(({ row, status, error }) => {
      const tries = row.attempts + 1;
      if (status !== null && status >= 200 && status < 300) {
        return sql`UPDATE webhook_deliveries SET status = 'delivered', attempts = ${tries}, delivered_at = ${now}, last_status = ${status},
            last_error = NULL, claim = NULL, claimed_until = NULL WHERE id = ${row.id} AND claim = ${claim}`;
      }
      const dead = tries >= config.WEBHOOK_MAX_ATTEMPTS;
      return sql`UPDATE webhook_deliveries SET status = ${dead ? "dead" : "pending"}, attempts = ${tries},
          next_attempt_at = ${now + retryDelaySeconds(tries) * 1000}, last_status = ${status}, last_error = ${error},
          claim = NULL, claimed_until = NULL WHERE id = ${row.id} AND claim = ${claim}`;
    }),
    sql`SELECT MIN(d.next_attempt_at) AS due FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
      WHERE d.event_id = ${eventId} AND d.status = 'pending' AND e.enabled = 1`,
  ]);
  const due = (results.at(-1) as { due: number | null }[])[0]?.due;
  return due == null ? null : Math.max(0, Math.ceil((due - now) / 1000));
}

async function attempt(config: Config, eventId: string, row: Claimed, now: number, fetcher: typeof fetch) {
  let secrets: string[];
  try {
    secrets = [await openSecret(config.PASSWORD_PEPPER, row.secret)];
    if (row.previous_secret && (row.previous_secret_until ?? 0) > now) {
      secrets.push(await openSecret(config.PASSWORD_PEPPER, row.previous_secret));
    }
  } catch {
    // A secret that no longer opens (PASSWORD_PEPPER changed) fails this endpoint alone, as an attempt.
    return { row, status: null, error: "signing secret unreadable: rotate the secret" };
  }
  const timestamp = Math.floor(now / 1000);
  try {
    const response = await fetcher(row.url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "User-Agent": "phone-auth-edge-webhooks",
        "webhook-id": eventId,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": await signatureHeader(secrets, eventId, timestamp, row.payload),
      },
      body: row.payload,
      redirect: "manual",
      signal: AbortSignal.timeout(config.WEBHOOK_TIMEOUT_MS),
    });
    // The body is not read: only the status matters, and nothing of it reaches a log.
    await response.body?.cancel();
    return { row, status: response.status, error: response.ok ? null : `HTTP ${response.status}` };
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    return { row, status: null, error: timedOut ? `no answer within ${config.WEBHOOK_TIMEOUT_MS} ms` : "connection failed" };
  }
}

/**
 * The cron's sweep: events with a delivery that is due (past a grace period) yet unclaimed were
 * never handed to the Queue (its `send` failed) or lost there. Returns their ids to enqueue again.
 */
export async function strandedEvents(db: Db, now: number, graceMs = 120_000, limit = 500): Promise<string[]> {
  const [rows] = await batch<[{ event_id: string }[]]>(db, [
    sql`SELECT DISTINCT d.event_id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
      WHERE d.status = 'pending' AND d.next_attempt_at <= ${now - graceMs} AND e.enabled = 1
        AND (d.claimed_until IS NULL OR d.claimed_until <= ${now})
      LIMIT ${limit}`,
  ]);
  return rows.map((row) => row.event_id);
}
