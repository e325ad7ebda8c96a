import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, expectProblem, freshIp, freshPhone, row, sendCode, signIn, type TokenBody, wrongCode } from "./helpers";
import { guardColumns } from "./otp-helpers";

const GOOD = "correct horse battery staple";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** Moves the worker's clock forward (it shares this isolate's Date). */
function advance(ms: number) {
  const now = Date.now();
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(now + ms);
}

const setPassword = (who: TokenBody, body: Record<string, unknown>) => call("PUT", "/v1/me/password", { token: who.access_token, body });
const login = (phone: string, password: string, ip = freshIp()) =>
  call("POST", "/v1/auth/password/login", { ip, body: { phone, password } });

async function userWithPassword(password = GOOD) {
  const user = await signIn();
  expect((await setPassword(user, { new_password: password })).status).toBe(204);
  return user;
}

describe("password policy (NIST SP 800-63B-4)", () => {
  it.each([
    ["fourteen chars", () => "a".repeat(14), "too_short"],
    ["129 code points", () => "b".repeat(129), "too_long"],
    ["a common password (any case)", () => "MailCreated5240", "common"],
    ["the phone's E.164 digits", (phone: string) => `my number ${phone.slice(1)} ok`, "contains_phone"],
    ["the phone's national number", (phone: string) => `call me at ${phone.slice(4)} please`, "contains_phone"],
    [
      "the number written with separators (+375 29 612-02-65)",
      (phone: string) => `dial ${phone.slice(0, 4)} ${phone.slice(4, 6)} ${phone.slice(6, 9)}-${phone.slice(9, 11)}-${phone.slice(11)} now`,
      "contains_phone",
    ],
    [
      "the number in Persian digits (۳۷۵۲۹…)",
      (phone: string) => `my ${[...phone.slice(1)].map((d) => String.fromCodePoint(0x06f0 + Number(d))).join("")} number`,
      "contains_phone",
    ],
    [
      "the national number with brackets and dots ((29) 612.02.65)",
      (phone: string) => `home (${phone.slice(4, 6)}) ${phone.slice(6, 9)}.${phone.slice(9, 11)}.${phone.slice(11)} line`,
      "contains_phone",
    ],
  ])("refuses %s with its rule", async (_name, makePassword, rule) => {
    const phone = freshPhone();
    const password = makePassword(phone);
    const user = await signIn(phone);
    const problem = await expectProblem(await setPassword(user, { new_password: password }), 400, "weak_password");
    expect(problem.rule).toBe(rule);
    expect(await row("SELECT password_hash FROM users WHERE id = ?", user.user.id)).toEqual({ password_hash: null });
  });

  it("checks the rules in order: a short common password is too_short", async () => {
    const user = await signIn();
    const problem = await expectProblem(await setPassword(user, { new_password: "password" }), 400, "weak_password");
    expect(problem.rule).toBe("too_short");
  });

  it("accepts exactly 15 and exactly 128 code points, spaces and any Unicode", async () => {
    const user = await signIn();
    expect((await setPassword(user, { new_password: "ünïcødé  spaces" })).status).toBe(204);
    const other = await signIn();
    expect((await setPassword(other, { new_password: "🔑".repeat(128) })).status).toBe(204);
    expect((await login(other.user.phone, "🔑".repeat(128))).status).toBe(200);
  });

  it("stores PBKDF2-SHA-256 at 100,000 iterations with its parameters, never the password", async () => {
    const user = await userWithPassword();
    const stored = await row<{ password_hash: string }>("SELECT password_hash FROM users WHERE id = ?", user.user.id);
    expect(stored?.password_hash).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(stored?.password_hash).not.toContain("horse");
    const me = (await (await call("GET", "/v1/me", { token: user.access_token })).json()) as { has_password: boolean };
    expect(me.has_password).toBe(true);
  });
});

describe("setting and changing the password", () => {
  it("the first password needs a sign-in within 300 s", async () => {
    const user = await signIn();
    advance(301_000);
    const refreshed = (await (await call("POST", "/v1/auth/token", { body: { refresh_token: user.refresh_token } })).json()) as TokenBody;
    await expectProblem(await setPassword(refreshed, { new_password: GOOD }), 403, "reauthentication_required");
  });

  it("changing needs current_password: missing → required, wrong → invalid", async () => {
    const user = await userWithPassword();
    await expectProblem(await setPassword(user, { new_password: `${GOOD} two` }), 400, "current_password_required");
    await expectProblem(
      await setPassword(user, { new_password: `${GOOD} two`, current_password: "wrong wrong wrong" }),
      403,
      "current_password_invalid",
    );
    expect((await setPassword(user, { new_password: `${GOOD} two`, current_password: GOOD })).status).toBe(204);
    expect((await login(user.user.phone, `${GOOD} two`)).status).toBe(200);
  });

  it("revokes every other session and texts a notice", async () => {
    const phone = freshPhone();
    const first = await signIn(phone);
    advance(61_000);
    const second = await signIn(phone);
    const log = vi.spyOn(console, "log");
    expect((await setPassword(second, { new_password: GOOD })).status).toBe(204);
    await expectProblem(await call("POST", "/v1/auth/token", { body: { refresh_token: first.refresh_token } }), 401, "invalid_token");
    expect((await call("GET", "/v1/me", { token: second.access_token })).status).toBe(200);
    expect(log.mock.calls.flat().join("\n")).toMatch(new RegExp(`to \\${phone}: .*password was changed`));
  });
});

describe("POST /v1/auth/password/login", () => {
  it("signs in and normalises Unicode (composed and decomposed forms alike)", async () => {
    const composed = "caf\u00e9 au lait sans sucre";
    const user = await userWithPassword(composed);
    const response = await login(user.user.phone, "cafe\u0301 au lait sans sucre");
    const body = (await response.json()) as TokenBody;
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(body).toMatchObject({ token_type: "Bearer", is_new_user: false, user: { id: user.user.id, has_password: true } });
  });

  it("does not truncate: a long password's prefix fails", async () => {
    const long = `${"x".repeat(40)} ${"y".repeat(40)} ${"z".repeat(40)}`;
    const user = await userWithPassword(long);
    await expectProblem(await login(user.user.phone, long.slice(0, 72)), 401, "invalid_credentials");
    expect((await login(user.user.phone, long)).status).toBe(200);
  });

  it("answers unknown phone, no password and wrong password identically", async () => {
    const withPassword = await userWithPassword();
    const withoutPassword = await signIn();
    const answers = await Promise.all([
      login(freshPhone(), GOOD),
      login(withoutPassword.user.phone, GOOD),
      login(withPassword.user.phone, `${GOOD}!`),
    ]);
    const bodies = await Promise.all(
      answers.map(async (r) => ({ status: r.status, body: await r.text(), type: r.headers.get("Content-Type") })),
    );
    expect(bodies[0]?.status).toBe(401);
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
    expect(JSON.parse(bodies[0]?.body ?? "{}").code).toBe("invalid_credentials");
  });

  it("locks the phone after 5 failures for 15 minutes, even for the right password", async () => {
    const user = await userWithPassword();
    for (let i = 0; i < 5; i++) await expectProblem(await login(user.user.phone, `wrong ${i} password here`), 401, "invalid_credentials");
    const locked = await expectProblem(await login(user.user.phone, GOOD), 429, "too_many_attempts");
    expect(locked.retry_after).toBeGreaterThan(890);
    advance(901_000);
    expect((await login(user.user.phone, GOOD)).status).toBe(200);
  });

  it("holds the lock under 20 parallel wrong guesses: at most 5 evaluated", async () => {
    const user = await userWithPassword();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => login(user.user.phone, `parallel wrong guess ${i}`)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(15);
    expect(await guardColumns(["pw_fail_count"], user.user.phone)).toEqual({ pw_fail_count: 5 });
  });

  it("counts failures per phone even without an account", async () => {
    const phone = freshPhone();
    for (let i = 0; i < 5; i++) await login(phone, `nobody here ${i} at all`);
    await expectProblem(await login(phone, GOOD), 429, "too_many_attempts");
  });

  it("limits 10 attempts per minute per IP", async () => {
    const ip = freshIp();
    for (let i = 0; i < 10; i++) await login(freshPhone(), GOOD, ip);
    const problem = await expectProblem(await login(freshPhone(), GOOD, ip), 429, "too_many_attempts");
    expect(problem.retry_after).toBeGreaterThan(0);
  });

  it("answers account_disabled only after the right password", async () => {
    const user = await userWithPassword();
    await call("GET", "/v1/me", { token: user.access_token });
    const { env } = await import("cloudflare:workers");
    await env.DB.prepare("UPDATE users SET is_active = 0 WHERE id = ?").bind(user.user.id).run();
    await expectProblem(await login(user.user.phone, "not the password at all"), 401, "invalid_credentials");
    await expectProblem(await login(user.user.phone, GOOD), 403, "account_disabled");
  });
});

describe("password reset by SMS", () => {
  it("resets with a reset_password code, revokes every session and signs in", async () => {
    const user = await userWithPassword();
    advance(61_000);
    const code = await sendCode(user.user.phone, { purpose: "reset_password" });
    const response = await call("POST", "/v1/auth/password/reset", {
      body: { phone: user.user.phone, code, new_password: "a brand new passphrase" },
    });
    const body = (await response.json()) as TokenBody;
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.user.id).toBe(user.user.id);
    await expectProblem(await call("POST", "/v1/auth/token", { body: { refresh_token: user.refresh_token } }), 401, "invalid_token");
    await expectProblem(await login(user.user.phone, GOOD), 401, "invalid_credentials");
    expect((await login(user.user.phone, "a brand new passphrase")).status).toBe(200);
    expect((await call("GET", "/v1/me", { token: body.access_token })).status).toBe(200);
  });

  it("checks the policy before spending the code", async () => {
    const user = await userWithPassword();
    advance(61_000);
    const code = await sendCode(user.user.phone, { purpose: "reset_password" });
    const weak = await call("POST", "/v1/auth/password/reset", { body: { phone: user.user.phone, code, new_password: "short" } });
    expect((await expectProblem(weak, 400, "weak_password")).rule).toBe("too_short");
    const retry = await call("POST", "/v1/auth/password/reset", {
      body: { phone: user.user.phone, code, new_password: "long enough passphrase" },
    });
    expect(retry.status).toBe(200);
  });

  it("keeps purposes apart: a login code does not reset, a reset code does not sign in", async () => {
    const user = await userWithPassword();
    advance(61_000);
    const loginCode = await sendCode(user.user.phone);
    await expectProblem(
      await call("POST", "/v1/auth/password/reset", {
        body: { phone: user.user.phone, code: loginCode, new_password: "another good passphrase" },
      }),
      400,
      "code_expired",
    );
    advance(122_000);
    const resetCode = await sendCode(user.user.phone, { purpose: "reset_password" });
    if (resetCode !== loginCode) {
      await expectProblem(
        await call("POST", "/v1/auth/otp/verify", { body: { phone: user.user.phone, code: resetCode } }),
        400,
        "invalid_code",
      );
    }
  });

  it("a wrong reset code counts against the code like any guess", async () => {
    const user = await userWithPassword();
    advance(61_000);
    const code = await sendCode(user.user.phone, { purpose: "reset_password" });
    const problem = await expectProblem(
      await call("POST", "/v1/auth/password/reset", {
        body: { phone: user.user.phone, code: wrongCode(code), new_password: "another good passphrase" },
      }),
      400,
      "invalid_code",
    );
    expect(problem.attempts_left).toBe(4);
  });

  it("a code that is not OTP_LENGTH digits is validation_failed and not counted", async () => {
    const user = await userWithPassword();
    advance(61_000);
    const code = await sendCode(user.user.phone, { purpose: "reset_password" });
    for (const short of [code.slice(0, 5), `${code}0`]) {
      const problem = await expectProblem(
        await call("POST", "/v1/auth/password/reset", {
          body: { phone: user.user.phone, code: short, new_password: "another good passphrase" },
        }),
        400,
        "validation_failed",
      );
      expect(problem.errors).toEqual([{ path: "code", message: "must be 6 digits" }]);
    }
    expect(await row("SELECT attempts FROM otp_challenges WHERE phone = ? AND purpose = 'reset_password'", user.user.phone)).toEqual({
      attempts: 0,
    });
    expect(await guardColumns(["fail_count"], user.user.phone)).toEqual({ fail_count: 0 });
    const wrong = await call("POST", "/v1/auth/password/reset", {
      body: { phone: user.user.phone, code: wrongCode(code), new_password: "another good passphrase" },
    });
    expect((await expectProblem(wrong, 400, "invalid_code")).attempts_left).toBe(4);
  });
});

describe("POST /v1/me/phone", () => {
  async function changeCode(who: TokenBody, phone: string) {
    const response = await call("POST", "/v1/auth/otp", { token: who.access_token, body: { phone, purpose: "change_phone" } });
    expect(response.status).toBe(200);
    return ((await response.json()) as { dev_code: string }).dev_code;
  }

  it("moves the account to the new number, revokes other sessions, notices the old number", async () => {
    const oldPhone = freshPhone();
    const other = await signIn(oldPhone);
    advance(61_000);
    const user = await signIn(oldPhone);
    const newPhone = freshPhone();
    const code = await changeCode(user, newPhone);
    const log = vi.spyOn(console, "log");
    const response = await call("POST", "/v1/me/phone", { token: user.access_token, body: { phone: newPhone, code } });
    const body = (await response.json()) as { phone: string; id: string };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ phone: newPhone, id: user.user.id });
    expect(log.mock.calls.flat().join("\n")).toContain(`to ${oldPhone}:`);
    await expectProblem(await call("POST", "/v1/auth/token", { body: { refresh_token: other.refresh_token } }), 401, "invalid_token");
    expect(await row("SELECT phone FROM users WHERE id = ?", user.user.id)).toEqual({ phone: newPhone });
  });

  it("answers phone_taken when the number was claimed after the code was sent", async () => {
    const user = await signIn();
    const contested = freshPhone();
    const code = await changeCode(user, contested);
    advance(61_000);
    await signIn(contested);
    await expectProblem(
      await call("POST", "/v1/me/phone", { token: user.access_token, body: { phone: contested, code } }),
      409,
      "phone_taken",
    );
    expect(await row("SELECT phone FROM users WHERE id = ?", user.user.id)).toEqual({ phone: user.user.phone });
  });

  it("a change_phone code is bound to the user who asked for it", async () => {
    const [asker, thief] = [await signIn(), await signIn()];
    const target = freshPhone();
    const code = await changeCode(asker, target);
    await expectProblem(
      await call("POST", "/v1/me/phone", { token: thief.access_token, body: { phone: target, code } }),
      400,
      "code_expired",
    );
  });

  it("needs a recent sign-in or the current password", async () => {
    const user = await userWithPassword();
    const target = freshPhone();
    advance(301_000);
    const code = await changeCode(user, target);
    await expectProblem(
      await call("POST", "/v1/me/phone", { token: user.access_token, body: { phone: target, code } }),
      403,
      "reauthentication_required",
    );
    const ok = await call("POST", "/v1/me/phone", { token: user.access_token, body: { phone: target, code, current_password: GOOD } });
    expect(ok.status).toBe(200);
  });

  it("a code that is not OTP_LENGTH digits is validation_failed: not counted, no password guess spent", async () => {
    const user = await userWithPassword();
    const target = freshPhone();
    advance(301_000);
    const code = await changeCode(user, target);
    const short = await call("POST", "/v1/me/phone", {
      token: user.access_token,
      body: { phone: target, code: code.slice(0, 5), current_password: "not the password at all" },
    });
    expect((await expectProblem(short, 400, "validation_failed")).errors).toEqual([{ path: "code", message: "must be 6 digits" }]);
    expect(await row("SELECT attempts FROM otp_challenges WHERE phone = ? AND purpose = 'change_phone'", target)).toEqual({ attempts: 0 });
    expect(await guardColumns(["pw_fail_count", "pw_fail_streak"], user.user.phone)).toMatchObject({
      pw_fail_count: 0,
      pw_fail_streak: 0,
    });
    const wrong = await call("POST", "/v1/me/phone", {
      token: user.access_token,
      body: { phone: target, code: wrongCode(code), current_password: GOOD },
    });
    expect((await expectProblem(wrong, 400, "invalid_code")).attempts_left).toBe(4);
    expect(await row("SELECT phone FROM users WHERE id = ?", user.user.id)).toEqual({ phone: user.user.phone });
  });
});

describe("DELETE /v1/me with current_password", () => {
  it("a stale sign-in can delete with the current password", async () => {
    const user = await userWithPassword();
    advance(301_000);
    await expectProblem(await call("DELETE", "/v1/me", { token: user.access_token }), 403, "reauthentication_required");
    await expectProblem(
      await call("DELETE", "/v1/me", { token: user.access_token, body: { current_password: "not it at all, sorry" } }),
      403,
      "current_password_invalid",
    );
    expect((await call("DELETE", "/v1/me", { token: user.access_token, body: { current_password: GOOD } })).status).toBe(204);
    expect(await row("SELECT count(*) AS n FROM users WHERE id = ?", user.user.id)).toEqual({ n: 0 });
    // The right password's reservation was given back with the deletion: only the wrong one counts,
    // and the streak of wrong passwords in a row ended.
    expect(await guardColumns(["pw_fail_count", "pw_fail_streak"], user.user.phone)).toEqual({
      pw_fail_count: 1,
      pw_fail_streak: 0,
    });
  });
});

describe("consecutive failures (NIST SP 800-63B-4 §3.2.2: at most 100 in a row)", () => {
  const streakOf = async (phone: string) => (await guardColumns<{ pw_fail_streak: number }>(["pw_fail_streak"], phone))?.pw_fail_streak;
  const setStreak = (phone: string, streak: number) =>
    env.DB.prepare("UPDATE phone_guards SET pw_fail_streak = ? WHERE phone = ?").bind(streak, phone).run();

  it("counts wrong passwords in a row across lock windows, and a right one ends the streak", async () => {
    const user = await userWithPassword();
    const phone = user.user.phone;
    await expectProblem(await login(phone, "wrong passphrase number one"), 401, "invalid_credentials");
    await expectProblem(await login(phone, "wrong passphrase number two"), 401, "invalid_credentials");
    expect(await streakOf(phone)).toBe(2);
    expect((await login(phone, GOOD)).status).toBe(200);
    expect(await streakOf(phone)).toBe(0);
  });

  it("locks password sign-in after the 100th wrong password in a row until a reset by SMS", async () => {
    const user = await userWithPassword();
    const phone = user.user.phone;
    // 99 failures spread over earlier windows (each window's own lock long expired).
    await setStreak(phone, 99);
    await expectProblem(await login(phone, "wrong passphrase number 100"), 401, "invalid_credentials");
    expect(await streakOf(phone)).toBe(100);
    // Even the right password is refused now, whatever the windowed lock says.
    advance(24 * 3600_000);
    const locked = await expectProblem(await login(phone, GOOD), 429, "too_many_attempts");
    expect(locked.detail).toMatch(/Reset the password by SMS/);
    expect(await streakOf(phone)).toBe(100);
    // SMS sign-in still works, and a reset by SMS reopens password sign-in.
    const code = await sendCode(phone, { purpose: "reset_password" });
    const reset = await call("POST", "/v1/auth/password/reset", { body: { phone, code, new_password: "a brand new passphrase 2026" } });
    expect(reset.status).toBe(200);
    expect(await streakOf(phone)).toBe(0);
    expect((await login(phone, "a brand new passphrase 2026")).status).toBe(200);
  });
});

describe("the common-password list", () => {
  it("is read through the ASSETS binding and never served to the public", async () => {
    const listed = await (await env.ASSETS.fetch("https://assets.local/passwords/common.txt")).text();
    expect(listed.split("\n")).toContain("password");
    await expectProblem(await call("GET", "/passwords/common.txt"), 404, "not_found");
  });
});
