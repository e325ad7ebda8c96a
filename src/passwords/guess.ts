import { eventSql, userOfPhone } from "../audit/events";
import { randomToken } from "../crypto";
import { batch } from "../db/client";
import { type SQL, sql } from "../db/sql";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import { type EdgeMarks, edgeIpKey, edgePhoneKey, edgeRefuses, markEdge, readEdge } from "../limits/edge";
import { ipRefusal } from "../limits/ip";
import {
  countedSql,
  countSql,
  fullSql,
  lockedWindow,
  lockOn,
  passwordFailLimit,
  passwordIpLimit,
  rateLimitHeaders,
  stateColumnsSql,
  tightest,
  uncountSql,
  type WindowState,
  windowRefusal,
  windowState,
} from "../limits/sliding";
import { verifyPassword } from "./hash";

export type PasswordGuess<T extends unknown[][]> = {
  right: boolean;
  /** Statements for the caller's batch that give a right guess's reserved failure back. */
  refund: SQL[];
  headers: Record<string, string>;
  extra: T;
};

/**
 * NIST SP 800-63B-4 §3.2.2: at most 100 consecutive failed attempts on one account. The window
 * alone frees up every PASSWORD_LOCKOUT_SECONDS; this streak only resets on a right password or a
 * reset by SMS, which is then the way back in (SMS sign-in is never affected).
 */
export const MAX_PASSWORD_FAIL_STREAK = 100;

/** 429 for a phone whose password sign-in is locked, with its `RateLimit-*` (0 left, reset = Retry-After). */
const passwordLocked = (limit: number, wait: number): Failure =>
  windowRefusal("too_many_attempts", "Too many failed sign-ins for this phone. Try again later.", limit, wait);

/**
 * Checks a password for `phone` under the per-phone password window: a failure is reserved
 * (counted in `rate_events`) before the slow hash runs, so parallel guesses cannot exceed it; a
 * right guess takes its reservation back in the caller's batch, a wrong one stays counted, and
 * the one that fills the window starts the lock. With `countIp` the per-IP window counts the
 * request in the same first round trip. `storedHash` is read there too; unknown phones and
 * accounts without a password hash a dummy, so every failure costs the same.
 */
export async function guessPassword<T extends unknown[][] = []>(
  deps: Deps,
  input: { phone: string; password: string; storedHash: SQL; extraReads?: SQL[]; context: "login" | "reauthentication"; countIp?: boolean },
): Promise<PasswordGuess<T> | Failure> {
  const { config, db, kv, now, request } = deps;
  const ipLimit = passwordIpLimit(config, request.ip);
  const failLimit = passwordFailLimit(config, input.phone);
  // Login reads its IP's and its phone's edge marks in one KV call: a tripped IP, or a phone whose
  // password sign-in is locked, is refused with no D1 round trip.
  let edge: { ip: EdgeMarks | null; phone: EdgeMarks | null } = { ip: null, phone: null };
  if (input.countIp) {
    edge = await readEdge(kv, request.ip, input.phone);
    const full = edgeRefuses(edge.ip, "password_ip", now);
    if (full) return ipRefusal(full.limit, full.wait, "too_many_attempts");
    const locked = edgeRefuses(edge.phone, "password_lock", now);
    if (locked) return passwordLocked(locked.limit, locked.wait);
  }
  const marker = randomToken();
  const ipCounted = input.countIp ? countedSql(ipLimit, marker, now) : sql`1`;
  const results = await batch<unknown[][]>(db, [
    ...(input.countIp ? [countSql(ipLimit, marker, now)] : []),
    sql`INSERT INTO phone_guards (phone) SELECT ${input.phone} WHERE ${ipCounted} ON CONFLICT (phone) DO NOTHING`,
    countSql(
      failLimit,
      marker,
      now,
      sql`${ipCounted} AND NOT EXISTS (SELECT 1 FROM phone_guards WHERE phone = ${input.phone}
        AND ((pw_locked_until IS NOT NULL AND pw_locked_until > ${now}) OR pw_fail_streak >= ${MAX_PASSWORD_FAIL_STREAK}))`,
    ),
    sql`SELECT ${ipCounted} AS ip_counted, ${countedSql(failLimit, marker, now)} AS reserved,
        ${input.countIp ? sql`${stateColumnsSql(ipLimit, now, "ip")},` : sql``}
        ${stateColumnsSql(failLimit, now, "fail")}, g.pw_locked_until AS locked_until, COALESCE(g.pw_fail_streak, 0) AS streak,
        (${input.storedHash}) AS hash
      FROM (SELECT 1) LEFT JOIN phone_guards g ON g.phone = ${input.phone}`,
    ...(input.extraReads ?? []),
  ]);
  const offset = input.countIp ? 3 : 2;
  const state = (results[offset] as Record<string, unknown>[])[0] as Record<string, unknown> & {
    ip_counted: number;
    reserved: number;
    locked_until: number | null;
    streak: number;
    hash: string | null;
  };
  const extra = results.slice(offset + 1) as unknown as T;
  const ipWindow = input.countIp ? windowState(ipLimit, state, "ip", now) : null;
  if (ipWindow) {
    if (ipWindow.full) markEdge(deps, edgeIpKey(request.ip), edge.ip, "password_ip", { until: ipWindow.freeAt, limit: ipWindow.limit });
    if (!state.ip_counted) return ipRefusal(ipWindow.limit, ipWindow.reset, "too_many_attempts");
  }
  // Login names the window with the least left of its two (the IP's, the phone's failures).
  const headersWith = (failWindow: WindowState) => (ipWindow ? rateLimitHeaders(tightest(ipWindow, failWindow)) : {});
  const failWindow = windowState(failLimit, state, "fail", now);
  // A lock D1 holds gets a KV edge copy: later logins for the phone are refused without a D1 round trip (login only).
  const copyLock = (until: number) => {
    if (input.countIp) markEdge(deps, edgePhoneKey(input.phone), edge.phone, "password_lock", { until, limit: failWindow.limit });
  };
  if (!state.reserved) {
    if (state.streak >= MAX_PASSWORD_FAIL_STREAK) {
      // Not copied to the edge: only a reset by SMS ends it, and only D1's answer says so.
      return {
        ...fail("too_many_attempts", {
          detail: `${MAX_PASSWORD_FAIL_STREAK} wrong passwords in a row: password sign-in is locked. Reset the password by SMS.`,
          retry_after: config.PASSWORD_LOCKOUT_SECONDS,
        }),
        headers: headersWith(lockedWindow(failWindow.limit, now + config.PASSWORD_LOCKOUT_SECONDS * 1000, now)),
      };
    }
    // Without a lock in D1 the window is full of failures in flight, some of which a right password
    // may give back: this login is refused until the oldest slides out, and nothing is copied.
    const locked = lockOn(state, now);
    if (locked !== null) copyLock(locked);
    const lock = lockedWindow(failWindow.limit, locked ?? failWindow.freeAt, now);
    // A login names the tighter of the lock and its IP's window.
    return { ...passwordLocked(lock.limit, lock.reset), ...(ipWindow ? { headers: headersWith(lock) } : {}) };
  }
  const right = await verifyPassword(config.PASSWORD_PEPPER, input.password, state.hash);
  // A right password gives its reserved failure back (the caller's batch); a wrong one keeps it.
  let headers = headersWith(
    right ? { ...failWindow, remaining: Math.min(failWindow.limit, failWindow.remaining + 1), full: false } : failWindow,
  );
  if (!right) {
    const who = { phone: input.phone, userId: userOfPhone(input.phone) };
    const lockUntil = now + config.PASSWORD_LOCKOUT_SECONDS * 1000;
    const lockStarted = sql`EXISTS (SELECT 1 FROM phone_guards WHERE phone = ${input.phone} AND pw_locked_until = ${lockUntil})`;
    const [written] = await batch<[{ locked_until: number | null }[], ...unknown[][]]>(db, [
      sql`UPDATE phone_guards SET pw_fail_streak = pw_fail_streak + 1,
          pw_locked_until = CASE WHEN ${fullSql(failLimit, now)} THEN ${lockUntil} ELSE pw_locked_until END
        WHERE phone = ${input.phone} RETURNING pw_locked_until AS locked_until`,
      await eventSql(deps, { type: "password_login_failed", ...who, detail: { context: input.context } }),
      await eventSql(deps, { type: "password_locked", ...who }, lockStarted),
    ]);
    // This failure filled the window and D1 wrote the lock: the answer and the edge copy name it.
    if (written[0]?.locked_until === lockUntil) {
      copyLock(lockUntil);
      headers = headersWith(lockedWindow(failWindow.limit, lockUntil, now));
    }
  }
  return {
    right,
    refund: [uncountSql(failLimit, marker, now), sql`UPDATE phone_guards SET pw_fail_streak = 0 WHERE phone = ${input.phone}`],
    headers,
    extra,
  };
}
