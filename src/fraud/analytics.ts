import { asAdmin } from "../admin/service";
import { type SQL, sql } from "../db/sql";
import type { Deps } from "../deps";
import type { Failure } from "../http/problem";
import type { AccessClaims } from "../tokens/jwt";
import { hourOf, VERIFY_BUCKETS, VERIFY_COLUMNS } from "./rollups";

// `GET /v1/admin/analytics` (spec: Fraud guard and analytics): the hourly counters of
// `traffic_hourly` summed over a period and grouped. One indexed range read of at most one row per
// (hour, prefix, channel, provider); no per-code rows are read. The percentiles of the seconds
// from send to verify are estimated from the histogram columns (linear within a bucket).

export const GROUPINGS = ["day", "hour", "country", "prefix", "channel", "provider"] as const;
export type GroupBy = (typeof GROUPINGS)[number];

export type AnalyticsItem = {
  key: string;
  attempts: number;
  sent: number;
  delivered: number;
  failed: number;
  verified: number;
  conversion: number | null;
  p50_seconds_to_verify: number | null;
  p90_seconds_to_verify: number | null;
  cost: number;
};

const DAY = 86_400_000;

const keyOf: Record<GroupBy, SQL> = {
  day: sql`hour - hour % ${DAY}`,
  hour: sql`hour`,
  country: sql`COALESCE(country, 'unknown')`,
  prefix: sql`prefix`,
  channel: sql`channel`,
  provider: sql`provider`,
};

type Row = Record<string, number | string | null> & {
  key: string | number;
  attempts: number;
  sent: number;
  delivered: number;
  failed: number;
  verified: number;
  cost: number;
};

/** The `p`-quantile of the seconds to verify from the histogram `counts` (bucket i covers (bound[i−1], bound[i]]). */
export function quantileSeconds(counts: number[], p: number): number | null {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const target = p * total;
  let before = 0;
  for (const [index, count] of counts.entries()) {
    const low = index === 0 ? 0 : (VERIFY_BUCKETS[index - 1] as number);
    const high = VERIFY_BUCKETS[index];
    if (count > 0 && before + count >= target) {
      // The last bucket is open-ended: its lower bound is all that is known.
      if (high === undefined) return low;
      return Math.round((low + ((target - before) / count) * (high - low)) * 10) / 10;
    }
    before += count;
  }
  return VERIFY_BUCKETS.at(-1) as number;
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

function itemOf(row: Row, groupBy: GroupBy): AnalyticsItem {
  const counts = VERIFY_COLUMNS.map((column) => Number(row[column] ?? 0));
  const key = groupBy === "day" || groupBy === "hour" ? new Date(Number(row.key)).toISOString() : String(row.key);
  return {
    key,
    attempts: row.attempts,
    sent: row.sent,
    delivered: row.delivered,
    failed: row.failed,
    verified: row.verified,
    conversion: row.sent > 0 ? round(row.verified / row.sent, 4) : null,
    p50_seconds_to_verify: quantileSeconds(counts, 0.5),
    p90_seconds_to_verify: quantileSeconds(counts, 0.9),
    cost: round(row.cost, 6),
  };
}

/**
 * The counters of the hours that start in [`from`, `to`) (ms; `from` is taken back to its hour),
 * grouped by `groupBy`: time groupings in time order (every bucket), the others by codes sent, most
 * first, at most `limit`.
 */
export async function analyticsReport(
  deps: Deps,
  claims: AccessClaims,
  query: { from: number; to: number; groupBy: GroupBy; limit?: number },
): Promise<{ items: AnalyticsItem[] } | Failure> {
  const key = keyOf[query.groupBy];
  const sums = sql.raw(VERIFY_COLUMNS.map((column) => `SUM(${column}) AS ${column}`).join(", "));
  const overTime = query.groupBy === "day" || query.groupBy === "hour";
  const order = overTime ? sql`key ASC` : sql`sent DESC, key ASC`;
  // A time series is never cut short (at most 24 × 400 rows); `limit` caps the other groupings.
  const limit = overTime ? sql`` : sql`LIMIT ${query.limit ?? 100}`;
  const results = await asAdmin(deps, claims, [
    sql`SELECT ${key} AS key, SUM(attempts) AS attempts, SUM(sent) AS sent, SUM(delivered) AS delivered, SUM(failed) AS failed,
        SUM(verified) AS verified, SUM(cost) AS cost, ${sums}
      FROM traffic_hourly WHERE hour >= ${hourOf(query.from)} AND hour < ${query.to}
      GROUP BY 1 ORDER BY ${order} ${limit}`,
  ]);
  if ("error" in results) return results;
  return { items: (results[0] as Row[]).map((row) => itemOf(row, query.groupBy)) };
}
