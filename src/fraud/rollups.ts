import { type SQL, sql } from "drizzle-orm";
import { receiptTakesSql } from "../delivery/store";
import type { Receipt } from "../delivery/types";
import type { AttemptRecord } from "../delivery/walk";

// The hourly counters of table `traffic_hourly` (spec: Fraud guard and analytics), one row per
// (hour, prefix, channel, provider). Each counter is changed by an UPSERT inside the batch of the
// event it counts (a send's attempts, a receipt, a verify), so they never disagree with what
// happened and reading them never scans per-code rows. No phone is kept: the prefix (E.164
// without its last 4 digits) and the country are all the analytics group by.

const HOUR = 3_600_000;

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

/** The histogram columns' values for one verification (SQL over `verified_at - sent_at`), built once. */
const BUCKET_VALUES: SQL = (() => {
  const seconds = sql`((verified_at - sent_at) / 1000.0)`;
  const values = VERIFY_BUCKETS.map((bound, index) => {
    const above = index === 0 ? sql`1` : sql`${seconds} > ${VERIFY_BUCKETS[index - 1]}`;
    return sql`(${above} AND ${seconds} <= ${bound})`;
  });
  values.push(sql`(${seconds} > ${VERIFY_BUCKETS.at(-1)})`);
  return sql.join(values, sql`, `);
})();
const VERIFIED_COLUMNS = sql.raw(VERIFY_COLUMNS.join(", "));
const VERIFIED_SUMS = sql.raw(VERIFY_COLUMNS.map((column) => `${column} = ${column} + excluded.${column}`).join(", "));

/**
 * Counts the verification of code `codeId` in its send's hour, when `when` holds and the code's
 * send row (table `code_sends`) is verified. Used by the verify that consumed the code, and by
 * the send's own record when that verify came first (then it found no send row to count in).
 */
export function verifiedRollupSql(codeId: string, when: SQL): SQL {
  return sql`INSERT INTO traffic_hourly (hour, prefix, channel, provider, country, verified, ${VERIFIED_COLUMNS})
    SELECT sent_at - sent_at % ${HOUR}, prefix, channel, provider, country, 1, ${BUCKET_VALUES}
    FROM code_sends WHERE code_id = ${codeId} AND verified_at IS NOT NULL AND ${when}
    ON CONFLICT ${KEY} DO UPDATE SET verified = verified + 1, ${VERIFIED_SUMS}`;
}
