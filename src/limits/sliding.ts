import type { Config } from "../config";
import { type SQL, sql } from "../db/sql";
import { type Failure, fail } from "../http/problem";

// Exact sliding windows in D1 (table `rate_events`, one row per counted event). "At most N per
// window" means no interval of the window's length ever holds more than N events, not only fixed
// windows that restart (those let ~2N through around a boundary). The test and the write are one
// conditional INSERT, so parallel requests cannot overshoot: D1 runs statements one at a time.
// See src/db/STORAGE.md.

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** The longest window of any limit: rows older than this are dead (the retention job drops them). */
export const LONGEST_WINDOW_MS = DAY;

export type SlidingWindow = { limit: number; ms: number };

/** What one request counts against: a scope (what is counted), a key (an IP or a phone), its windows. */
export type Limit = { scope: Scope; key: string; windows: SlidingWindow[] };

export type Scope = "send_ip" | "verify_ip" | "password_ip" | "passkey_ip" | "send_phone" | "code_fail" | "password_fail";

/** Per-IP sends (`OTP_IP_PER_MINUTE`, `OTP_IP_PER_DAY`): every send request that reaches the gate. */
export const sendIpLimit = (config: Config, ip: string): Limit => ({
  scope: "send_ip",
  key: ip,
  windows: [
    { limit: config.OTP_IP_PER_MINUTE, ms: MINUTE },
    { limit: config.OTP_IP_PER_DAY, ms: DAY },
  ],
});

/** Per-IP guesses at one-time codes (verify, password reset, phone change share it). */
export const verifyIpLimit = (config: Config, ip: string): Limit => ({
  scope: "verify_ip",
  key: ip,
  windows: [{ limit: config.VERIFY_IP_PER_MINUTE, ms: MINUTE }],
});

/** Per-IP password sign-ins. */
export const passwordIpLimit = (config: Config, ip: string): Limit => ({
  scope: "password_ip",
  key: ip,
  windows: [{ limit: config.PASSWORD_IP_PER_MINUTE, ms: MINUTE }],
});

/** Per-IP passkey sign-in steps (options and verify, API and pages): bounds challenge rows and signature checks. */
export const passkeyIpLimit = (config: Config, ip: string): Limit => ({
  scope: "passkey_ip",
  key: ip,
  windows: [{ limit: config.PASSKEY_IP_PER_MINUTE, ms: MINUTE }],
});

/** Accepted sends per phone (`OTP_HOURLY_LIMIT`, `OTP_DAILY_LIMIT`); a failed delivery still counts. */
export const sendPhoneLimit = (config: Config, phone: string): Limit => ({
  scope: "send_phone",
  key: phone,
  windows: [
    { limit: config.OTP_HOURLY_LIMIT, ms: HOUR },
    { limit: config.OTP_DAILY_LIMIT, ms: DAY },
  ],
});

/** Wrong codes per phone, across codes and purposes (NIST SP 800-63B-4 §3.2.2). */
export const codeFailLimit = (config: Config, phone: string): Limit => ({
  scope: "code_fail",
  key: phone,
  windows: [{ limit: config.OTP_LOCKOUT_FAILURES, ms: config.OTP_LOCKOUT_SECONDS * 1000 }],
});

/** Failed passwords per phone (login and reauthentication). */
export const passwordFailLimit = (config: Config, phone: string): Limit => ({
  scope: "password_fail",
  key: phone,
  windows: [{ limit: config.PASSWORD_LOCKOUT_FAILURES, ms: config.PASSWORD_LOCKOUT_SECONDS * 1000 }],
});

const countIn = (limit: Limit, window: SlidingWindow, now: number) =>
  sql`(SELECT COUNT(*) FROM rate_events WHERE scope = ${limit.scope} AND key = ${limit.key} AND at > ${now - window.ms})`;

/** SQL condition: every window of `limit` has room for one more event at `now`. */
export function roomSql(limit: Limit, now: number): SQL {
  return sql.join(
    limit.windows.map((window) => sql`${countIn(limit, window, now)} < ${window.limit}`),
    sql` AND `,
  );
}

/** SQL condition: some window of `limit` is full at `now` (the event that fills it has been counted). */
export function fullSql(limit: Limit, now: number): SQL {
  return sql`NOT (${roomSql(limit, now)})`;
}

/** Counts one event for `marker` if every window has room and `alsoRequire` holds (one conditional INSERT). */
export function countSql(limit: Limit, marker: string, now: number, alsoRequire: SQL = sql`1`): SQL {
  return sql`INSERT INTO rate_events (scope, key, at, marker)
    SELECT ${limit.scope}, ${limit.key}, ${now}, ${marker} WHERE ${roomSql(limit, now)} AND ${alsoRequire}`;
}

/** Counts one event for `marker` when `when` holds, whatever the windows say (a failure that happened). */
export function recordSql(limit: Limit, marker: string, now: number, when: SQL): SQL {
  return sql`INSERT INTO rate_events (scope, key, at, marker) SELECT ${limit.scope}, ${limit.key}, ${now}, ${marker} WHERE ${when}`;
}

/** SQL condition: the event of `marker` was counted (for later statements of the same batch). */
export function countedSql(limit: Limit, marker: string, now: number): SQL {
  return sql`EXISTS (SELECT 1 FROM rate_events WHERE scope = ${limit.scope} AND key = ${limit.key} AND at = ${now} AND marker = ${marker})`;
}

/** Takes back the event of `marker` (a reserved failure that turned out not to be one). */
export function uncountSql(limit: Limit, marker: string, now: number): SQL {
  return sql`DELETE FROM rate_events WHERE scope = ${limit.scope} AND key = ${limit.key} AND at = ${now} AND marker = ${marker}`;
}

/** Forgets every event of the key (a reset by SMS ends the password failures). */
export function clearSql(limit: Limit, when: SQL = sql`1`): SQL {
  return sql`DELETE FROM rate_events WHERE scope = ${limit.scope} AND key = ${limit.key} AND ${when}`;
}

/**
 * Reads each window's count and oldest event at `now` as columns `<prefix>_n<i>` and
 * `<prefix>_o<i>` (to put in a batch's closing SELECT), for `windowState`.
 */
export function stateColumnsSql(limit: Limit, now: number, prefix: string): SQL {
  return sql.join(
    limit.windows.map((window, i) => {
      const where = sql`scope = ${limit.scope} AND key = ${limit.key} AND at > ${now - window.ms}`;
      return sql`(SELECT COUNT(*) FROM rate_events WHERE ${where}) AS ${sql.identifier(`${prefix}_n${i}`)},
        (SELECT MIN(at) FROM rate_events WHERE ${where}) AS ${sql.identifier(`${prefix}_o${i}`)}`;
    }),
    sql`, `,
  );
}

/** The window with the least left: its limit, what is left, seconds until an event leaves it. */
export type WindowState = { limit: number; remaining: number; reset: number; full: boolean; freeAt: number };

/**
 * Interprets the columns of `stateColumnsSql`: the tightest window (a full one first). `reset` is
 * the seconds until its oldest event slides out, when one more request fits again.
 */
export function windowState(limit: Limit, row: Record<string, unknown>, prefix: string, now: number): WindowState {
  const states = limit.windows.map((window, i): WindowState => {
    const count = Number(row[`${prefix}_n${i}`] ?? 0);
    const oldest = row[`${prefix}_o${i}`];
    const freeAt = typeof oldest === "number" ? oldest + window.ms : now + window.ms;
    return {
      limit: window.limit,
      remaining: Math.max(0, window.limit - count),
      reset: secondsUntil(freeAt, now),
      full: count >= window.limit,
      freeAt,
    };
  });
  if (states.length === 0) throw new Error(`limit ${limit.scope} has no windows`);
  return tightest(...(states as [WindowState, ...WindowState[]]));
}

/** A lock as a window: full, with `limit` (the window that started it), until `until` (ms). */
export function lockedWindow(limit: number, until: number, now: number): WindowState {
  return { limit, remaining: 0, full: true, freeAt: until, reset: secondsUntil(until, now) };
}

/** The end of a lock D1 holds (a phone's code or password lock), when one is on at `now`. */
export const lockOn = (state: { locked_until: number | null }, now: number): number | null =>
  state.locked_until != null && state.locked_until > now ? state.locked_until : null;

/** Whole seconds from `now` until `ms` (at least 1): what `Retry-After` and `RateLimit-Reset` say. */
export const secondsUntil = (ms: number, now: number) => Math.max(1, Math.ceil((ms - now) / 1000));

/** A 429 for a full window or a lock: `retry_after` and `RateLimit-*` (its `limit`, 0 left, reset = Retry-After). */
export function windowRefusal(
  code: "rate_limited" | "too_many_attempts" | "resend_too_soon",
  detail: string,
  limit: number,
  reset: number,
): Failure {
  return { ...fail(code, { detail, retry_after: reset }), headers: rateLimitHeaders({ limit, remaining: 0, reset }) };
}

/**
 * Of the windows a request counts in (its IP's and its phone's), the one with the least left, which
 * `RateLimit-*` names (spec: Rate limits): a full window before any other, the one that frees last
 * among full ones; otherwise the fewest remaining, the later reset on a tie.
 */
export function tightest(...states: [WindowState, ...WindowState[]]): WindowState {
  return states.reduce((best, state) => {
    if (state.full !== best.full) return state.full ? state : best;
    if (state.full) return state.freeAt > best.freeAt ? state : best;
    if (state.remaining !== best.remaining) return state.remaining < best.remaining ? state : best;
    return state.reset > best.reset ? state : best;
  });
}

/** The `RateLimit-*` headers of one window: its limit, what is left, seconds until it frees. */
export function rateLimitHeaders(window: { limit: number; remaining: number; reset: number }): Record<string, string> {
  return {
    "RateLimit-Limit": String(window.limit),
    "RateLimit-Remaining": String(Math.max(0, window.remaining)),
    "RateLimit-Reset": String(window.reset),
  };
}
