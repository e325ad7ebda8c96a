import { type SQL, sql } from "drizzle-orm";
import { eventSql, recordEvent, userOfPhone } from "../audit/events";
import type { Config } from "../config";
import { keyedHasher, randomDigits, randomToken, timingSafeEqual } from "../crypto";
import { batch } from "../db/client";
import { type Channel, type ChannelChoice, firstChannel } from "../delivery";
import { attemptsSql } from "../delivery/store";
import type { Deps } from "../deps";
import { codeBudget, lockStartedSql, retryAfter } from "../guards/budget";
import { type Failure, fail } from "../http/problem";
import type { Phone } from "../phone";
import { undoOnFault } from "../storage/guard";
import {
  type Attempt,
  type Audience,
  issuedSql,
  openChallenge,
  type Purpose,
  readAttempt,
  recordWrongGuess,
  refundAttempt,
  reserveAttempt,
  type SendState,
  smsCaps,
  withdrawChallenge,
} from "./gate";

/**
 * A refused send. `window` is the per-phone window that refused it (cooldown, hour or day), so
 * the answer's `RateLimit-*` headers can name it; it is not part of the problem body.
 */
export type SendRefused = Failure & { window?: { limit: number; reset: number } };

export type CodeSent = {
  phone: string;
  purpose: Purpose;
  channel: Channel;
  expires_in: number;
  resend_in: number;
  code_length: number;
  dev_code?: string;
};

// KV refuses TTLs under 60 s; the D1 gate holds the real expiry, so a longer TTL is harmless.
const kvTtl = (seconds: number) => Math.max(60, seconds);
const codeKey = (codeId: string) => `otp:${codeId}`;
const secondsUntil = (ms: number, now: number) => Math.max(1, Math.ceil((ms - now) / 1000));

function hashCode(config: Config, codeId: string, code: string): Promise<string> {
  return keyedHasher(config.PASSWORD_PEPPER, "otp-code")(`${codeId}:${code}`);
}

/**
 * Issues a one-time code: passes the per-phone gate (one D1 round trip), stores the code's keyed
 * hash in KV under a key of its own, and sends the SMS. A failed SMS leaves no live code.
 * `reset_password` answers the same whether or not the phone has an account with a password.
 */
export async function sendCode(
  deps: Deps,
  input: { phone: Phone; purpose: Purpose; userId?: string; channel: ChannelChoice; locale: string },
): Promise<CodeSent | SendRefused> {
  const { config, db, kv, now } = deps;
  const { phone, purpose } = input;
  const testCode = config.TEST_PHONES.get(phone.e164);
  const code = testCode ?? randomDigits(config.OTP_LENGTH);
  const codeId = randomToken();
  const marker = randomToken();
  const audience: Audience =
    purpose === "reset_password"
      ? { kind: "password_holder" }
      : purpose === "change_phone" && input.userId
        ? { kind: "unclaimed", userId: input.userId }
        : { kind: "anyone" };
  const budget = smsCaps(config, phone.country, now, !testCode);
  const who = { phone: phone.e164, userId: userOfPhone(phone.e164) };
  const sent = await eventSql(
    deps,
    { type: "code_sent", ...who, detail: { purpose, test_phone: Boolean(testCode) } },
    issuedSql(phone.e164, purpose, codeId),
  );
  // The hash goes to KV first: if KV fails, nothing is recorded in D1 and the client may simply
  // retry. A hash whose send is then refused is never read and expires with its TTL.
  await kv.put(codeKey(codeId), await hashCode(config, codeId, code), { expirationTtl: kvTtl(config.OTP_TTL_SECONDS) });
  const state = await openChallenge(db, config, { phone: phone.e164, purpose, codeId, audience, marker, now, budget }, [sent]);
  if (!state.accepted) return refuseSend(deps, { phone: phone.e164, purpose }, refusedSend(config, state, now));

  let channel = firstChannel(config, phone.country, input.channel);
  if (state.issued && !testCode) {
    const delivery = deliverCode(deps, { ...input, phone: phone.e164, country: phone.country, code, codeId, marker });
    if (purpose === "reset_password") {
      // Only password holders get this SMS: waiting for the provider (or answering its failure
      // with a 502) would set them apart from every other phone by time, so it goes out after the
      // answer; a failure still withdraws the code and clears the cooldown (bench/ENUMERATION.md).
      deps.request.defer(
        delivery.catch((error) =>
          console.error(`reset code withdrawal failed: ${error instanceof Error ? error.message : "unknown error"}`),
        ),
      );
    } else {
      const delivered = await delivery;
      if (typeof delivered !== "string") return delivered;
      channel = delivered;
    }
  }
  return {
    phone: phone.e164,
    purpose,
    channel,
    expires_in: config.OTP_TTL_SECONDS,
    resend_in: config.OTP_RESEND_SECONDS,
    code_length: config.OTP_LENGTH,
    // Sandbox only. A reset for a phone without a password gets a decoy, so even the sandbox
    // answer does not tell which phones have accounts.
    ...(config.sandbox ? { dev_code: code } : {}),
  };
}

/**
 * Sends the code along the route (failover within one deadline). When every entry fails the code
 * is withdrawn (no live code, no cooldown) and the answer is `sms_delivery_failed`, naming the
 * channels tried. The attempts are recorded after the answer, in one statement, so the send's
 * request path keeps its one D1 round trip.
 */
async function deliverCode(
  deps: Deps,
  input: {
    phone: string;
    country?: string;
    purpose: Purpose;
    code: string;
    codeId: string;
    marker: string;
    channel: ChannelChoice;
    locale: string;
  },
): Promise<Failure | Channel> {
  const { phone, purpose } = input;
  const outcome = await deps.delivery.sendCode({ ...input, to: phone });
  const record = attemptsSql(input.codeId, phone, input.country, outcome.attempts);
  if (record) {
    deps.request.defer(
      batch(deps.db, [record]).catch((error) =>
        console.error(`delivery attempts not recorded: ${error instanceof Error ? error.message : "unknown error"}`),
      ),
    );
  }
  if (outcome.channel) return outcome.channel;
  await withdrawChallenge(deps.db, input);
  const tried = [...new Set(outcome.attempts.map((attempt) => attempt.channel))].join(", ") || input.channel;
  console.error(`sms delivery failed: every route entry failed (tried: ${tried})`);
  return refuseSend(
    deps,
    { phone, purpose },
    fail("sms_delivery_failed", { detail: `The code could not be delivered (tried: ${tried}). Try again later.` }),
  );
}

/** Records why a send was refused (`code_refused`, after the response) and returns the failure. */
export function refuseSend<F extends Failure>(deps: Deps, input: { phone: string; purpose: Purpose }, failure: F): F {
  recordEvent(deps, { type: "code_refused", phone: input.phone, detail: { purpose: input.purpose, reason: failure.error } });
  return failure;
}

function refusedSend(config: Config, state: SendState, now: number): SendRefused {
  if (state.locked_until != null && state.locked_until > now) {
    return fail("too_many_attempts", {
      detail: "Too many wrong codes for this phone. Try again later.",
      retry_after: secondsUntil(state.locked_until, now),
    });
  }
  const cooldownEnds = (state.last_sent_at ?? 0) + config.OTP_RESEND_SECONDS * 1000;
  if (cooldownEnds > now) {
    const reset = secondsUntil(cooldownEnds, now);
    return {
      ...fail("resend_too_soon", { detail: "A code was sent recently. Wait before asking again.", retry_after: reset }),
      window: { limit: 1, reset },
    };
  }
  const windows = [
    { start: state.hour_start, count: state.hour_count, span: 3_600_000, limit: config.OTP_HOURLY_LIMIT },
    { start: state.day_start, count: state.day_count, span: 86_400_000, limit: config.OTP_DAILY_LIMIT },
  ];
  for (const window of windows) {
    if (window.start + window.span > now && window.count >= window.limit) {
      const reset = secondsUntil(window.start + window.span, now);
      return {
        ...fail("rate_limited", { detail: "Too many codes for this phone. Try again later.", retry_after: reset }),
        window: { limit: window.limit, reset },
      };
    }
  }
  if (state.taken) return fail("phone_taken", { detail: "This phone number belongs to another account." });
  if (state.budget_exhausted) {
    const midnight = new Date(now).setUTCHours(24, 0, 0, 0);
    return fail("sms_budget_exhausted", {
      detail: "The daily SMS budget is used up. Try again tomorrow.",
      retry_after: secondsUntil(midnight, now),
    });
  }
  throw new Error("send gate refused without a reason");
}

/** Proof that a right code was presented; the caller consumes it in its own batch. */
export type CodeProof = { codeId: string; marker: string; failStart: number };

/**
 * Checks a code without consuming it: reserves a guess (D1), compares the keyed hash from KV in
 * constant time, and on a wrong guess records it (D1). `extraReads` share the first round trip.
 * Only guesses against a live code count (NIST SP 800-63B-4 §3.2.2 rate limiting).
 */
export async function proveCode<T extends unknown[] = []>(
  deps: Deps,
  input: { phone: string; purpose: Purpose; code: string; userId?: string },
  extraReads: SQL[] = [],
): Promise<{ proof: CodeProof; extra: T } | Failure> {
  const { config, db, kv, now } = deps;
  const marker = randomToken();
  const { attempt, extra } = await reserveAttempt<T>(db, config, { ...input, marker, now }, extraReads);
  if (!attempt?.reserved) return refusedGuess(deps, await settled(deps, input, attempt), input.userId);
  const failStart = attempt.budget_start;
  const codeId = attempt.code_id as string;
  const release = () => releaseProof(deps, input, { codeId, marker, failStart });
  // KV failing is not the guesser's fault: the reserved guess is given back before the 503.
  const stored = await undoOnFault(() => kv.get(codeKey(codeId)), release);
  if (stored === null) {
    // The hash is gone (KV lost it or has not replicated here yet): do not charge the guess.
    await release();
    return fail("code_expired", { detail: "No live code for this phone. Ask for a new one." });
  }
  if (timingSafeEqual(stored, await hashCode(config, codeId, input.code))) {
    return { proof: { codeId, marker, failStart }, extra };
  }
  const codeLeft = config.OTP_MAX_ATTEMPTS - (attempt.attempts ?? config.OTP_MAX_ATTEMPTS);
  const who = { phone: input.phone, userId: userOfPhone(input.phone), detail: { purpose: input.purpose } };
  const events = [
    await eventSql(deps, { type: "code_failed", ...who }),
    ...(codeLeft === 0 ? [await eventSql(deps, { type: "code_burned", ...who })] : []),
    await eventSql(deps, { type: "phone_locked", ...who }, lockStartedSql(codeBudget(config), input.phone, now)),
  ];
  const phoneState = await recordWrongGuess(db, config, { phone: input.phone, purpose: input.purpose, codeId, now }, events);
  const phoneLeft = config.OTP_LOCKOUT_FAILURES - (phoneState?.count ?? config.OTP_LOCKOUT_FAILURES);
  const attemptsLeft = Math.max(0, Math.min(codeLeft, phoneLeft));
  return fail("invalid_code", {
    detail: `The code is wrong. ${attemptsLeft} ${attemptsLeft === 1 ? "attempt" : "attempts"} left.`,
    attempts_left: attemptsLeft,
  });
}

// A guess refused because every attempt of the code is reserved by guesses still being evaluated
// cannot be told "burned" or "used" yet, and must not be evaluated itself (that would be a free,
// uncounted guess). It waits, briefly and boundedly, for those evaluations to settle.
const SETTLE_POLLS = 8;
const SETTLE_INTERVAL_MS = 25;

const inFlight = (config: Config, attempt: Attempt | undefined, now: number) =>
  attempt?.code_id != null &&
  attempt.consumed_at == null &&
  (attempt.expires_at ?? 0) > now &&
  (attempt.attempts ?? 0) >= config.OTP_MAX_ATTEMPTS &&
  (attempt.wrong_attempts ?? 0) < config.OTP_MAX_ATTEMPTS;

async function settled(deps: Deps, input: { phone: string; purpose: Purpose }, attempt: Attempt | undefined) {
  let state = attempt;
  for (let poll = 0; poll < SETTLE_POLLS && inFlight(deps.config, state, deps.now); poll++) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_INTERVAL_MS));
    state = await readAttempt(deps.db, deps.config, input.phone, input.purpose);
  }
  return state;
}

/** Undoes a reservation whose right code was then refused for another reason (e.g. a bad invite). */
export async function releaseProof(deps: Deps, input: { phone: string; purpose: Purpose }, proof: CodeProof, alsoUndo: SQL[] = []) {
  await batch(deps.db, [
    refundAttempt(deps.config, input.phone, proof.failStart),
    releaseCodeAttempt(input.phone, input.purpose, proof.codeId),
    ...alsoUndo,
  ]);
}

/**
 * Runs the batch that consumes a proved code (and makes the change it proves). If D1 fails, the
 * reserved guess is given back, with `alsoUndo` (e.g. a right current password's refund), so the
 * same code still works on the retry the 503 invites.
 */
export function consumeProved<R extends unknown[][]>(
  deps: Deps,
  input: { phone: string; purpose: Purpose },
  proof: CodeProof,
  statements: SQL[],
  alsoUndo: SQL[] = [],
): Promise<R> {
  return undoOnFault(
    () => batch<R>(deps.db, statements),
    () => releaseProof(deps, input, proof, alsoUndo),
  );
}

function releaseCodeAttempt(phone: string, purpose: Purpose, codeId: string) {
  return sql`UPDATE otp_challenges SET attempts = MAX(attempts - 1, 0)
    WHERE phone = ${phone} AND purpose = ${purpose} AND code_id = ${codeId}`;
}

function refusedGuess(deps: Deps, attempt: Attempt | undefined, userId?: string): Failure {
  const { config, now } = deps;
  const budget = codeBudget(config);
  if (attempt?.budget_locked_until != null && attempt.budget_locked_until > now) {
    return fail("too_many_attempts", {
      detail: "Too many wrong codes for this phone. Try again later.",
      retry_after: retryAfter(budget, attempt, now) ?? 1,
    });
  }
  const live =
    attempt?.code_id != null &&
    attempt.consumed_at == null &&
    (attempt.expires_at ?? 0) > now &&
    (userId === undefined || attempt.user_id === userId);
  // Used (a racing right guess won), expired, replaced, never sent, or bound to someone else.
  if (!attempt || !live) return fail("code_expired", { detail: "No live code for this phone. Ask for a new one." });
  if ((attempt.attempts ?? 0) >= config.OTP_MAX_ATTEMPTS) {
    const cooldownEnds = (attempt.last_sent_at ?? 0) + config.OTP_RESEND_SECONDS * 1000;
    return fail("too_many_attempts", {
      detail: "This code was burned by wrong guesses. Ask for a new one.",
      retry_after: secondsUntil(cooldownEnds, now),
    });
  }
  // The failure budget is used up (its lock is being written by a racing request).
  return fail("too_many_attempts", {
    detail: "Too many wrong codes for this phone. Try again later.",
    retry_after: retryAfter(budget, attempt, now) ?? 1,
  });
}
