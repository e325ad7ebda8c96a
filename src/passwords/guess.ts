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
  const [, , states, hashes, ...extra] = await batch<[unknown[], unknown[], BudgetState[], { hash: string | null }[], ...T]>(db, [
    ensureGuardSql(input.phone),
    reserveSql(budget, input.phone, marker, now),
    sql`SELECT ${budgetStateSql(budget, marker)} FROM phone_guards WHERE phone = ${input.phone}`,
    sql`SELECT (${input.storedHash}) AS hash`,
    ...(input.extraReads ?? []),
  ]);
  const state = states[0];
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
      await eventSql(deps, { type: "password_login_failed", ...who, detail: { context: input.context } }),
      await eventSql(deps, { type: "password_locked", ...who }, lockStartedSql(budget, input.phone, now)),
    ]);
  }
  return { right, windowStart: state.budget_start, extra: extra as unknown as T };
}

/** Gives back a right guess's reservation (as a statement for the caller's batch). */
export function refundPasswordGuess(deps: Deps, phone: string, windowStart: number): SQL {
  return refundSql(passwordBudget(deps.config), phone, windowStart);
}
