import type { Config } from "../config";
import { batch, type Db } from "../db/client";
import { type SQL, sql } from "../db/sql";
import {
  codeFailLimit,
  countedSql,
  countSql,
  fullSql,
  recordSql,
  roomSql,
  sendIpLimit,
  sendPhoneLimit,
  stateColumnsSql,
  verifyIpLimit,
} from "../limits/sliding";

// The per-phone "race gate". D1 has no interactive transactions, so every decision is one
// conditional statement, and the statements that depend on it run in the same batch (one atomic
// round trip) and check a random per-request marker it left behind. See src/db/STORAGE.md.

export type Purpose = "login" | "reset_password" | "change_phone";

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

/**
 * Who may get a real code: every phone, accounts with a password (anyone else gets a decoy that
 * no guess can consume, so the exchange looks the same), or phones nobody else holds.
 */
export type Audience =
  | { kind: "anyone" }
  | { kind: "password_holder" }
  /** A `change_phone` code: for the caller (whose session must still be live: `callerLive`), to a number nobody else holds. */
  | { kind: "unclaimed"; userId: string; callerLive: SQL };

export type SendState = Record<string, unknown> & {
  ip_counted: number;
  last_sent_at: number | null;
  locked_until: number | null;
  accepted: number;
  issued: number;
  decoy: number;
  caller_live: number;
  taken: number;
  budget_exhausted: number;
};

/** The limits one send counts against. */
export const sendLimits = (config: Config, phone: string, ip: string) => ({
  ip: sendIpLimit(config, ip),
  phone: sendPhoneLimit(config, phone),
});

/**
 * One batch, in the contract's order of checks: the per-IP send windows count the request; the
 * per-phone gate (lock, cooldown, hour and day windows, ownership, SMS budget) accepts it; the
 * code `codeId` replaces any earlier one of this phone and purpose; the state comes back to name
 * a refusal; the budget and `events` are written only for a code really issued.
 */
export async function openChallenge(
  db: Db,
  config: Config,
  input: { phone: string; purpose: Purpose; codeId: string; audience: Audience; marker: string; now: number; budget: SmsCaps; ip: string },
  events: SQL[] = [],
): Promise<SendState> {
  const { phone, purpose, codeId, audience, marker, now, budget } = input;
  const limits = sendLimits(config, phone, input.ip);
  const spent = (scope: string) => sql`COALESCE((SELECT count FROM sms_budget WHERE day = ${budget.day} AND scope = ${scope}), 0)`;
  const withinBudget =
    budget.caps.length === 0
      ? sql`1`
      : sql.join(
          budget.caps.map((cap) => sql`${spent(cap.scope)} < ${cap.limit}`),
          sql` AND `,
        );
  const ipCounted = countedSql(limits.ip, marker, now);
  const accepted = sql`EXISTS (SELECT 1 FROM phone_guards WHERE phone = ${phone} AND send_marker = ${marker})`;
  const real = realCodeSql(phone, purpose, codeId);
  const countSpend = budget.counts
    ? budget.caps.map(
        (cap) => sql`INSERT INTO sms_budget (day, scope, count) SELECT ${budget.day}, ${cap.scope}, 1 WHERE ${real}
          ON CONFLICT (day, scope) DO UPDATE SET count = count + 1`,
      )
    : [];
  const taken =
    audience.kind === "unclaimed" ? sql`EXISTS (SELECT 1 FROM users WHERE phone = ${phone} AND id <> ${audience.userId})` : sql`0`;
  const decoy =
    audience.kind === "password_holder"
      ? sql`NOT EXISTS (SELECT 1 FROM users WHERE phone = ${phone} AND password_hash IS NOT NULL)`
      : sql`0`;
  const boundUser = audience.kind === "unclaimed" ? audience.userId : null;
  // The caller's session is checked in this same batch, not in a read before it (one round trip).
  const callerLive = audience.kind === "unclaimed" ? audience.callerLive : sql`1`;
  const results = await batch(db, [
    countSql(limits.ip, marker, now),
    // The conditions every send meets in the SELECT; those of an existing guard row (lock,
    // cooldown) in the upsert's DO UPDATE: a first send writes the row, a refused one writes nothing.
    sql`INSERT INTO phone_guards (phone, last_sent_at, send_marker)
      SELECT ${phone}, ${now}, ${marker}
      WHERE ${ipCounted} AND ${roomSql(limits.phone, now)} AND ${callerLive} AND NOT ${taken} AND ${withinBudget}
      ON CONFLICT (phone) DO UPDATE SET last_sent_at = excluded.last_sent_at, send_marker = excluded.send_marker
      WHERE (locked_until IS NULL OR locked_until <= ${now})
        AND (last_sent_at IS NULL OR last_sent_at <= ${now - config.OTP_RESEND_SECONDS * 1000})`,
    recordSql(limits.phone, marker, now, accepted),
    sql`INSERT INTO otp_challenges (phone, purpose, code_id, user_id, attempts, decoy, expires_at)
      SELECT ${phone}, ${purpose}, ${codeId}, ${boundUser}, 0, ${decoy}, ${now + config.OTP_TTL_SECONDS * 1000} WHERE ${accepted}
      ON CONFLICT (phone, purpose) DO UPDATE SET code_id = excluded.code_id, user_id = excluded.user_id, attempts = 0,
        decoy = excluded.decoy, expires_at = excluded.expires_at, consumed_at = NULL, consume_marker = NULL, verify_marker = NULL`,
    sql`SELECT ${ipCounted} AS ip_counted, ${stateColumnsSql(limits.ip, now, "ip")},
        g.last_sent_at, g.locked_until, g.send_marker = ${marker} AS accepted, ${stateColumnsSql(limits.phone, now, "phone")},
        ${issuedSql(phone, purpose, codeId)} AS issued,
        COALESCE((SELECT decoy FROM otp_challenges WHERE phone = ${phone} AND purpose = ${purpose} AND code_id = ${codeId}), 0) AS decoy,
        ${callerLive} AS caller_live, ${taken} AS taken, NOT ${withinBudget} AS budget_exhausted
      FROM (SELECT 1) LEFT JOIN phone_guards g ON g.phone = ${phone}`,
    ...countSpend,
    ...events,
  ]);
  const row = (results[4] as SendState[])[0];
  if (!row) throw new Error("send state missing");
  return row;
}

/** SQL condition: the code `codeId` was issued (the send passed every gate), decoy or not. */
export function issuedSql(phone: string, purpose: Purpose, codeId: string): SQL {
  return sql`EXISTS (SELECT 1 FROM otp_challenges WHERE phone = ${phone} AND purpose = ${purpose} AND code_id = ${codeId})`;
}

/** SQL condition: the code `codeId` was issued and is no decoy, so it goes out and costs. */
export function realCodeSql(phone: string, purpose: Purpose, codeId: string): SQL {
  return sql`EXISTS (SELECT 1 FROM otp_challenges WHERE phone = ${phone} AND purpose = ${purpose} AND code_id = ${codeId} AND decoy = 0)`;
}

/** Undoes a send whose delivery failed: no live code is left, and the cooldown does not apply (the windows keep it). */
export async function withdrawChallenge(db: Db, input: { phone: string; purpose: Purpose; codeId: string; marker: string }) {
  const { phone, purpose, codeId, marker } = input;
  await batch(db, [
    sql`UPDATE phone_guards SET last_sent_at = NULL WHERE phone = ${phone} AND send_marker = ${marker}`,
    sql`DELETE FROM otp_challenges WHERE phone = ${phone} AND purpose = ${purpose} AND code_id = ${codeId}`,
  ]);
}

/** The limits one guess counts against. */
export const guessLimits = (config: Config, phone: string, ip: string) => ({
  ip: verifyIpLimit(config, ip),
  phone: codeFailLimit(config, phone),
});

export type GuessInput = {
  phone: string;
  purpose: Purpose;
  /** The code the guess was compared with (from KV), and whether it matched. */
  codeId: string | null;
  right: boolean;
  userId?: string;
  marker: string;
  now: number;
  ip: string;
  /** Already counted in an earlier batch of this request (a second look after a stale KV read). */
  ipCounted?: boolean;
  /** Extra conditions a right guess must meet to be evaluated (e.g. the invite rules at sign-up). */
  rightRequires?: SQL;
};

/**
 * The guess's decision, as the first statements of its batch: the per-IP verify window counts
 * the request; then one UPDATE evaluates the guess only if the code is live, unspent and still
 * `codeId`, the phone is not locked and its failure window has room, and the IP window took it.
 * A right guess (never one against a decoy) consumes the code in that same statement, so of
 * parallel right guesses exactly one wins; a wrong one is then counted against the phone, and the
 * failure that fills the window starts the lock. Later statements use `wonSql` / `wrongSql`.
 */
export function guessStatements(config: Config, input: GuessInput): SQL[] {
  const { phone, purpose, marker, now } = input;
  const limits = guessLimits(config, phone, input.ip);
  const boundTo = input.userId === undefined ? sql`1` : sql`user_id = ${input.userId}`;
  const right = input.right ? sql`1` : sql`0`;
  const consumes = sql`${right} AND decoy = 0 AND ${input.rightRequires ?? sql`1`}`;
  const lockMs = config.OTP_LOCKOUT_SECONDS * 1000;
  return [
    ...(input.ipCounted ? [] : [countSql(limits.ip, marker, now)]),
    sql`UPDATE otp_challenges SET attempts = attempts + 1, verify_marker = ${marker},
        consumed_at = CASE WHEN ${consumes} THEN ${now} ELSE consumed_at END,
        consume_marker = CASE WHEN ${consumes} THEN ${marker} ELSE consume_marker END
      WHERE phone = ${phone} AND purpose = ${purpose} AND code_id = ${input.codeId ?? ""} AND ${boundTo}
        AND consumed_at IS NULL AND expires_at > ${now} AND attempts < ${config.OTP_MAX_ATTEMPTS}
        AND (NOT ${right} OR decoy = 1 OR ${input.rightRequires ?? sql`1`})
        AND ${countedSql(limits.ip, marker, now)}
        AND NOT EXISTS (SELECT 1 FROM phone_guards WHERE phone = ${phone} AND locked_until > ${now})
        AND ${roomSql(limits.phone, now)}`,
    ...(guessCanFail(input)
      ? [
          recordSql(limits.phone, marker, now, wrongSql(phone, purpose, marker)),
          sql`UPDATE phone_guards SET locked_until = ${now + lockMs}
            WHERE phone = ${phone} AND ${wrongSql(phone, purpose, marker)} AND ${fullSql(limits.phone, now)}`,
        ]
      : []),
  ];
}

/**
 * Whether the guess may turn out wrong inside its batch: a wrong one, or a right one against a
 * possible decoy (reset codes only). A right login or phone-change guess cannot, so its batch
 * leaves out the failure statements (they would never fire).
 */
export function guessCanFail(input: Pick<GuessInput, "right" | "purpose">): boolean {
  return !input.right || input.purpose === "reset_password";
}

/** SQL condition, true inside the batch only for the request whose guess consumed the code. */
export function wonSql(phone: string, purpose: Purpose, marker: string): SQL {
  return sql`EXISTS (SELECT 1 FROM otp_challenges WHERE phone = ${phone} AND purpose = ${purpose} AND consume_marker = ${marker})`;
}

/** SQL condition: this request's guess was evaluated and did not consume the code (a wrong guess). */
export function wrongSql(phone: string, purpose: Purpose, marker: string): SQL {
  return sql`EXISTS (SELECT 1 FROM otp_challenges WHERE phone = ${phone} AND purpose = ${purpose}
    AND verify_marker = ${marker} AND consume_marker IS NOT ${marker})`;
}

/** SQL condition: this request's wrong guess started the phone's lock. */
export function lockStartedSql(config: Config, phone: string, purpose: Purpose, marker: string, now: number): SQL {
  return sql`(${wrongSql(phone, purpose, marker)} AND EXISTS (SELECT 1 FROM phone_guards
    WHERE phone = ${phone} AND locked_until = ${now + config.OTP_LOCKOUT_SECONDS * 1000}))`;
}

export type GuessState = Record<string, unknown> & {
  ip_counted: number;
  evaluated: number;
  won: number;
  code_id: string | null;
  attempts: number | null;
  expires_at: number | null;
  consumed_at: number | null;
  user_id: string | null;
  last_sent_at: number | null;
  locked_until: number | null;
};

/** The closing read of a guess's batch: what happened, and the state that names a refusal. */
export function guessStateSql(config: Config, input: Pick<GuessInput, "phone" | "purpose" | "marker" | "now" | "ip">): SQL {
  const { phone, purpose, marker, now } = input;
  const limits = guessLimits(config, phone, input.ip);
  return sql`SELECT ${countedSql(limits.ip, marker, now)} AS ip_counted, ${stateColumnsSql(limits.ip, now, "ip")},
      c.verify_marker IS ${marker} AS evaluated, c.consume_marker IS ${marker} AS won,
      c.code_id, c.attempts, c.expires_at, c.consumed_at, c.user_id,
      g.last_sent_at, g.locked_until, ${stateColumnsSql(limits.phone, now, "phone")}
    FROM (SELECT 1) LEFT JOIN otp_challenges c ON c.phone = ${phone} AND c.purpose = ${purpose}
      LEFT JOIN phone_guards g ON g.phone = ${phone}`;
}
