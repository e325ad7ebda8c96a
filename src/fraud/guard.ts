import { eventSql } from "../audit/events";
import type { Config } from "../config";
import { type SQL, sql } from "../db/sql";
import type { Deps } from "../deps";
import { markOn, ttlUntil } from "../limits/edge";
import { webhookSql } from "../webhooks/outbox";
import { type BlockScope, liveBlockSql } from "./blocks";
import { hourOf } from "./rollups";

// The automatic part of the fraud guard (spec: Fraud guard and analytics).
//
// SMS pumping: codes sent to a prefix (or a country) that stop being verified. Every code a
// provider accepted gets a row in `code_sends` (prefix, country, sent, verified), written with the
// send's delivery record after the answer. That same batch then judges the destination: one
// conditional INSERT per scope blocks it when, within FRAUD_WINDOW_SECONDS, it has at least
// FRAUD_MIN_SENDS (FRAUD_COUNTRY_MIN_SENDS) codes sent and the judged ones — verified, or older
// than FRAUD_GRACE_SECONDS — convert under FRAUD_MIN_CONVERSION. The INSERT's NOT EXISTS makes
// the decision exact: D1 runs statements one at a time, so of any number of racing sends one
// makes the block, and its audit and webhook events ride on that row existing. Sends before a
// lift are not judged again (an operator's lift is not undone by the next send).
//
// Guess storm: wrong guesses across all phones, counted per UTC hour in `counters`
// (`wrong_guesses:<hour>`); the hour before is weighed by how much of it is still inside the
// sliding hour. Above FRAUD_GLOBAL_FAILURES one conditional INSERT raises a `guess_storm` alarm
// for an hour (one event per alarm); its KV copy (`fraud:storm`) makes the JSON verify ask for a
// Turnstile token while it lasts.

const HOUR = 3_600_000;

/** The KV copy of an active guess storm: `{ "until": ms }`. */
export const STORM_KEY = "fraud:storm";

/** Whether a storm mark read from KV is active at `now`. */
export const stormActive = markOn;

export type SentCode = {
  codeId: string;
  phone: string;
  purpose: string;
  prefix: string;
  country: string | null;
  channel: string;
  provider: string;
  at: number;
};

/**
 * The send row of a code a provider accepted. If the verify that consumed it came first (it found
 * no row to mark), the consumption is taken from the challenge so the verification still counts.
 */
export function codeSentSql(code: SentCode): SQL {
  return sql`INSERT INTO code_sends (code_id, prefix, country, channel, provider, sent_at, verified_at)
    VALUES (${code.codeId}, ${code.prefix}, ${code.country}, ${code.channel}, ${code.provider}, ${code.at},
      (SELECT consumed_at FROM otp_challenges WHERE phone = ${code.phone} AND purpose = ${code.purpose} AND code_id = ${code.codeId}))
    ON CONFLICT (code_id) DO NOTHING`;
}

/** The verify's mark on the send row of the code it consumed (`won`: true only for that request). */
export function codeVerifiedSql(codeId: string, won: SQL, now: number): SQL {
  return sql`UPDATE code_sends SET verified_at = ${now} WHERE code_id = ${codeId} AND verified_at IS NULL AND ${won}`;
}

/** Thresholds of one scope of the automatic block. */
const ruleOf = (config: Config, scope: BlockScope) => ({
  minSends: scope === "prefix" ? config.FRAUD_MIN_SENDS : config.FRAUD_COUNTRY_MIN_SENDS,
  windowMs: config.FRAUD_WINDOW_SECONDS * 1000,
  graceMs: config.FRAUD_GRACE_SECONDS * 1000,
  minConversion: config.FRAUD_MIN_CONVERSION,
});

const MINUTE = 60_000;

/** The exclusive lower bound of the sends a destination is judged on: the window's start, or its last lift if later. */
const sinceSql = (scope: BlockScope, value: string, windowMs: number, now: number) =>
  sql`MAX(${now - windowMs}, COALESCE((SELECT MAX(lifted_at) FROM fraud_blocks WHERE scope = ${scope} AND value = ${value}), 0))`;

/** The rule's numbers for one destination (`s`: sends, verified, judged), counted row by row in `code_sends`. */
export function exactStatsSql(config: Config, scope: BlockScope, value: string, now: number): SQL {
  const rule = ruleOf(config, scope);
  const column = sql.raw(scope === "prefix" ? "prefix" : "country");
  return sql`(SELECT COUNT(*) AS sends, COALESCE(SUM(verified_at IS NOT NULL), 0) AS verified,
      COALESCE(SUM(verified_at IS NOT NULL OR sent_at <= ${now - rule.graceMs}), 0) AS judged
    FROM code_sends WHERE ${column} = ${value} AND sent_at > ${sinceSql(scope, value, rule.windowMs, now)}) s`;
}

/**
 * The same numbers for a country, which may send tens of thousands of codes an hour: the whole
 * minutes of the window come from `country_minutes` (one row each, kept by triggers on
 * `code_sends`), and only the two minutes a boundary cuts through — the window's first and the one
 * holding `now − FRAUD_GRACE_SECONDS` — are counted row by row, so the result is exact.
 */
export function countryStatsSql(config: Config, country: string, now: number): SQL {
  const rule = ruleOf(config, "country");
  const since = sinceSql("country", country, rule.windowMs, now);
  const judgedUpTo = now - rule.graceMs;
  const graceMinute = Math.floor(judgedUpTo / MINUTE);
  // D1 binds JavaScript numbers as REAL: the division must be made whole.
  const firstMinute = sql`CAST(${since} / ${MINUTE} AS INTEGER)`;
  const rows = (from: SQL, before: number | SQL) => sql`SELECT COUNT(*) AS sends, COALESCE(SUM(verified_at IS NOT NULL), 0) AS verified,
      COALESCE(SUM(verified_at IS NOT NULL OR sent_at <= ${judgedUpTo}), 0) AS judged
    FROM code_sends WHERE country = ${country} AND sent_at > ${from} AND sent_at < ${before}`;
  return sql`(SELECT SUM(sends) AS sends, SUM(verified) AS verified, SUM(judged) AS judged FROM (
      SELECT COALESCE(SUM(sends), 0) AS sends, COALESCE(SUM(verified), 0) AS verified,
        COALESCE(SUM(verified + CASE WHEN minute < ${graceMinute} THEN sends - verified ELSE 0 END), 0) AS judged
      FROM country_minutes WHERE country = ${country} AND minute > ${firstMinute} AND minute <> ${graceMinute}
      UNION ALL ${rows(since, sql`(${firstMinute} + 1) * ${MINUTE}`)}
      UNION ALL ${rows(sql`MAX(${since}, ${graceMinute * MINUTE - 1})`, (graceMinute + 1) * MINUTE)} AND ${graceMinute} > ${firstMinute}
    )) s`;
}

/** The rule's numbers for one destination: codes sent, judged and verified in the window since its last lift (`s`). */
function windowStatsSql(config: Config, scope: BlockScope, value: string, now: number): SQL {
  return scope === "country" ? countryStatsSql(config, value, now) : exactStatsSql(config, scope, value, now);
}

/** SQL condition over `s`: the destination trips the rule and has no active block. */
function tripsSql(config: Config, scope: BlockScope, value: string, now: number): SQL {
  const rule = ruleOf(config, scope);
  return sql`s.sends >= ${rule.minSends} AND s.judged > 0 AND s.verified < ${rule.minConversion} * s.judged
    AND NOT EXISTS (SELECT 1 FROM fraud_blocks WHERE scope = ${scope} AND value = ${value} AND ${liveBlockSql(now)})`;
}

/**
 * One read, in the send's record batch: which of the code's destinations trip the rule now
 * (`prefix_trips`, `country_trips`). Almost always neither, so the block and its events — a
 * batch of their own — are built and sent only when one does.
 */
export function judgeSql(config: Config, destination: { prefix: string; country: string | null }, now: number): SQL {
  const judge = (scope: BlockScope, value: string | null) =>
    value === null
      ? sql`0`
      : sql`EXISTS (SELECT 1 FROM ${windowStatsSql(config, scope, value, now)} WHERE ${tripsSql(config, scope, value, now)})`;
  return sql`SELECT ${judge("prefix", destination.prefix)} AS prefix_trips, ${judge("country", destination.country)} AS country_trips`;
}

/**
 * The automatic block of one destination that `judgeSql` found tripping: the block INSERT, which
 * decides again (exact: of racing sends one makes the block), then its audit and webhook events
 * guarded by the row it made. `RETURNING` tells the caller to write the KV edge copy.
 */
export async function autoBlockStatements(deps: Deps, scope: BlockScope, value: string): Promise<SQL[]> {
  const { config, now } = deps;
  const id = crypto.randomUUID();
  const until = now + config.FRAUD_BLOCK_SECONDS * 1000;
  const made = sql`EXISTS (SELECT 1 FROM fraud_blocks WHERE id = ${id})`;
  const numbers = (name: string) => sql`(SELECT ${sql.raw(name)} FROM fraud_blocks WHERE id = ${id})`;
  const reason = `conversion under ${config.FRAUD_MIN_CONVERSION} in ${config.FRAUD_WINDOW_SECONDS} s`;
  return [
    sql`INSERT INTO fraud_blocks (id, scope, value, reason, source, created_at, until, sends, judged, verified)
      SELECT ${id}, ${scope}, ${value}, ${reason}, 'auto', ${now}, ${until}, s.sends, s.judged, s.verified
      FROM ${windowStatsSql(config, scope, value, now)}
      WHERE ${tripsSql(config, scope, value, now)}
      RETURNING scope, value, until`,
    await eventSql(
      deps,
      {
        type: "destination_blocked",
        detail: {
          by: "fraud_guard",
          block_id: id,
          scope,
          value,
          sends: numbers("sends"),
          judged: numbers("judged"),
          verified: numbers("verified"),
        },
      },
      made,
    ),
    webhookSql({
      type: "destination.blocked",
      data: {
        block_id: id,
        scope,
        value,
        until: new Date(until).toISOString(),
        reason,
        source: "auto",
        sends: numbers("sends"),
        judged: numbers("judged"),
        verified: numbers("verified"),
      },
      now,
      when: made,
    }),
  ];
}

const counterName = (hour: number) => `wrong_guesses:${String(hour).padStart(13, "0")}`;

/** Name of the oldest wrong-guess counter still needed at `now` (the retention job drops older ones). */
export const oldestStormCounter = (now: number) => counterName(hourOf(now) - HOUR);

/**
 * A wrong guess's part in the storm alarm (`wrong`: true only when this request's guess was
 * evaluated wrong): the hour's counter, the alarm when the sliding hour's estimate passes
 * FRAUD_GLOBAL_FAILURES and none is active (`RETURNING until AS storm_until`: see `raisedStorm`), and its audit event.
 */
export async function stormStatements(deps: Deps, wrong: SQL): Promise<SQL[]> {
  const { config, now } = deps;
  const hour = hourOf(now);
  const id = crypto.randomUUID();
  const current = sql`COALESCE((SELECT value FROM counters WHERE name = ${counterName(hour)}), 0)`;
  const previous = sql`COALESCE((SELECT value FROM counters WHERE name = ${counterName(hour - HOUR)}), 0)`;
  const estimate = sql`(${current} + CAST(${previous} * ${1 - (now - hour) / HOUR} AS INTEGER))`;
  return [
    sql`INSERT INTO counters (name, value) SELECT ${counterName(hour)}, 1 WHERE ${wrong}
      ON CONFLICT (name) DO UPDATE SET value = value + 1`,
    sql`INSERT INTO fraud_alarms (id, kind, raised_at, until, failures)
      SELECT ${id}, 'guess_storm', ${now}, ${now + HOUR}, ${estimate}
      WHERE ${wrong} AND ${estimate} > ${config.FRAUD_GLOBAL_FAILURES}
        AND NOT EXISTS (SELECT 1 FROM fraud_alarms WHERE kind = 'guess_storm' AND until > ${now})
      RETURNING until AS storm_until`,
    await eventSql(
      deps,
      {
        type: "guess_storm",
        detail: { failures: sql`(SELECT failures FROM fraud_alarms WHERE id = ${id})`, threshold: config.FRAUD_GLOBAL_FAILURES },
      },
      sql`EXISTS (SELECT 1 FROM fraud_alarms WHERE id = ${id})`,
    ),
  ];
}

/** The end of the storm alarm a batch with `stormStatements` raised, from its results; undefined when it raised none. */
export function raisedStorm(results: unknown[][]): number | undefined {
  for (const rows of results) {
    const until = (rows[0] as { storm_until?: unknown } | undefined)?.storm_until;
    if (typeof until === "number") return until;
  }
  return undefined;
}

/** Writes the KV copy of a raised storm (after the answer; it only adds a captcha, never lets anything through). */
export function markStorm(deps: Pick<Deps, "kv" | "now" | "request">, until: number) {
  deps.request.defer(
    deps.kv
      .put(STORM_KEY, JSON.stringify({ until }), { expirationTtl: ttlUntil(until, deps.now) })
      .catch((error) => console.warn(`storm mark skipped: ${error instanceof Error ? error.message : "unknown"}`)),
  );
}
