import { type SQL, sql } from "drizzle-orm";
import type { Config } from "../config";

/**
 * A per-phone failure budget in `phone_guards`: at most `limit` failures per window, and the
 * failure that uses it up locks the phone for `lockMs`. Guesses *reserve* a failure before they
 * are evaluated (one conditional UPDATE), so parallel guesses can never get more evaluated than
 * the budget; a guess that turns out right gives its reservation back.
 */
export type FailureBudget = {
  columns: { start: string; count: string; lockedUntil: string; marker: string };
  limit: number;
  windowMs: number;
  lockMs: number;
};

/** Wrong one-time codes, across codes and purposes (NIST SP 800-63B-4 §3.2.2). */
export function codeBudget(config: Config): FailureBudget {
  return {
    columns: { start: "fail_start", count: "fail_count", lockedUntil: "locked_until", marker: "verify_marker" },
    limit: config.OTP_LOCKOUT_FAILURES,
    windowMs: config.OTP_LOCKOUT_SECONDS * 1000,
    lockMs: config.OTP_LOCKOUT_SECONDS * 1000,
  };
}

/** Failed password logins (and wrong current passwords). */
export function passwordBudget(config: Config): FailureBudget {
  return {
    columns: { start: "pw_fail_start", count: "pw_fail_count", lockedUntil: "pw_locked_until", marker: "pw_marker" },
    limit: config.PASSWORD_LOCKOUT_FAILURES,
    windowMs: config.PASSWORD_LOCKOUT_SECONDS * 1000,
    lockMs: config.PASSWORD_LOCKOUT_SECONDS * 1000,
  };
}

const col = (name: string) => sql.identifier(name);

export function ensureGuardSql(phone: string): SQL {
  return sql`INSERT INTO phone_guards (phone) VALUES (${phone}) ON CONFLICT (phone) DO NOTHING`;
}

/** Reserves one failure if the phone is not locked, has budget left, and `alsoRequire` holds. */
export function reserveSql(budget: FailureBudget, phone: string, marker: string, now: number, alsoRequire: SQL = sql`1`): SQL {
  const { start, count, lockedUntil, marker: markerColumn } = budget.columns;
  const windowAgo = now - budget.windowMs;
  return sql`UPDATE phone_guards SET
      ${col(count)} = CASE WHEN ${col(start)} <= ${windowAgo} THEN 1 ELSE ${col(count)} + 1 END,
      ${col(start)} = CASE WHEN ${col(start)} <= ${windowAgo} THEN ${now} ELSE ${col(start)} END,
      ${col(markerColumn)} = ${marker}
    WHERE phone = ${phone}
      AND (${col(lockedUntil)} IS NULL OR ${col(lockedUntil)} <= ${now})
      AND (${col(start)} <= ${windowAgo} OR ${col(count)} < ${budget.limit})
      AND ${alsoRequire}`;
}

/** SQL condition: the reservation of `marker` went through (for later statements of the batch). */
export function reservedSql(budget: FailureBudget, phone: string, marker: string): SQL {
  return sql`EXISTS (SELECT 1 FROM phone_guards WHERE phone = ${phone} AND ${col(budget.columns.marker)} = ${marker})`;
}

/** Gives a reservation back (the guess was right, or was refused for another reason). */
export function refundSql(budget: FailureBudget, phone: string, windowStart: number): SQL {
  const { start, count } = budget.columns;
  return sql`UPDATE phone_guards SET ${col(count)} = MAX(${col(count)} - 1, 0)
    WHERE phone = ${phone} AND ${col(start)} = ${windowStart}`;
}

/** Confirms a failure: the one that uses the budget up starts the lock. Returns the new state. */
export function recordFailureSql(budget: FailureBudget, phone: string, now: number): SQL {
  const { count, lockedUntil } = budget.columns;
  return sql`UPDATE phone_guards SET
      ${col(lockedUntil)} = CASE WHEN ${col(count)} >= ${budget.limit} THEN ${now + budget.lockMs} ELSE ${col(lockedUntil)} END
    WHERE phone = ${phone} RETURNING ${col(count)} AS count, ${col(lockedUntil)} AS locked_until`;
}

/** SQL condition: the lock was started at `now` (by the failure just recorded in this batch). */
export function lockStartedSql(budget: FailureBudget, phone: string, now: number): SQL {
  return sql`EXISTS (SELECT 1 FROM phone_guards WHERE phone = ${phone} AND ${col(budget.columns.lockedUntil)} = ${now + budget.lockMs})`;
}

/** The budget's columns under neutral names, for reading state back in a batch. */
export function budgetStateSql(budget: FailureBudget, marker: string): SQL {
  const { start, count, lockedUntil, marker: markerColumn } = budget.columns;
  return sql`${col(start)} AS budget_start, ${col(count)} AS budget_count, ${col(lockedUntil)} AS budget_locked_until,
    ${col(markerColumn)} = ${marker} AS reserved`;
}

export type BudgetState = { budget_start: number; budget_count: number; budget_locked_until: number | null; reserved: number };

/** Seconds until the phone may try again, or null when it is not held back. */
export function retryAfter(budget: FailureBudget, state: BudgetState, now: number): number | null {
  if (state.budget_locked_until != null && state.budget_locked_until > now) return Math.ceil((state.budget_locked_until - now) / 1000);
  const windowEnds = state.budget_start + budget.windowMs;
  if (windowEnds > now && state.budget_count >= budget.limit) return Math.ceil((windowEnds - now) / 1000);
  return null;
}
