import { type SQL, sql } from "drizzle-orm";
import { eventSql, userOfPhone } from "../audit/events";
import { randomToken } from "../crypto";
import { batch } from "../db/client";
import type { Deps } from "../deps";
import {
  type BudgetState,
  budgetStateSql,
  ensureGuardSql,
  lockStartedSql,
  passwordBudget,
  recordFailureSql,
  refundSql,
  reserveSql,
  retryAfter,
} from "../guards/budget";
import { type Failure, fail } from "../http/problem";
import { verifyPassword } from "./hash";

export type PasswordGuess<T extends unknown[][]> = { right: boolean; windowStart: number; extra: T };

/**
 * NIST SP 800-63B-4 §3.2.2: at most 100 consecutive failed attempts on one account. The windowed
 * lock alone resets every PASSWORD_LOCKOUT_SECONDS; this streak only resets on a right password
 * or a reset by SMS, which is then the way back in (SMS sign-in is never affected).
 */
export const MAX_PASSWORD_FAIL_STREAK = 100;

/**
 * Checks a password for `phone` under the per-phone password budget: a failure is reserved
 * before the (slow) hash runs, so parallel guesses cannot exceed it; a right guess is refunded,
 * a wrong one recorded (the fifth starts the lock). `storedHash` reads the hash in the same round
 * trip as the reservation; unknown phones and accounts without a password hash a dummy, so every
 * failure costs the same. Locked → `too_many_attempts`.
 */
export async function guessPassword<T extends unknown[][] = []>(
  deps: Deps,
  input: { phone: string; password: string; storedHash: SQL; extraReads?: SQL[]; context: "login" | "reauthentication" },
): Promise<PasswordGuess<T> | Failure> {
  const { config, db, now } = deps;
  const budget = passwordBudget(config);
  const marker = randomToken();
  const [, , states, hashes, ...extra] = await batch<
    [unknown[], unknown[], (BudgetState & { streak: number })[], { hash: string | null }[], ...T]
  >(db, [
    ensureGuardSql(input.phone),
    reserveSql(budget, input.phone, marker, now, sql`pw_fail_streak < ${MAX_PASSWORD_FAIL_STREAK}`),
    sql`SELECT ${budgetStateSql(budget, marker)}, pw_fail_streak AS streak FROM phone_guards WHERE phone = ${input.phone}`,
    sql`SELECT (${input.storedHash}) AS hash`,
    ...(input.extraReads ?? []),
  ]);
  const state = states[0];
  if (state && !state.reserved && state.streak >= MAX_PASSWORD_FAIL_STREAK) {
    return fail("too_many_attempts", {
      detail: `${MAX_PASSWORD_FAIL_STREAK} wrong passwords in a row: password sign-in is locked. Reset the password by SMS.`,
      retry_after: budget.lockMs / 1000,
    });
  }
  if (!state?.reserved) {
    return fail("too_many_attempts", {
      detail: "Too many failed sign-ins for this phone. Try again later.",
      retry_after: (state && retryAfter(budget, state, now)) ?? 1,
    });
  }
  const right = await verifyPassword(config.PASSWORD_PEPPER, input.password, hashes[0]?.hash ?? null);
  if (!right) {
    const who = { phone: input.phone, userId: userOfPhone(input.phone) };
    await batch(db, [
      recordFailureSql(budget, input.phone, now),
      sql`UPDATE phone_guards SET pw_fail_streak = pw_fail_streak + 1 WHERE phone = ${input.phone}`,
      await eventSql(deps, { type: "password_login_failed", ...who, detail: { context: input.context } }),
      await eventSql(deps, { type: "password_locked", ...who }, lockStartedSql(budget, input.phone, now)),
    ]);
  }
  return { right, windowStart: state.budget_start, extra: extra as unknown as T };
}

/** Gives back a right guess's reservation and ends the failure streak (statements for the caller's batch). */
export function refundPasswordGuess(deps: Deps, phone: string, windowStart: number): SQL[] {
  return [
    refundSql(passwordBudget(deps.config), phone, windowStart),
    sql`UPDATE phone_guards SET pw_fail_streak = 0 WHERE phone = ${phone}`,
  ];
}
