import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, expectProblem, freshIp, freshPhone, rateLimit, row, sendCode, signIn, wrongCode } from "./helpers";
import {
  advance,
  callWith,
  challengeOf,
  freezeClock,
  guardOf,
  HOUR,
  json,
  requestCode,
  SECOND,
  userCount,
  variantEnv,
  verifyCode,
  verifyOk,
  wrongCodes,
} from "./otp-helpers";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const eightDigits = variantEnv({ OTP_LENGTH: "8" });

/** Sends `codes` one by one and returns each answer's attempts_left (every one must be invalid_code). */
async function guessWrong(phone: string, codes: string[]): Promise<number[]> {
  const left: number[] = [];
  for (const code of codes) {
    const problem = await expectProblem(await verifyCode(phone, code), 400, "invalid_code");
    left.push(problem.attempts_left as number);
  }
  return left;
}

describe("signing in", () => {
  it("creates the user on the first verification and stores the session", async () => {
    const phone = freshPhone();
    const t0 = freezeClock();
    const code = await sendCode(phone);
    const response = await verifyCode(phone, code);
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    const tokens = await json<Record<string, any>>(response);
    expect(tokens).toMatchObject({ token_type: "Bearer", expires_in: 900, is_new_user: true });
    expect(tokens.user).toMatchObject({ phone, role: "user", points: 0, has_password: false, activated_invite_code: null });
    expect(tokens.user.invite_code).toMatch(/^[2-9A-HJKMNP-Z]{6}$/);
    expect(tokens.user.created_at).toBe(new Date(t0).toISOString());
    expect(await row("SELECT id, created_at, last_login_at FROM users WHERE phone = ?", phone)).toEqual({
      id: tokens.user.id,
      created_at: t0,
      last_login_at: t0,
    });
    expect(await row("SELECT count(*) AS n FROM sessions WHERE user_id = ?", tokens.user.id)).toEqual({ n: 1 });
    expect(await challengeOf(phone)).toMatchObject({ consumed_at: t0 });
    // A right guess is not a failure.
    expect((await guardOf(phone))?.fail_count).toBe(0);
  });

  it("logs an existing user in: is_new_user false, same id, last_login_at updated", async () => {
    const phone = freshPhone();
    const t0 = freezeClock();
    const first = await verifyOk(phone, await sendCode(phone));
    const t1 = advance(2 * 60 * SECOND);
    const second = await verifyOk(phone, await sendCode(phone));
    expect(second.is_new_user).toBe(false);
    expect(second.user).toMatchObject({
      id: first.user.id,
      phone,
      created_at: new Date(t0).toISOString(),
      last_login_at: new Date(t1).toISOString(),
    });
    expect(await row("SELECT created_at, last_login_at FROM users WHERE phone = ?", phone)).toEqual({ created_at: t0, last_login_at: t1 });
    expect(await userCount(phone)).toBe(1);
    expect(await row("SELECT count(*) AS n FROM sessions WHERE user_id = ?", first.user.id)).toEqual({ n: 2 });
  });

  it("ignores unknown keys and fields a client may not set", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const response = await verifyCode(phone, code, { extra: { role: "admin", points: 1_000_000, id: "mine", is_new_user: false } });
    const tokens = await json<Record<string, any>>(response);
    expect(response.status).toBe(200);
    expect(tokens.is_new_user).toBe(true);
    expect(tokens.user).toMatchObject({ role: "user", points: 0 });
    expect(tokens.user.id).not.toBe("mine");
  });

  it("answers account_disabled only after a correct code", async () => {
    const { user } = await signIn();
    await env.DB.prepare("UPDATE users SET is_active = 0 WHERE id = ?").bind(user.id).run();
    advance(61 * SECOND);
    const code = await sendCode(user.phone);
    expect((await expectProblem(await verifyCode(user.phone, wrongCode(code)), 400, "invalid_code")).attempts_left).toBe(4);
    await expectProblem(await verifyCode(user.phone, code), 403, "account_disabled");
  });

  it("answers invalid_phone for a number that cannot receive SMS", async () => {
    await expectProblem(await verifyCode("+375 17 123-45-67", "123456"), 400, "invalid_phone");
  });
});

describe("code validation", () => {
  it.each([
    ["5 digits", "12345"],
    ["7 digits", "1234567"],
    ["letters", "12a456"],
    ["only letters", "abcdef"],
    ["an empty string", ""],
    ["a padded code", " 12345 "],
    ["a number instead of a string", 123456],
    ["null", null],
    ["no code at all", undefined],
  ])("answers validation_failed for %s and does not count it as a guess", async (_name, bad) => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const body: Record<string, unknown> = { phone };
    if (bad !== undefined) body.code = bad;
    const problem = await expectProblem(await call("POST", "/v1/auth/otp/verify", { body }), 400, "validation_failed");
    expect(problem.errors).toEqual([expect.objectContaining({ path: "code", message: expect.any(String) })]);
    expect(problem).not.toHaveProperty("attempts_left");
    expect(await challengeOf(phone)).toMatchObject({ attempts: 0 });
    expect((await guardOf(phone))?.fail_count).toBe(0);
    // The next wrong guess is the first one counted.
    expect((await expectProblem(await verifyCode(phone, wrongCode(code)), 400, "invalid_code")).attempts_left).toBe(4);
  });

  it.each([
    ["a missing phone", { code: "123456" }],
    ["a phone that is a number", { phone: 375291234567, code: "123456" }],
    ["an invite_code that is not a string", { phone: "+375291234567", code: "123456", invite_code: 42 }],
  ])("answers validation_failed for %s", async (_name, body) => {
    await expectProblem(await call("POST", "/v1/auth/otp/verify", { body }), 400, "validation_failed");
  });

  it("follows OTP_LENGTH: 8-digit codes, and 6 digits become validation_failed", async () => {
    const phone = freshPhone();
    const send = await callWith(eightDigits, "POST", "/v1/auth/otp", { body: { phone } });
    const sent = await json<{ code_length: number; dev_code: string }>(send);
    expect(send.status).toBe(200);
    expect(sent.code_length).toBe(8);
    expect(sent.dev_code).toMatch(/^\d{8}$/);
    const short = await callWith(eightDigits, "POST", "/v1/auth/otp/verify", { body: { phone, code: sent.dev_code.slice(0, 6) } });
    await expectProblem(short, 400, "validation_failed");
    expect(await challengeOf(phone)).toMatchObject({ attempts: 0 });
    const ok = await callWith(eightDigits, "POST", "/v1/auth/otp/verify", { body: { phone, code: sent.dev_code } });
    expect(ok.status).toBe(200);
  });
});

describe("wrong codes", () => {
  it("count down attempts_left 4, 3, 2, 1, 0, then the burned code answers too_many_attempts even when right", async () => {
    const phone = freshPhone();
    freezeClock();
    const code = await sendCode(phone);
    const wrong = wrongCodes(code, 6);
    for (const [i, guess] of wrong.slice(0, 5).entries()) {
      const response = await verifyCode(phone, guess);
      const problem = await expectProblem(response, 400, "invalid_code");
      const left = 4 - i;
      expect(problem.attempts_left).toBe(left);
      expect(problem.detail).toContain(`${left} ${left === 1 ? "attempt" : "attempts"} left`);
      expect(problem.title).toBe("Invalid code");
    }
    expect(await challengeOf(phone)).toMatchObject({ attempts: 5, consumed_at: null });
    expect(await guardOf(phone)).toMatchObject({ fail_count: 5, locked_until: null });

    const burned = await verifyCode(phone, code);
    const problem = await expectProblem(burned, 429, "too_many_attempts");
    expect(problem.retry_after).toEqual(expect.any(Number));
    expect(problem.retry_after).toBeGreaterThanOrEqual(1);
    expect(burned.headers.get("Retry-After")).toBe(String(problem.retry_after));
    // Later guesses are refused without being counted.
    await expectProblem(await verifyCode(phone, wrong[5] as string), 429, "too_many_attempts");
    expect(await guardOf(phone)).toMatchObject({ fail_count: 5 });
    expect(await userCount(phone)).toBe(0);
  });

  it("a burned code is replaced by a new one after the cooldown", async () => {
    const phone = freshPhone();
    freezeClock();
    const code = await sendCode(phone);
    await guessWrong(phone, wrongCodes(code, 5));
    advance(61 * SECOND);
    const fresh = await sendCode(phone);
    expect(await challengeOf(phone)).toMatchObject({ attempts: 0 });
    expect((await verifyCode(phone, fresh)).status).toBe(200);
  });
});

describe("single use and expiry", () => {
  it("the right code works once; the second verify answers code_expired", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    expect((await verifyCode(phone, code)).status).toBe(200);
    await expectProblem(await verifyCode(phone, code), 400, "code_expired");
    await expectProblem(await verifyCode(phone, wrongCode(code)), 400, "code_expired");
    expect((await guardOf(phone))?.fail_count).toBe(0);
  });

  it("a phone that was never sent a code answers code_expired, uncounted", async () => {
    const phone = freshPhone();
    await expectProblem(await verifyCode(phone, "123456"), 400, "code_expired");
    expect((await guardOf(phone))?.fail_count ?? 0).toBe(0);
    expect(await userCount(phone)).toBe(0);
  });

  it("a code still works just before OTP_TTL_SECONDS", async () => {
    const phone = freshPhone();
    freezeClock();
    const code = await sendCode(phone);
    advance(299 * SECOND);
    expect((await verifyCode(phone, code)).status).toBe(200);
  });

  it("a code expires after OTP_TTL_SECONDS (+301 s) and guesses against it are not counted", async () => {
    const phone = freshPhone();
    freezeClock();
    const code = await sendCode(phone);
    advance(301 * SECOND);
    await expectProblem(await verifyCode(phone, wrongCode(code)), 400, "code_expired");
    await expectProblem(await verifyCode(phone, code), 400, "code_expired");
    expect(await challengeOf(phone)).toMatchObject({ attempts: 0, consumed_at: null });
    expect((await guardOf(phone))?.fail_count).toBe(0);
    expect(await userCount(phone)).toBe(0);
  });

  it("a code of another purpose does not sign in", async () => {
    const { user } = await signIn();
    await env.DB.prepare("UPDATE users SET password_hash = 'fixture' WHERE id = ?").bind(user.id).run();
    advance(61 * SECOND);
    const resetCode = await sendCode(user.phone, { purpose: "reset_password" });
    await expectProblem(await verifyCode(user.phone, resetCode), 400, "code_expired");
    expect(await challengeOf(user.phone, "reset_password")).toMatchObject({ attempts: 0, consumed_at: null });
  });
});

describe("the per-phone failure budget", () => {
  it("a resent code does not reset failed attempts", async () => {
    const phone = freshPhone();
    freezeClock();
    const first = await sendCode(phone);
    expect(await guessWrong(phone, wrongCodes(first, 3))).toEqual([4, 3, 2]);
    advance(61 * SECOND);
    const second = await sendCode(phone);
    expect(await challengeOf(phone)).toMatchObject({ attempts: 0 });
    expect((await guardOf(phone))?.fail_count).toBe(3);
    await guessWrong(phone, wrongCodes(second, 1));
    expect((await guardOf(phone))?.fail_count).toBe(4);
  });

  it("10 wrong guesses across codes lock the phone; attempts_left is min(code budget, phone budget)", async () => {
    const phone = freshPhone();
    freezeClock();
    const first = await sendCode(phone);
    expect(await guessWrong(phone, wrongCodes(first, 4))).toEqual([4, 3, 2, 1]);
    advance(61 * SECOND);
    const second = await sendCode(phone);
    // Phone budget left 5, 4, 3, 2 — the code's own budget is still the smaller.
    expect(await guessWrong(phone, wrongCodes(second, 4))).toEqual([4, 3, 2, 1]);
    advance(61 * SECOND);
    const third = await sendCode(phone);
    // Code budget 4, 3 — but the phone has only 2 left: the 10th guess answers 0.
    const lockedAt = Date.now();
    expect(await guessWrong(phone, wrongCodes(third, 2))).toEqual([1, 0]);
    expect(await guardOf(phone)).toMatchObject({ fail_count: 10, locked_until: lockedAt + HOUR });

    // Locked: the right code, a new login code, and a code of another purpose all answer 429.
    const right = await verifyCode(phone, third);
    const problem = await expectProblem(right, 429, "too_many_attempts");
    expect(problem.retry_after).toBe(3600);
    expect(right.headers.get("Retry-After")).toBe("3600");
    advance(61 * SECOND);
    for (const purpose of ["login", "reset_password"]) {
      const send = await requestCode(phone, { purpose });
      expect((await expectProblem(send, 429, "too_many_attempts")).retry_after).toBe(3600 - 61);
      expect(send.headers.get("Retry-After")).toBe(String(3600 - 61));
    }
    expect(await challengeOf(phone)).toMatchObject({ attempts: 2 });

    // The lock ends after OTP_LOCKOUT_SECONDS.
    freezeClock(lockedAt + HOUR + SECOND);
    const code = await sendCode(phone);
    const tokens = await verifyOk(phone, code);
    expect(tokens.is_new_user).toBe(true);
  });

  it("the lock answers before the resend cooldown", async () => {
    const phone = freshPhone();
    freezeClock();
    const first = await sendCode(phone);
    await guessWrong(phone, wrongCodes(first, 5));
    advance(61 * SECOND);
    const second = await sendCode(phone);
    await guessWrong(phone, wrongCodes(second, 5));
    // Inside the cooldown of the second send, the lock is what the client is told, in RateLimit-* too.
    const refused = await requestCode(phone);
    const problem = await expectProblem(refused.clone(), 429, "too_many_attempts");
    expect(rateLimit(refused)).toEqual({ limit: "10", remaining: "0", reset: String(problem.retry_after) });
    expect(refused.headers.get("Retry-After")).toBe(String(problem.retry_after));
  });
});

describe("per-IP verify window", () => {
  it("the 11th verify from one IP within a minute answers rate_limited and leaves the code untouched", async () => {
    const ip = freshIp();
    const phone = freshPhone();
    freezeClock();
    const code = await sendCode(phone);
    for (let i = 0; i < 10; i++) {
      const response = await verifyCode(freshPhone(), "123456", { ip });
      await expectProblem(response, 400, "code_expired");
      expect(response.headers.get("RateLimit-Limit")).toBe("10");
      expect(response.headers.get("RateLimit-Remaining")).toBe(String(9 - i));
    }
    const response = await verifyCode(phone, code, { ip });
    const problem = await expectProblem(response, 429, "rate_limited");
    expect(problem.retry_after).toBe(60);
    expect(response.headers.get("Retry-After")).toBe("60");
    expect(response.headers.get("RateLimit-Limit")).toBe("10");
    expect(response.headers.get("RateLimit-Remaining")).toBe("0");
    expect(response.headers.get("RateLimit-Reset")).toBe("60");
    expect(await challengeOf(phone)).toMatchObject({ attempts: 0, consumed_at: null });
    // Another client can still use the code; the window reopens after a minute.
    advance(60 * SECOND);
    expect((await verifyCode(phone, code, { ip })).status).toBe(200);
  });
});
