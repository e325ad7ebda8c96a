import { eventSql, recordEvent, userOfPhone } from "../audit/events";
import type { Config } from "../config";
import { keyedHasher, randomDigits, randomToken, timingSafeEqual } from "../crypto";
import { batch } from "../db/client";
import { type SQL, sql } from "../db/sql";
import { type Channel, type ChannelChoice, firstChannel } from "../delivery";
import type { Deps } from "../deps";
import { blockKeysOf, refusedDestination } from "../fraud/blocks";
import { codeVerifiedSql, markStorm, raisedStorm, STORM_KEY, stormActive, stormStatements } from "../fraud/guard";
import { recordDelivery } from "../fraud/record";
import { type Failure, fail } from "../http/problem";
import { edgeIpKey, edgePhoneKey, edgeRefuses, markEdge, readEdge } from "../limits/edge";
import { ipRefusal } from "../limits/ip";
import {
  lockedWindow,
  lockOn,
  rateLimitHeaders,
  secondsUntil,
  tightest,
  type WindowState,
  windowRefusal,
  windowState,
} from "../limits/sliding";
import type { Phone } from "../phone";
import {
  type Audience,
  type GuessState,
  guessCanFail,
  guessLimits,
  guessStatements,
  guessStateSql,
  lockStartedSql,
  openChallenge,
  type Purpose,
  realCodeSql,
  type SendState,
  sendLimits,
  smsCaps,
  withdrawChallenge,
  wonSql,
  wrongSql,
} from "./gate";

/** A refusal, with the `RateLimit-*` headers of the window that refused it (never in the body). */
export type SendRefused = Failure;

export type CodeSent = {
  phone: string;
  purpose: Purpose;
  channel: Channel;
  expires_in: number;
  resend_in: number;
  code_length: number;
  dev_code?: string;
  /** `RateLimit-*` of the window with the least left (the phone's cooldown, after a send); response headers, not body. */
  headers: Record<string, string>;
};

// KV refuses TTLs under 60 s; the D1 gate holds the real expiry, so a longer TTL is harmless.
const kvTtl = (seconds: number) => Math.max(60, seconds);
/** The code's own key: written once before the gate, read only when the latest-code key is stale. */
const codeKey = (codeId: string) => `otp:${codeId}`;
/** The latest code of a phone and purpose, so a guess can be compared before its one D1 round trip. */
const latestCodeKey = (phone: string, purpose: Purpose) => `otp:${purpose}:${phone}`;
type LatestCode = { id: string; h: string };

function hashCode(config: Config, codeId: string, code: string): Promise<string> {
  return keyedHasher(config.PASSWORD_PEPPER, "otp-code")(`${codeId}:${code}`);
}

/**
 * Issues a one-time code in one D1 round trip: the per-IP send windows and the per-phone gate
 * are one batch (src/otp/gate.ts), the code's keyed hash goes to KV under a key of its own, and
 * the SMS goes out. A failed SMS leaves no live code. `reset_password` answers the same whether
 * or not the phone has a password account: one without gets a decoy challenge and no SMS.
 */
export async function sendCode(
  deps: Deps,
  input: { phone: Phone; purpose: Purpose; caller?: { userId: string; live: SQL }; channel: ChannelChoice; locale: string },
): Promise<CodeSent | SendRefused> {
  const { config, db, kv, now, request } = deps;
  const { phone, purpose } = input;
  const limits = sendLimits(config, phone.e164, request.ip);
  const refuse = (failure: Failure) => refuseSend(deps, { phone: phone.e164, purpose }, failure);
  // A flood from a tripped IP or to a locked or spent phone stops here, with no D1 round trip (and
  // no audit write: the refusal that filled the window was recorded).
  const edge = await readEdge(kv, request.ip, phone.e164, blockKeysOf(phone));
  const ipFull = edgeRefuses(edge.ip, "send_ip", now);
  if (ipFull) return ipRefusal(ipFull.limit, ipFull.wait);
  const testCode = config.TEST_PHONES.get(phone.e164);
  // A blocked destination (SMS pumping) costs nothing and counts toward nothing; test phones are never blocked.
  const blocked = testCode === undefined ? await refusedDestination(deps, phone, edge.more as { until?: unknown }[]) : null;
  if (blocked) return blocked;
  const edgeLocked = edgeRefuses(edge.phone, "code_lock", now);
  if (edgeLocked) return phoneLocked(edgeLocked.limit, edgeLocked.wait);
  const phoneFull = edgeRefuses(edge.phone, "send_phone", now);
  if (phoneFull) return phoneWindowFull(phoneFull.limit, phoneFull.wait);

  const code = testCode ?? randomDigits(config.OTP_LENGTH);
  const codeId = randomToken();
  const marker = randomToken();
  const audience: Audience =
    purpose === "reset_password"
      ? { kind: "password_holder" }
      : purpose === "change_phone" && input.caller
        ? { kind: "unclaimed", userId: input.caller.userId, callerLive: input.caller.live }
        : { kind: "anyone" };
  const budget = smsCaps(config, phone.country, now, !testCode);
  const who = { phone: phone.e164, userId: userOfPhone(phone.e164) };
  const sent = await eventSql(
    deps,
    { type: "code_sent", ...who, detail: { purpose, test_phone: Boolean(testCode) } },
    realCodeSql(phone.e164, purpose, codeId),
  );
  // The hash goes to KV first: if KV fails, nothing is recorded in D1 and the client may simply
  // retry. A hash whose send is then refused is never read and expires with its TTL.
  const hash = await hashCode(config, codeId, code);
  await kv.put(codeKey(codeId), hash, { expirationTtl: kvTtl(config.OTP_TTL_SECONDS) });
  const state = await openChallenge(db, config, { phone: phone.e164, purpose, codeId, audience, marker, now, budget, ip: request.ip }, [
    sent,
  ]);
  const ipWindow = windowState(limits.ip, state, "ip", now);
  if (ipWindow.full) markEdge(deps, edgeIpKey(request.ip), edge.ip, "send_ip", { until: ipWindow.freeAt, limit: ipWindow.limit });
  if (!state.ip_counted) return refuse({ ...ipRefusal(ipWindow.limit, ipWindow.reset) });
  const phoneWindow = windowState(limits.phone, state, "phone", now);
  if (phoneWindow.full) {
    // Until the cooldown of the send that filled the window ends, the answer is resend_too_soon (D1's).
    const from = cooldownEnd(config, state.last_sent_at ?? now);
    markEdge(deps, edgePhoneKey(phone.e164), edge.phone, "send_phone", { until: phoneWindow.freeAt, limit: phoneWindow.limit, from });
  }
  const locked = lockOn(state, now);
  if (locked !== null)
    markEdge(deps, edgePhoneKey(phone.e164), edge.phone, "code_lock", { until: locked, limit: config.OTP_LOCKOUT_FAILURES });
  // The token's session died (logout, deletion, deactivation) before this change_phone send.
  if (!state.caller_live) return fail("unauthorized", { detail: "A valid access token is required." });
  if (!state.accepted) return refuse(refusedSend(config, state, phoneWindow, now));

  // The latest-code key lets a guess be judged before its D1 round trip; it is written after the
  // answer, and a guess that finds it stale or missing reads the code's own key instead.
  request.defer(
    kv
      .put(latestCodeKey(phone.e164, purpose), JSON.stringify({ id: codeId, h: hash } satisfies LatestCode), {
        expirationTtl: kvTtl(config.OTP_TTL_SECONDS),
      })
      .catch((error) => console.warn(`latest-code key skipped: ${error instanceof Error ? error.message : "unknown"}`)),
  );
  let channel = firstChannel(config, phone.country, input.channel);
  if (state.issued && !state.decoy && !testCode) {
    const delivery = deliverCode(deps, { ...input, phone: phone.e164, country: phone.country, code, codeId, marker });
    if (purpose === "reset_password") {
      // Only password holders get this SMS: waiting for the provider (or answering its failure
      // with a 502) would set them apart from every other phone by time, so it goes out after the
      // answer; a failure still withdraws the code and clears the cooldown (bench/ENUMERATION.md).
      request.defer(
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
    // The window with the least left: after a send, the phone's cooldown (1 per OTP_RESEND_SECONDS).
    headers: rateLimitHeaders(tightest(ipWindow, phoneWindow, lockedWindow(1, cooldownEnd(config, now), now))),
  };
}

/** When the phone's 1-per-`OTP_RESEND_SECONDS` window frees after a send at `sentAt`. */
const cooldownEnd = (config: Config, sentAt: number) => sentAt + config.OTP_RESEND_SECONDS * 1000;

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
  deps.request.defer(
    recordDelivery(deps, { codeId: input.codeId, phone, purpose, country: input.country }, outcome).catch((error) =>
      console.error(`delivery not recorded: ${error instanceof Error ? error.message : "unknown error"}`),
    ),
  );
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

const phoneWindowFull = (limit: number, reset: number): Failure =>
  windowRefusal("rate_limited", "Too many codes for this phone. Try again later.", limit, reset);

/** 429 for a phone locked by wrong codes: `limit` of the window that locked it, 0 left until the lock ends. */
const phoneLocked = (limit: number, retryAfter: number): Failure =>
  windowRefusal("too_many_attempts", "Too many wrong codes for this phone. Try again later.", limit, retryAfter);

function refusedSend(config: Config, state: SendState, phoneWindow: WindowState, now: number): SendRefused {
  const locked = lockOn(state, now);
  if (locked !== null) return phoneLocked(config.OTP_LOCKOUT_FAILURES, secondsUntil(locked, now));
  const cooldownEnds = cooldownEnd(config, state.last_sent_at ?? 0);
  if (cooldownEnds > now) {
    return windowRefusal("resend_too_soon", "A code was sent recently. Wait before asking again.", 1, secondsUntil(cooldownEnds, now));
  }
  if (phoneWindow.full) return phoneWindowFull(phoneWindow.limit, phoneWindow.reset);
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

/** A guess that was right: the caller's statements ran in its batch (`results`, in their order). */
export type CodeAccepted = { outcome: "won"; results: unknown[][]; headers: Record<string, string> };
/** A right guess refused by the caller's own requirement (`rightRequires`): nothing was counted. */
export type CodeUnmet = { outcome: "unmet"; results: unknown[][]; headers: Record<string, string> };

export type CodeCheck = {
  phone: string;
  purpose: Purpose;
  code: string;
  /** For `change_phone`: the code must be bound to this user. */
  userId?: string;
  /** What a right guess must also meet to count (SQL); if it does not, the guess is not counted. */
  rightRequires?: SQL;
  /**
   * The change a right code proves, built only for a right guess: statements guarded by `won`
   * (true only for the request that consumed the code) that ride in the guess's own batch.
   */
  onRight?: (won: SQL) => Promise<SQL[]>;
  /** Statements that ride in the batch whatever the outcome (e.g. a right current password's refund). */
  alongside?: SQL[];
  /** The Turnstile check a guess must pass while a guess storm is on (the JSON verify; spec: Fraud guard). */
  captcha?: () => Promise<Failure | null>;
};

/**
 * Checks a one-time code in one D1 round trip (NIST SP 800-63B-4 §3.2.2 rate limiting): the
 * latest code's hash comes from KV and is compared in the Worker (constant time); then one batch
 * counts the per-IP verify window, decides (src/otp/gate.ts `guessStatements`: the guess counts
 * only against a live code with both budgets left), records a wrong guess, and runs the caller's
 * change for a right one. Only guesses against a live code count. A stale KV copy costs a second
 * KV read and round trip, never a wrong answer.
 */
export async function checkCode(deps: Deps, input: CodeCheck): Promise<CodeAccepted | CodeUnmet | Failure> {
  const { config, db, kv, now, request } = deps;
  const { phone, purpose } = input;
  const limits = guessLimits(config, phone, request.ip);
  const edge = await readEdge(kv, request.ip, phone, [latestCodeKey(phone, purpose), STORM_KEY]);
  const ipFull = edgeRefuses(edge.ip, "verify_ip", now);
  if (ipFull) return ipRefusal(ipFull.limit, ipFull.wait);
  const locked = edgeRefuses(edge.phone, "code_lock", now);
  if (locked) return phoneLocked(locked.limit, locked.wait);
  if (input.captcha && stormActive(edge.more[1], now)) {
    const refused = await input.captcha();
    if (refused) return refused;
  }

  const marker = randomToken();
  const who = { phone, userId: userOfPhone(phone), detail: { purpose } };
  const burned = sql`EXISTS (SELECT 1 FROM otp_challenges WHERE phone = ${phone} AND purpose = ${purpose}
    AND verify_marker = ${marker} AND consume_marker IS NOT ${marker} AND attempts >= ${config.OTP_MAX_ATTEMPTS})`;
  const failureEvents = [
    await eventSql(deps, { type: "code_failed", ...who }, wrongSql(phone, purpose, marker)),
    await eventSql(deps, { type: "code_burned", ...who }, burned),
    await eventSql(deps, { type: "phone_locked", ...who }, lockStartedSql(config, phone, purpose, marker, now)),
    ...(await stormStatements(deps, wrongSql(phone, purpose, marker))),
  ];
  let latest = edge.more[0] as LatestCode | null;
  for (let look = 0; ; look++) {
    const right = latest !== null && timingSafeEqual(latest.h, await hashCode(config, latest.id, input.code));
    const base = { phone, purpose, userId: input.userId, marker, now, ip: request.ip };
    const won = wonSql(phone, purpose, marker);
    const own = right && input.onRight ? await input.onRight(won) : [];
    // The analytics count the verification in its send's hour (trigger code_sends_verified_hourly, migration 0018).
    const verified = right && latest ? [codeVerifiedSql(latest.id, won, now)] : [];
    const guess = guessStatements(config, {
      ...base,
      codeId: latest?.id ?? null,
      right,
      ipCounted: look > 0,
      rightRequires: input.rightRequires,
    });
    const canFail = guessCanFail({ right, purpose });
    const results = await batch<unknown[][]>(db, [
      ...guess,
      ...(canFail ? failureEvents : []),
      ...verified,
      ...(input.alongside ?? []),
      ...own,
      guessStateSql(config, base),
    ]);
    const storm = canFail ? raisedStorm(results) : undefined;
    if (storm !== undefined) markStorm(deps, storm);
    const state = (results.at(-1) as GuessState[])[0] as GuessState;
    const ownResults = results.slice(results.length - 1 - own.length, -1);
    const ipWindow = windowState(limits.ip, state, "ip", now);
    if (ipWindow.full) markEdge(deps, edgeIpKey(request.ip), edge.ip, "verify_ip", { until: ipWindow.freeAt, limit: ipWindow.limit });
    if (!state.ip_counted) return ipRefusal(ipWindow.limit, ipWindow.reset);
    const phoneWindow = windowState(limits.phone, state, "phone", now);
    const locked = lockOn(state, now);
    // The window with the least left of the two this guess counted in, the IP's and the phone's
    // failures; a locked phone's is full until the lock ends (as Retry-After says).
    const headers = rateLimitHeaders(
      tightest(ipWindow, locked !== null ? lockedWindow(config.OTP_LOCKOUT_FAILURES, locked, now) : phoneWindow),
    );
    if (locked !== null)
      markEdge(deps, edgePhoneKey(phone), edge.phone, "code_lock", { until: locked, limit: config.OTP_LOCKOUT_FAILURES });
    if (state.won) return { outcome: "won", results: ownResults, headers };
    if (state.evaluated) {
      const attemptsLeft = Math.max(0, Math.min(config.OTP_MAX_ATTEMPTS - (state.attempts ?? 0), phoneWindow.remaining));
      return {
        ...fail("invalid_code", {
          detail: `The code is wrong. ${attemptsLeft} ${attemptsLeft === 1 ? "attempt" : "attempts"} left.`,
          attempts_left: attemptsLeft,
        }),
        headers,
      };
    }
    const refused = refusedGuess(config, state, phoneWindow, input.userId, now);
    if (refused) return { ...refused, headers };
    if (state.code_id !== latest?.id && look === 0) {
      // The latest-code key was stale or missing here: the code's own key (written before the
      // gate, never overwritten) is read instead, and the guess decided in a second round trip.
      const hash = await kv.get(codeKey(state.code_id as string));
      // The hash is gone (KV lost it or has not replicated here yet): do not charge the guess.
      if (hash === null) return { ...codeExpired(), headers };
      latest = { id: state.code_id as string, h: hash };
      continue;
    }
    // A right code whose `rightRequires` does not hold: nothing counted, the code stays live.
    return { outcome: "unmet", results: ownResults, headers };
  }
}

const codeExpired = () => fail("code_expired", { detail: "No live code for this phone. Ask for a new one." });

/** Why a guess was not evaluated, or null when the code is live and unspent (a stale copy, or an unmet requirement). */
function refusedGuess(
  config: Config,
  state: GuessState,
  phoneWindow: WindowState,
  userId: string | undefined,
  now: number,
): Failure | null {
  const locked = lockOn(state, now);
  if (locked !== null) return phoneLocked(config.OTP_LOCKOUT_FAILURES, secondsUntil(locked, now));
  const live =
    state.code_id != null &&
    state.consumed_at == null &&
    (state.expires_at ?? 0) > now &&
    (userId === undefined || state.user_id === userId);
  // Used (a racing right guess won), expired, replaced, never sent, or bound to someone else.
  if (!live) return codeExpired();
  if ((state.attempts ?? 0) >= config.OTP_MAX_ATTEMPTS) {
    return fail("too_many_attempts", {
      detail: "This code was burned by wrong guesses. Ask for a new one.",
      retry_after: secondsUntil(cooldownEnd(config, state.last_sent_at ?? 0), now),
    });
  }
  // The failure window is full (its lock is being written by a racing request).
  if (phoneWindow.full) return phoneLocked(phoneWindow.limit, phoneWindow.reset);
  return null;
}
