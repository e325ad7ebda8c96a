import { type SQL, sql } from "drizzle-orm";
import type { Config } from "../config";
import { all, batch, type Db } from "../db/client";
import {
  type BudgetState,
  budgetStateSql,
  codeBudget,
  ensureGuardSql,
  recordFailureSql,
  refundSql,
  reservedSql,
  reserveSql,
} from "../guards/budget";

// The per-phone "race gate". D1 has no interactive transactions, so every decision is one
// conditional UPDATE, and the statements that depend on it run in the same batch (one atomic
// round trip) and check a random per-request marker the UPDATE left behind. See src/db/STORAGE.md.

export type Purpose = "login" | "reset_password" | "change_phone";

const HOUR = 3_600_000;
const DAY = 86_400_000;

export type GuardState = {
  last_sent_at: number | null;
  hour_start: number;
  hour_count: number;
  day_start: number;
  day_count: number;
  fail_start: number;
  fail_count: number;
  locked_until: number | null;
};

/** Daily SMS caps that apply to this send (global and the number's country); empty when none are set. */
export type SmsCaps = { day: string; caps: { scope: string; limit: number }[]; counts: boolean };

/** The caps configured for a number of `country` on the UTC day of `now`. */
export function smsCaps(config: Config, country: string, now: number, counts: boolean): SmsCaps {
  const caps: { scope: string; limit: number }[] = [];
  // A send that delivers nothing (a test phone) neither spends nor waits for the budget.
  if (!counts) return { day: "", caps, counts };
  if (config.SMS_DAILY_LIMIT !== undefined) caps.push({ scope: "global", limit: config.SMS_DAILY_LIMIT });
  const countryLimit = config.SMS_COUNTRY_DAILY_LIMITS.get(country);
  if (countryLimit !== undefined) caps.push({ scope: `country:${country}`, limit: countryLimit });
  return { day: new Date(now).toISOString().slice(0, 10), caps, counts };
}

/** Who may ask for a code: every phone, only accounts with a password, or phones nobody else holds. */
export type Audience = { kind: "anyone" } | { kind: "password_holder" } | { kind: "unclaimed"; userId: string };

export type SendState = GuardState & { accepted: number; issued: number; taken: number; budget_exhausted: number };

/**
 * One batch that passes the send gate (lock, cooldown, hour and day windows, phone ownership),
 * counts the send, and replaces any earlier code of this phone and purpose with `codeId`.
 */
export async function openChallenge(
  db: Db,
  config: Config,
  input: { phone: string; purpose: Purpose; codeId: string; audience: Audience; marker: string; now: number; budget: SmsCaps },
  events: SQL[] = [],
): Promise<SendState> {
  const { phone, purpose, codeId, audience, marker, now, budget } = input;
  const spent = (scope: string) => sql`COALESCE((SELECT count FROM sms_budget WHERE day = ${budget.day} AND scope = ${scope}), 0)`;
  const withinBudget =
    budget.caps.length === 0
      ? sql`1`
      : sql.join(
          budget.caps.map((cap) => sql`${spent(cap.scope)} < ${cap.limit}`),
          sql` AND `,
        );
  const issued = issuedSql(phone, purpose, codeId);
  const countSpend = budget.counts
    ? budget.caps.map(
        (cap) => sql`INSERT INTO sms_budget (day, scope, count) SELECT ${budget.day}, ${cap.scope}, 1 WHERE ${issued}
          ON CONFLICT (day, scope) DO UPDATE SET count = count + 1`,
      )
    : [];
  const hourAgo = now - HOUR;
  const dayAgo = now - DAY;
  const taken =
    audience.kind === "unclaimed" ? sql`EXISTS (SELECT 1 FROM users WHERE phone = ${phone} AND id <> ${audience.userId})` : sql`0`;
  const eligible =
    audience.kind === "password_holder" ? sql`EXISTS (SELECT 1 FROM users WHERE phone = ${phone} AND password_hash IS NOT NULL)` : sql`1`;
  const boundUser = audience.kind === "unclaimed" ? audience.userId : null;
  const results = await batch(db, [
    ensureGuardSql(phone),
    sql`UPDATE phone_guards SET
        last_sent_at = ${now},
        hour_count = CASE WHEN hour_start <= ${hourAgo} THEN 1 ELSE hour_count + 1 END,
        hour_start = CASE WHEN hour_start <= ${hourAgo} THEN ${now} ELSE hour_start END,
        day_count = CASE WHEN day_start <= ${dayAgo} THEN 1 ELSE day_count + 1 END,
        day_start = CASE WHEN day_start <= ${dayAgo} THEN ${now} ELSE day_start END,
        send_marker = ${marker}
      WHERE phone = ${phone}
        AND (locked_until IS NULL OR locked_until <= ${now})
        AND (last_sent_at IS NULL OR last_sent_at <= ${now - config.OTP_RESEND_SECONDS * 1000})
        AND (hour_start <= ${hourAgo} OR hour_count < ${config.OTP_HOURLY_LIMIT})
        AND (day_start <= ${dayAgo} OR day_count < ${config.OTP_DAILY_LIMIT})
        AND NOT ${taken} AND ${withinBudget}`,
    sql`INSERT INTO otp_challenges (phone, purpose, code_id, user_id, attempts, expires_at)
      SELECT ${phone}, ${purpose}, ${codeId}, ${boundUser}, 0, ${now + config.OTP_TTL_SECONDS * 1000}
      WHERE EXISTS (SELECT 1 FROM phone_guards WHERE phone = ${phone} AND send_marker = ${marker}) AND ${eligible}
      ON CONFLICT (phone, purpose) DO UPDATE SET code_id = excluded.code_id, user_id = excluded.user_id,
        attempts = 0, wrong_attempts = 0, expires_at = excluded.expires_at, consumed_at = NULL, consume_marker = NULL`,
    sql`SELECT g.last_sent_at, g.hour_start, g.hour_count, g.day_start, g.day_count,
        g.fail_start, g.fail_count, g.locked_until,
        g.send_marker = ${marker} AS accepted,
        ${issued} AS issued, ${taken} AS taken, NOT ${withinBudget} AS budget_exhausted
      FROM phone_guards g WHERE g.phone = ${phone}`,
    ...countSpend,
    ...events,
  ]);
  const row = (results[3] as SendState[])[0];
  if (!row) throw new Error("phone_guards row missing after upsert");
  return row;
}

/** SQL condition: the code `codeId` was issued (the send passed every gate). */
export function issuedSql(phone: string, purpose: Purpose, codeId: string): SQL {
  return sql`EXISTS (SELECT 1 FROM otp_challenges WHERE phone = ${phone} AND purpose = ${purpose} AND code_id = ${codeId})`;
}

/** Undoes a send whose SMS failed: no live code is left, and the cooldown does not apply. */
export async function withdrawChallenge(db: Db, input: { phone: string; purpose: Purpose; codeId: string; marker: string }) {
  const { phone, purpose, codeId, marker } = input;
  await batch(db, [
    sql`UPDATE phone_guards SET last_sent_at = NULL WHERE phone = ${phone} AND send_marker = ${marker}`,
    sql`DELETE FROM otp_challenges WHERE phone = ${phone} AND purpose = ${purpose} AND code_id = ${codeId}`,
  ]);
}

export type Attempt = BudgetState & {
  last_sent_at: number | null;
  code_id: string | null;
  attempts: number | null;
  wrong_attempts: number | null;
  expires_at: number | null;
  consumed_at: number | null;
  user_id: string | null;
};

/**
 * Reserves one guess against the live code before it is evaluated: the code's attempt count and
 * the phone's failure budget are both taken up front, so N parallel guesses can never get more
 * than the budget evaluated. A right guess gives the phone's share back (`refundAttempt`).
 * `extraReads` ride in the same round trip.
 */
export async function reserveAttempt<T extends unknown[]>(
  db: Db,
  config: Config,
  input: { phone: string; purpose: Purpose; userId?: string; marker: string; now: number },
  extraReads: SQL[] = [],
): Promise<{ attempt: Attempt | undefined; extra: T }> {
  const { phone, purpose, marker, now } = input;
  const budget = codeBudget(config);
  const boundTo = input.userId === undefined ? sql`1` : sql`c.user_id = ${input.userId}`;
  const liveCode = sql`EXISTS (SELECT 1 FROM otp_challenges c WHERE c.phone = ${phone} AND c.purpose = ${purpose}
    AND c.consumed_at IS NULL AND c.expires_at > ${now} AND c.attempts < ${config.OTP_MAX_ATTEMPTS} AND ${boundTo})`;
  const results = await batch<unknown[][]>(db, [
    reserveSql(budget, phone, marker, now, liveCode),
    sql`UPDATE otp_challenges SET attempts = attempts + 1
      WHERE phone = ${phone} AND purpose = ${purpose} AND ${reservedSql(budget, phone, marker)}`,
    attemptStateSql(config, phone, purpose, marker),
    ...extraReads,
  ]);
  const [, , attemptRows, ...extra] = results as unknown as [unknown, unknown, Attempt[], ...T];
  return { attempt: attemptRows[0], extra: extra as T };
}

function attemptStateSql(config: Config, phone: string, purpose: Purpose, marker: string): SQL {
  return sql`SELECT g.last_sent_at, ${budgetStateSql(codeBudget(config), marker)}, c.code_id, c.attempts, c.wrong_attempts,
      c.expires_at, c.consumed_at, c.user_id
    FROM phone_guards g LEFT JOIN otp_challenges c ON c.phone = g.phone AND c.purpose = ${purpose}
    WHERE g.phone = ${phone}`;
}

/** Reads the attempt state again (for a refused guess waiting on evaluations in flight). */
export async function readAttempt(db: Db, config: Config, phone: string, purpose: Purpose): Promise<Attempt | undefined> {
  return (await all<Attempt>(db, attemptStateSql(config, phone, purpose, "")))[0];
}

/** Gives back the phone's share of a reserved guess that turned out not to be wrong. */
export function refundAttempt(config: Config, phone: string, failStart: number) {
  return refundSql(codeBudget(config), phone, failStart);
}

/**
 * Consumes the code: of parallel right guesses exactly one changes the row. Later statements
 * of the same batch check `consumedBy(marker)` to act only for the winner.
 */
export function consumeChallenge(input: { phone: string; purpose: Purpose; codeId: string; marker: string; now: number }) {
  const { phone, purpose, codeId, marker, now } = input;
  return sql`UPDATE otp_challenges SET consumed_at = ${now}, consume_marker = ${marker}
    WHERE phone = ${phone} AND purpose = ${purpose} AND code_id = ${codeId}
      AND consumed_at IS NULL AND expires_at > ${now}`;
}

/** SQL condition, true inside the batch only for the request whose `consumeChallenge` won. */
export function consumedBy(phone: string, purpose: Purpose, marker: string): SQL {
  return sql`EXISTS (SELECT 1 FROM otp_challenges WHERE phone = ${phone} AND purpose = ${purpose} AND consume_marker = ${marker})`;
}

/**
 * Records a confirmed wrong guess: counts it against the code and the phone, and the guess that
 * uses the phone's budget up starts the lock. `events` (audit inserts) ride in the same batch.
 */
export async function recordWrongGuess(
  db: Db,
  config: Config,
  input: { phone: string; purpose: Purpose; codeId: string; now: number },
  events: SQL[],
): Promise<{ count: number; locked_until: number | null } | undefined> {
  const [state] = await batch<[{ count: number; locked_until: number | null }[], ...unknown[][]]>(db, [
    recordFailureSql(codeBudget(config), input.phone, input.now),
    sql`UPDATE otp_challenges SET wrong_attempts = wrong_attempts + 1
      WHERE phone = ${input.phone} AND purpose = ${input.purpose} AND code_id = ${input.codeId}`,
    ...events,
  ]);
  return state[0];
}
