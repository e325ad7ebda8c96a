import { type SQL, sql } from "../db/sql";
import { receiptTakesSql } from "../delivery/store";
import type { Receipt } from "../delivery/types";
import type { AttemptRecord } from "../delivery/walk";

// The hourly counters of table `traffic_hourly` (spec: Fraud guard and analytics), one row per
// (hour, prefix, channel, provider). Each counter is changed by an UPSERT inside the batch of the
// event it counts (a send's attempts, a receipt, a verify), so they never disagree with what
// happened and reading them never scans per-code rows. No phone is kept: the prefix (E.164
// without its last 4 digits) and the country are all the analytics group by.

const HOUR = 3_600_000;

/** How long the hourly counters are kept (the retention job), and so the longest period analytics answers. */
export const ANALYTICS_DAYS = 400;

/** The start (ms) of the UTC hour `ms` falls in. */
export const hourOf = (ms: number) => ms - (ms % HOUR);

/** Upper bounds (seconds) of the send-to-verify histogram columns `v_<s>`; slower ones count in `v_more`. */
export const VERIFY_BUCKETS = [10, 20, 30, 45, 60, 90, 120, 180, 300] as const;
export const VERIFY_COLUMNS = [...VERIFY_BUCKETS.map((bound) => `v_${bound}`), "v_more"] as const;

const KEY = sql`(hour, prefix, channel, provider)`;

/** One statement counting every attempt of one send: attempts, accepted (sent), failed, cost. */
export function attemptsRollupSql(
  destination: { prefix: string; country: string | null },
  at: number,
  attempts: AttemptRecord[],
): SQL | null {
  if (attempts.length === 0) return null;
  const rows = attempts.map(
    (a) => sql`(${hourOf(at)}, ${destination.prefix}, ${a.channel}, ${a.provider}, ${destination.country}, 1,
      ${a.status === "sent" ? 1 : 0}, ${a.status === "failed" ? 1 : 0}, ${a.cost})`,
  );
  return sql`INSERT INTO traffic_hourly (hour, prefix, channel, provider, country, attempts, sent, failed, cost)
    VALUES ${sql.join(rows, sql`, `)}
    ON CONFLICT ${KEY} DO UPDATE SET attempts = attempts + excluded.attempts, sent = sent + excluded.sent,
      failed = failed + excluded.failed, cost = cost + excluded.cost`;
}

const FAILED = sql`('failed', 'undelivered')`;

/**
 * A receipt's change to the counters, run just before the receipt's UPDATE of the attempt (same
 * batch): the difference between the attempt's old and new status, so a repeated or reordered
 * receipt never counts twice; the same rule of which transitions are taken as the UPDATE.
 */
export function receiptRollupSql(provider: string, receipt: Receipt): SQL {
  const delivered = sql`((${receipt.status} = 'delivered') - (status = 'delivered'))`;
  const failed = sql`((${receipt.status} IN ${FAILED}) - (status IN ${FAILED}))`;
  // The hour the send counted in: its code's send time (the attempt's own start may fall in the next hour).
  const sentAt = sql`COALESCE((SELECT sent_at FROM code_sends WHERE code_sends.code_id = delivery_attempts.code_id), created_at)`;
  return sql`INSERT INTO traffic_hourly (hour, prefix, channel, provider, country, delivered, failed)
    SELECT ${sentAt} - ${sentAt} % ${HOUR}, prefix, channel, provider, country, ${delivered}, ${failed}
    FROM delivery_attempts
    WHERE ${receiptTakesSql(provider, receipt)} AND (${delivered} <> 0 OR ${failed} <> 0)
    ON CONFLICT ${KEY} DO UPDATE SET delivered = delivered + excluded.delivered, failed = failed + excluded.failed`;
}
