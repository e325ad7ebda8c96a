import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, expectProblem, freshIp, freshPhone, rateLimit, row, sendCode, signIn } from "./helpers";
import {
  advance,
  callWith,
  challengeOf,
  freezeClock,
  guardOf,
  HOUR,
  hmacHex,
  interceptWebhook,
  json,
  MINUTE,
  requestCode,
  SECOND,
  userCount,
  variantEnv,
  verifyCode,
  verifyOk,
  WEBHOOK_SECRET,
  WEBHOOK_URL,
} from "./otp-helpers";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const SENT_KEYS = ["channel", "code_length", "dev_code", "expires_in", "phone", "purpose", "resend_in"];
const webhook = { SMS_PROVIDER: "webhook", SMS_WEBHOOK_URL: WEBHOOK_URL, SMS_WEBHOOK_SECRET: WEBHOOK_SECRET };

// Config is cached per env object: each variant is built once.
const webhookDev = variantEnv(webhook);
const webhookSlow = variantEnv({ ...webhook, SMS_TIMEOUT_MS: "50" });
const webOtp = variantEnv({ ...webhook, WEBOTP_DOMAIN: "auth.example.com", SMS_TEMPLATE: "{code} is your {app} code" });
const production = variantEnv({ ...webhook, ENVIRONMENT: undefined });
const productionConsole = variantEnv({ ENVIRONMENT: undefined, SMS_PROVIDER: "console" });
const TEST_PHONE = "+375291112233";
const TEST_PHONE_PROD = "+375291112244";
const withTestPhones = variantEnv({ ...webhook, TEST_PHONES: `${TEST_PHONE}:123456,+16505550100:654321` });
const productionTestPhones = variantEnv({ ...webhook, ENVIRONMENT: undefined, TEST_PHONES: `${TEST_PHONE_PROD}:246810` });

const sendWith = (variant: typeof env, phone: string, extra: Record<string, unknown> = {}) =>
  callWith(variant, "POST", "/v1/auth/otp", { body: { phone, ...extra } });

describe("the clock the worker reads", () => {
  it("moves with vi.setSystemTime: a resend is refused at +30 s and accepted at +61 s", async () => {
    const phone = freshPhone();
    const t0 = freezeClock();
    expect((await requestCode(phone)).status).toBe(200);
    expect((await guardOf(phone))?.last_sent_at).toBe(t0);
    advance(30 * SECOND);
    await expectProblem(await requestCode(phone), 429, "resend_too_soon");
    const t1 = advance(31 * SECOND);
    expect((await requestCode(phone)).status).toBe(200);
    expect((await guardOf(phone))?.last_sent_at).toBe(t1);
  });
});

describe("sending a code", () => {
  it("answers the contract's body, uncached, with the sandbox dev_code", async () => {
    const phone = freshPhone();
    const response = await requestCode(phone);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("X-Request-Id")).toBeTruthy();
    const body = await json(response);
    expect(Object.keys(body).sort()).toEqual(SENT_KEYS);
    expect(body).toMatchObject({ phone, purpose: "login", channel: "sms", expires_in: 300, resend_in: 60, code_length: 6 });
    expect(body.dev_code).toMatch(/^\d{6}$/);
  });

  it("echoes the purpose asked for", async () => {
    const phone = freshPhone();
    const response = await requestCode(phone, { purpose: "reset_password" });
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ phone, purpose: "reset_password" });
  });

  it("stores the challenge in D1 and only a keyed hash of the code in KV", async () => {
    const phone = freshPhone();
    const t0 = freezeClock();
    const code = await sendCode(phone);
    const challenge = await challengeOf(phone);
    expect(challenge).toMatchObject({
      phone,
      purpose: "login",
      user_id: null,
      attempts: 0,
      expires_at: t0 + 300 * SECOND,
      consumed_at: null,
    });
    expect(challenge?.code_id).not.toContain(code);
    const stored = await env.KV.get(`otp:${challenge?.code_id}`);
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect(stored).not.toContain(code);
    expect(await guardOf(phone)).toMatchObject({ last_sent_at: t0, hour_count: 1, day_count: 1, fail_count: 0, locked_until: null });
  });

  it("answers login the same for known and unknown phones", async () => {
    const known = (await signIn()).user.phone;
    advance(61 * SECOND);
    const shapes = [];
    for (const phone of [known, freshPhone()]) {
      const response = await requestCode(phone);
      const body = await json(response);
      shapes.push({ status: response.status, keys: Object.keys(body).sort(), body: { ...body, phone: "*", dev_code: "*" } });
    }
    expect(shapes[0]).toEqual({
      status: 200,
      keys: SENT_KEYS,
      body: { phone: "*", purpose: "login", channel: "sms", expires_in: 300, resend_in: 60, code_length: 6, dev_code: "*" },
    });
    expect(shapes[1]).toEqual(shapes[0]);
  });

  it("ignores unknown keys and fields a client may not set", async () => {
    const phone = freshPhone();
    const response = await requestCode(phone, { role: "admin", user_id: "someone", points: 1_000_000, extra: { nested: true } });
    expect(response.status).toBe(200);
    expect(Object.keys(await json(response)).sort()).toEqual(SENT_KEYS);
  });
});

describe("phone normalisation", () => {
  it("maps spaced, 00-prefixed and national formats (region BY or DEFAULT_REGION) to one E.164 and one account", async () => {
    const phone = freshPhone();
    const d = phone.slice("+37529".length);
    const spaced = `+375 29 ${d.slice(0, 3)}-${d.slice(3, 5)}-${d.slice(5)}`;
    const doubleZero = `00375 29 ${d}`;
    const national = `(029) ${d.slice(0, 3)}.${d.slice(3, 5)}.${d.slice(5)}`;
    const trunk = `8 029 ${d}`;

    freezeClock();
    const first = await requestCode(spaced);
    const sent = await json<{ phone: string; dev_code: string }>(first);
    expect(first.status).toBe(200);
    expect(sent.phone).toBe(phone);
    const created = await verifyOk(doubleZero, sent.dev_code);
    expect(created).toMatchObject({ is_new_user: true, user: { phone } });

    advance(61 * SECOND);
    const again = await requestCode(national, { region: "BY" });
    const resent = await json<{ phone: string; dev_code: string }>(again);
    expect(again.status).toBe(200);
    expect(resent.phone).toBe(phone);
    const loggedIn = await verifyOk(national, resent.dev_code);
    expect(loggedIn).toMatchObject({ is_new_user: false, user: { id: created.user.id, phone } });

    // The cooldown is keyed by the same E.164: another spelling is the same phone.
    await expectProblem(await requestCode(trunk), 429, "resend_too_soon");
    await expectProblem(await requestCode(national, { region: "by" }), 429, "resend_too_soon");

    expect(await userCount(phone)).toBe(1);
    const guards = await row<{ n: number }>(
      "SELECT count(*) AS n FROM phone_guards WHERE phone IN (?, ?, ?, ?)",
      spaced,
      doubleZero,
      national,
      trunk,
    );
    expect(guards?.n).toBe(0);
  });

  it("reads a national number with the body's region over DEFAULT_REGION (09123456789 with IR → +989123456789)", async () => {
    const response = await requestCode("09123456789", { region: "IR" });
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ phone: "+989123456789" });
    expect(await guardOf("+989123456789")).toMatchObject({ hour_count: 1 });
  });

  it("ignores region for a number in international format", async () => {
    const phone = freshPhone();
    const response = await requestCode(phone, { region: "IR" });
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ phone });
  });

  it.each([
    ["a landline", "+375 17 123-45-67"],
    ["a Belarusian toll-free number", "+375 800 123-456"],
    ["a US toll-free number", "+1 800 555 0100"],
    ["a premium-rate number", "+44 909 879 0000"],
    ["too few digits", "12345"],
    ["an impossible country code", "+999 123 456 789"],
    ["letters inside", "+37529abc4567"],
    ["words", "call me maybe"],
    ["two numbers", "+375291234567,+375291234568"],
    ["a lone plus", "+"],
  ])("answers 400 invalid_phone for %s", async (_name, phone) => {
    const problem = await expectProblem(await requestCode(phone), 400, "invalid_phone");
    expect(problem.detail).toEqual(expect.any(String));
    expect(problem.type).toBe("about:blank");
  });

  it.each([
    ["three letters", "BYR"],
    ["one letter", "B"],
    ["a digit", "1A"],
    ["an empty string", ""],
    ["a number", 375],
  ])("answers validation_failed for a region that is %s", async (_name, region) => {
    const problem = await expectProblem(await requestCode(freshPhone(), { region }), 400, "validation_failed");
    expect(problem.errors).toEqual([expect.objectContaining({ path: "region", message: expect.any(String) })]);
  });

  it("answers a 400 (never a 500) for a well-formed but unknown region", async () => {
    const response = await requestCode("(029) 123-45-67", { region: "ZZ" });
    expect(response.status).toBe(400);
    const problem = await json<{ code: string }>(response);
    expect(["validation_failed", "invalid_phone"]).toContain(problem.code);
  });
});

describe("request validation", () => {
  it.each([
    ["a missing phone", () => ({}), "phone"],
    ["a phone that is a number", () => ({ phone: 375291234567 }), "phone"],
    ["a null phone", () => ({ phone: null }), "phone"],
    ["a blank phone", () => ({ phone: "   " }), "phone"],
    ["a phone longer than 64 characters", () => ({ phone: "1".repeat(65) }), "phone"],
    ["an unknown purpose", () => ({ phone: freshPhone(), purpose: "signup" }), "purpose"],
    ["a purpose that is not a string", () => ({ phone: freshPhone(), purpose: 1 }), "purpose"],
  ])("answers validation_failed for %s, naming the field, and counts nothing", async (_name, makeBody, path) => {
    const body = makeBody() as Record<string, unknown>;
    const problem = await expectProblem(await call("POST", "/v1/auth/otp", { body }), 400, "validation_failed");
    expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path, message: expect.any(String) })]));
    if (typeof body.phone === "string" && body.phone.startsWith("+")) expect(await guardOf(body.phone)).toBeNull();
  });

  it("answers validation_failed for a body that is not an object", async () => {
    await expectProblem(await call("POST", "/v1/auth/otp", { body: [] }), 400, "validation_failed");
  });

  it("checks in the contract's order: 413, 415, malformed_request, validation_failed, invalid_phone", async () => {
    const big = "x".repeat(17 * 1024);
    await expectProblem(
      await call("POST", "/v1/auth/otp", { body: big, headers: { "Content-Type": "text/plain" } }),
      413,
      "payload_too_large",
    );
    await expectProblem(
      await call("POST", "/v1/auth/otp", { body: "not json", headers: { "Content-Type": "text/plain" } }),
      415,
      "unsupported_media_type",
    );
    await expectProblem(await call("POST", "/v1/auth/otp", { body: '{"phone": ' }), 400, "malformed_request");
    await expectProblem(await call("POST", "/v1/auth/otp", { body: { phone: "garbage", purpose: "signup" } }), 400, "validation_failed");
    await expectProblem(await call("POST", "/v1/auth/otp", { body: { phone: "garbage" } }), 400, "invalid_phone");
  });
});

describe("resend cooldown", () => {
  it("answers resend_too_soon with retry_after and Retry-After inside 60 s, and keeps the first code", async () => {
    const phone = freshPhone();
    const t0 = freezeClock();
    const code = await sendCode(phone);
    const before = await challengeOf(phone);
    advance(20 * SECOND);
    const response = await requestCode(phone);
    const problem = await expectProblem(response, 429, "resend_too_soon");
    expect(problem.retry_after).toBe(40);
    expect(response.headers.get("Retry-After")).toBe("40");
    // RateLimit-* name the window that refused (the cooldown: 1 per 60 s), not the IP windows it passed.
    expect(rateLimit(response)).toEqual({ limit: "1", remaining: "0", reset: "40" });
    // The refusal changed nothing: same code, same cooldown start, no extra window count.
    expect(await challengeOf(phone)).toEqual(before);
    expect(await guardOf(phone)).toMatchObject({ last_sent_at: t0, hour_count: 1, day_count: 1 });
    expect((await verifyCode(phone, code)).status).toBe(200);
  });

  it("refuses at 59 s (retry_after 1) and accepts at 60 s", async () => {
    const phone = freshPhone();
    freezeClock();
    await sendCode(phone);
    advance(59 * SECOND);
    expect((await expectProblem(await requestCode(phone), 429, "resend_too_soon")).retry_after).toBe(1);
    advance(1 * SECOND);
    expect((await requestCode(phone)).status).toBe(200);
  });

  it("after 61 s issues a new code that replaces the earlier one", async () => {
    const phone = freshPhone();
    freezeClock();
    const oldCode = await sendCode(phone);
    const oldChallenge = await challengeOf(phone);
    advance(61 * SECOND);
    const newCode = await sendCode(phone);
    const newChallenge = await challengeOf(phone);
    expect(newChallenge?.code_id).not.toBe(oldChallenge?.code_id);
    expect(await env.KV.get(`otp:${newChallenge?.code_id}`)).toMatch(/^[0-9a-f]{64}$/);
    if (newCode !== oldCode) {
      // The earlier code is dead: a live code exists, so it is a wrong guess against that one.
      const problem = await expectProblem(await verifyCode(phone, oldCode), 400, "invalid_code");
      expect(problem.attempts_left).toBe(4);
    }
    expect((await verifyCode(phone, newCode)).status).toBe(200);
  });

  it("is per phone across purposes", async () => {
    const phone = freshPhone();
    freezeClock();
    await sendCode(phone);
    advance(10 * SECOND);
    for (const purpose of ["reset_password", "login"]) {
      expect((await expectProblem(await requestCode(phone, { purpose }), 429, "resend_too_soon")).retry_after).toBe(50);
    }
    advance(51 * SECOND);
    expect((await requestCode(phone, { purpose: "reset_password" })).status).toBe(200);
    await expectProblem(await requestCode(phone), 429, "resend_too_soon");
  });
});

describe("per-phone send windows", () => {
  it("allows 5 sends per hour; the 6th answers rate_limited until the hour is over", async () => {
    const phone = freshPhone();
    const t0 = freezeClock();
    for (let i = 0; i < 5; i++) {
      if (i > 0) advance(61 * SECOND);
      expect((await requestCode(phone)).status).toBe(200);
    }
    // The cooldown is checked before the windows.
    await expectProblem(await requestCode(phone), 429, "resend_too_soon");
    const now = advance(61 * SECOND);
    const response = await requestCode(phone);
    const problem = await expectProblem(response, 429, "rate_limited");
    const expected = Math.ceil((t0 + HOUR - now) / 1000);
    expect(problem.retry_after).toBe(expected);
    expect(response.headers.get("Retry-After")).toBe(String(expected));
    expect(rateLimit(response)).toEqual({ limit: "5", remaining: "0", reset: String(expected) });
    expect(await guardOf(phone)).toMatchObject({ hour_count: 5, day_count: 5 });

    // Sliding: at t0 + 1 h the first send leaves the window, so exactly one more fits.
    freezeClock(t0 + HOUR);
    expect((await requestCode(phone)).status).toBe(200);
    expect(await guardOf(phone)).toMatchObject({ hour_count: 5, day_count: 6 });
  });

  it("allows 10 sends per day across hours; the 11th answers rate_limited until the day is over", async () => {
    const phone = freshPhone();
    const t0 = freezeClock();
    for (const hourStart of [t0, t0 + HOUR]) {
      for (let i = 0; i < 5; i++) {
        freezeClock(hourStart + i * 61 * SECOND);
        expect((await requestCode(phone)).status).toBe(200);
      }
    }
    const now = freezeClock(t0 + 2 * HOUR);
    const response = await requestCode(phone);
    const problem = await expectProblem(response, 429, "rate_limited");
    expect(problem.retry_after).toBe(Math.ceil((t0 + 24 * HOUR - now) / 1000));
    expect(rateLimit(response)).toEqual({ limit: "10", remaining: "0", reset: String(problem.retry_after) });
    expect(await guardOf(phone)).toMatchObject({ day_count: 10 });

    freezeClock(t0 + 24 * HOUR);
    expect((await requestCode(phone)).status).toBe(200);
  });
});

describe("per-IP send windows", () => {
  it("refuses the 6th send from one IP within a minute with rate_limited, RateLimit-* and Retry-After", async () => {
    const ip = freshIp();
    freezeClock();
    for (let i = 0; i < 5; i++) {
      const response = await requestCode(freshPhone(), {}, { ip });
      expect(response.status).toBe(200);
      // The window with the least left: each phone's cooldown (1 per 60 s, just spent), until the
      // 5th send fills the IP's minute too (a tie of full windows names the IP's).
      expect(response.headers.get("RateLimit-Limit")).toBe(i < 4 ? "1" : "5");
      expect(response.headers.get("RateLimit-Remaining")).toBe("0");
      expect(response.headers.get("RateLimit-Reset")).toBe("60");
    }
    const refused = freshPhone();
    const response = await requestCode(refused, {}, { ip });
    const problem = await expectProblem(response, 429, "rate_limited");
    expect(problem.retry_after).toBe(60);
    expect(response.headers.get("Retry-After")).toBe("60");
    expect(response.headers.get("RateLimit-Limit")).toBe("5");
    expect(response.headers.get("RateLimit-Remaining")).toBe("0");
    expect(response.headers.get("RateLimit-Reset")).toBe("60");
    // Refused before the phone gate: nothing counted for the phone.
    expect(await guardOf(refused)).toBeNull();
    // Another client is not affected.
    expect((await requestCode(freshPhone())).status).toBe(200);
    // The minute window reopens.
    advance(60 * SECOND);
    expect((await requestCode(refused, {}, { ip })).status).toBe(200);
  });

  it("counts every request that reaches it, refused ones included", async () => {
    const ip = freshIp();
    freezeClock();
    const phone = freshPhone();
    expect((await requestCode(phone, {}, { ip })).status).toBe(200);
    for (let i = 0; i < 4; i++) await expectProblem(await requestCode(phone, {}, { ip }), 429, "resend_too_soon");
    // The IP window comes before the phone's cooldown in the order of checks.
    await expectProblem(await requestCode(phone, {}, { ip }), 429, "rate_limited");
    await expectProblem(await requestCode(freshPhone(), {}, { ip }), 429, "rate_limited");
    // invalid_phone is answered before the IP window.
    await expectProblem(await requestCode("garbage", {}, { ip }), 400, "invalid_phone");
  });

  it("groups IPv6 clients by /64", async () => {
    freezeClock();
    for (let i = 1; i <= 5; i++) expect((await requestCode(freshPhone(), {}, { ip: `2001:db8:77:1::${i}` })).status).toBe(200);
    await expectProblem(await requestCode(freshPhone(), {}, { ip: "2001:db8:77:1:aaaa:bbbb:cccc:dddd" }), 429, "rate_limited");
    expect((await requestCode(freshPhone(), {}, { ip: "2001:db8:77:2::1" })).status).toBe(200);
  });

  it("allows 50 sends per IP per day", async () => {
    const ip = freshIp();
    const t0 = freezeClock();
    for (let minute = 0; minute < 10; minute++) {
      freezeClock(t0 + minute * MINUTE);
      for (let i = 0; i < 5; i++) expect((await requestCode(freshPhone(), {}, { ip })).status).toBe(200);
    }
    freezeClock(t0 + 10 * MINUTE);
    const problem = await expectProblem(await requestCode(freshPhone(), {}, { ip }), 429, "rate_limited");
    expect(problem.retry_after).toBe(86_400 - 600);
  });
});

describe("reset_password", () => {
  it("answers the same for no account, an account without a password, and one with a password", async () => {
    const nobody = freshPhone();
    const noPassword = (await signIn()).user.phone;
    const withPassword = (await signIn()).user.phone;
    await env.DB.prepare("UPDATE users SET password_hash = 'fixture' WHERE phone = ?").bind(withPassword).run();
    advance(61 * SECOND);

    const answers = [];
    for (const phone of [nobody, noPassword, withPassword]) {
      const response = await requestCode(phone, { purpose: "reset_password" });
      const body = await json(response);
      answers.push({
        status: response.status,
        type: response.headers.get("Content-Type"),
        cache: response.headers.get("Cache-Control"),
        keys: Object.keys(body).sort(),
        shape: { ...body, phone: "*", dev_code: typeof body.dev_code === "string" && /^\d{6}$/.test(body.dev_code) },
      });
      expect(body.phone).toBe(phone);
    }
    expect(answers[0]).toEqual({
      status: 200,
      type: expect.stringMatching(/^application\/json/),
      cache: "no-store",
      keys: SENT_KEYS,
      shape: { phone: "*", purpose: "reset_password", channel: "sms", expires_in: 300, resend_in: 60, code_length: 6, dev_code: true },
    });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);

    // Limits count per phone whether or not an account exists.
    for (const phone of [nobody, noPassword, withPassword]) {
      await expectProblem(await requestCode(phone, { purpose: "reset_password" }), 429, "resend_too_soon");
    }
    // Only the password holder got a real code; the others a decoy that no guess can consume.
    const decoyOf = (phone: string) =>
      row<{ decoy: number }>("SELECT decoy FROM otp_challenges WHERE phone = ? AND purpose = 'reset_password'", phone);
    expect(await decoyOf(nobody)).toEqual({ decoy: 1 });
    expect(await decoyOf(noPassword)).toEqual({ decoy: 1 });
    expect(await decoyOf(withPassword)).toEqual({ decoy: 0 });
    expect(await challengeOf(withPassword, "reset_password")).toMatchObject({ attempts: 0, consumed_at: null });
  });

  it("only sends an SMS when the account has a password", async () => {
    const nobody = freshPhone();
    const noPassword = (await signIn()).user.phone;
    const withPassword = (await signIn()).user.phone;
    await env.DB.prepare("UPDATE users SET password_hash = 'fixture' WHERE phone = ?").bind(withPassword).run();
    advance(61 * SECOND);
    const { calls } = interceptWebhook();
    for (const phone of [nobody, noPassword, withPassword]) {
      expect((await sendWith(webhookDev, phone, { purpose: "reset_password" })).status).toBe(200);
    }
    expect(calls.map((c) => c.body)).toEqual([expect.objectContaining({ to: withPassword, purpose: "reset_password" })]);
  });
});

describe("reset_password delivery", () => {
  it("answers the same 200 when the provider fails, then withdraws the code and clears the cooldown", async () => {
    const withPassword = (await signIn()).user.phone;
    await env.DB.prepare("UPDATE users SET password_hash = 'fixture' WHERE phone = ?").bind(withPassword).run();
    advance(61 * SECOND);
    // Waiting for the provider would tell password holders apart by time (bench/ENUMERATION.md),
    // so the SMS goes out after the answer and its failure cannot be a 502.
    const failing = interceptWebhook(async () => new Response("down", { status: 500 }));
    const response = await sendWith(webhookDev, withPassword, { purpose: "reset_password" });
    expect(response.status).toBe(200);
    expect(failing.calls).toHaveLength(1);
    expect(await challengeOf(withPassword, "reset_password")).toBeNull();
    failing.spy.mockRestore();
    // Nothing held back: the user can ask again at once and this time it is delivered.
    const { calls } = interceptWebhook();
    expect((await sendWith(webhookDev, withPassword, { purpose: "reset_password" })).status).toBe(200);
    expect(calls).toHaveLength(1);
    expect(await challengeOf(withPassword, "reset_password")).toMatchObject({ consumed_at: null });
  });
});

describe("change_phone", () => {
  it("needs a bearer token", async () => {
    const phone = freshPhone();
    const response = await requestCode(phone, { purpose: "change_phone" });
    await expectProblem(response, 401, "unauthorized");
    expect(response.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
    await expectProblem(await requestCode(phone, { purpose: "change_phone" }, { token: "not-a-token" }), 401, "unauthorized");
    const { refresh_token } = await signIn();
    await expectProblem(await requestCode(phone, { purpose: "change_phone" }, { token: refresh_token }), 401, "unauthorized");
    expect(await guardOf(phone)).toBeNull();
  });

  it("binds the code to the signed-in user", async () => {
    const me = await signIn();
    const target = freshPhone();
    const response = await requestCode(target, { purpose: "change_phone" }, { token: me.access_token });
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ phone: target, purpose: "change_phone" });
    expect(await challengeOf(target, "change_phone")).toMatchObject({ user_id: me.user.id, attempts: 0 });
  });

  it("answers 409 phone_taken when the number belongs to another user, and issues no code", async () => {
    const me = await signIn();
    const other = await signIn();
    advance(61 * SECOND);
    const problem = await expectProblem(
      await requestCode(other.user.phone, { purpose: "change_phone" }, { token: me.access_token }),
      409,
      "phone_taken",
    );
    expect(problem.detail).not.toContain(other.user.id);
    expect(await challengeOf(other.user.phone, "change_phone")).toBeNull();
  });
});

describe("SMS delivery through the webhook provider", () => {
  it("POSTs { to, body, code, purpose, channel } with X-Webhook-Timestamp and an HMAC-SHA-256 signature of timestamp.rawBody", async () => {
    const phone = freshPhone();
    const t0 = freezeClock();
    const { calls } = interceptWebhook();
    const response = await sendWith(webhookDev, phone);
    const sent = await json<{ dev_code: string }>(response);
    expect(response.status).toBe(200);
    expect(calls).toHaveLength(1);
    const [delivery] = calls;
    if (!delivery) throw new Error("no webhook call");
    expect(delivery.url).toBe(WEBHOOK_URL);
    expect(delivery.method).toBe("POST");
    expect(delivery.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(delivery.body).toEqual({
      to: phone,
      body: `Your ${env.APP_NAME} code is ${sent.dev_code}`,
      code: sent.dev_code,
      purpose: "login",
      channel: "sms",
    });
    const timestamp = delivery.headers.get("X-Webhook-Timestamp");
    expect(timestamp).toBe(String(Math.floor(t0 / 1000)));
    expect(delivery.headers.get("X-Webhook-Signature")).toBe(`sha256=${await hmacHex(WEBHOOK_SECRET, `${timestamp}.${delivery.raw}`)}`);
  });

  it("treats any 2xx from the provider as delivered", async () => {
    const phone = freshPhone();
    interceptWebhook(async () => new Response(null, { status: 204 }));
    const response = await sendWith(webhookDev, phone);
    expect(response.status).toBe(200);
    expect(await challengeOf(phone)).toMatchObject({ attempts: 0, consumed_at: null });
  });

  it("appends the WebOTP line to the SMS_TEMPLATE text when WEBOTP_DOMAIN is set", async () => {
    const phone = freshPhone();
    const { calls } = interceptWebhook();
    const sent = await json<{ dev_code: string }>(await sendWith(webOtp, phone));
    const text = String(calls[0]?.body.body);
    expect(text.startsWith(`${sent.dev_code} is your ${env.APP_NAME} code`)).toBe(true);
    expect(text.split("\n").at(-1)).toBe(`@auth.example.com #${sent.dev_code}`);
  });

  it("answers 502 sms_delivery_failed when the provider answers 500: no live code, no cooldown, counted in the hour window", async () => {
    const phone = freshPhone();
    freezeClock();
    let failing = false;
    const { calls } = interceptWebhook(async () => new Response("boom", { status: failing ? 500 : 200 }));
    const first = await json<{ dev_code: string }>(await sendWith(webhookDev, phone));

    advance(61 * SECOND);
    failing = true;
    const problem = await expectProblem(await sendWith(webhookDev, phone), 502, "sms_delivery_failed");
    expect(problem).not.toHaveProperty("dev_code");
    expect(JSON.stringify(problem)).not.toMatch(/boom|stack|Error/);
    const failedCode = String(calls[1]?.body.code);
    expect(await challengeOf(phone)).toBeNull();
    expect(await guardOf(phone)).toMatchObject({ last_sent_at: null, hour_count: 2, day_count: 2 });

    // Neither the earlier code nor the undelivered one is live, and the guesses are not counted.
    await expectProblem(
      await callWith(webhookDev, "POST", "/v1/auth/otp/verify", { body: { phone, code: first.dev_code } }),
      400,
      "code_expired",
    );
    await expectProblem(
      await callWith(webhookDev, "POST", "/v1/auth/otp/verify", { body: { phone, code: failedCode } }),
      400,
      "code_expired",
    );
    expect((await guardOf(phone))?.fail_count).toBe(0);

    // No cooldown: an immediate resend is accepted and works.
    failing = false;
    const retry = await sendWith(webhookDev, phone);
    const resent = await json<{ dev_code: string }>(retry);
    expect(retry.status).toBe(200);
    expect(await guardOf(phone)).toMatchObject({ hour_count: 3 });
    expect((await callWith(webhookDev, "POST", "/v1/auth/otp/verify", { body: { phone, code: resent.dev_code } })).status).toBe(200);
  });

  it("answers 502 when the provider cannot be reached, and failed sends still fill the hour window", async () => {
    const phone = freshPhone();
    freezeClock();
    interceptWebhook(async () => {
      throw new TypeError("network connection lost");
    });
    for (let i = 0; i < 5; i++) await expectProblem(await sendWith(webhookDev, phone), 502, "sms_delivery_failed");
    expect(await guardOf(phone)).toMatchObject({ last_sent_at: null, hour_count: 5 });
    expect(await challengeOf(phone)).toBeNull();
    await expectProblem(await sendWith(webhookDev, phone), 429, "rate_limited");
  });

  it("answers 502 when the provider does not answer within SMS_TIMEOUT_MS", async () => {
    const phone = freshPhone();
    interceptWebhook(
      (init) =>
        new Promise<Response>((_resolve, reject) => {
          init.signal?.addEventListener("abort", () => reject(init.signal?.reason ?? new Error("aborted")));
        }),
    );
    await expectProblem(await sendWith(webhookSlow, phone), 502, "sms_delivery_failed");
    expect(await challengeOf(phone)).toBeNull();
    expect((await guardOf(phone))?.last_sent_at).toBeNull();
  });
});

describe("TEST_PHONES", () => {
  it("never calls the SMS provider for a test phone and accepts its fixed code", async () => {
    const { calls } = interceptWebhook();
    const response = await sendWith(withTestPhones, "+375 29 111-22-33");
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({ phone: TEST_PHONE, dev_code: "123456" });
    expect(calls).toHaveLength(0);
    const verify = await callWith(withTestPhones, "POST", "/v1/auth/otp/verify", { body: { phone: TEST_PHONE, code: "123456" } });
    expect(verify.status).toBe(200);
    expect(await json(verify)).toMatchObject({ is_new_user: true, user: { phone: TEST_PHONE } });

    // Control: an ordinary phone under the same config does reach the provider.
    const ordinary = freshPhone();
    expect((await sendWith(withTestPhones, ordinary)).status).toBe(200);
    expect(calls.map((c) => c.body.to)).toEqual([ordinary]);
  });

  it("works in production too, without a dev_code", async () => {
    const { calls } = interceptWebhook();
    const response = await sendWith(productionTestPhones, TEST_PHONE_PROD);
    expect(response.status).toBe(200);
    expect(await json(response)).not.toHaveProperty("dev_code");
    expect(calls).toHaveLength(0);
    const verify = await callWith(productionTestPhones, "POST", "/v1/auth/otp/verify", {
      body: { phone: TEST_PHONE_PROD, code: "246810" },
    });
    expect(verify.status).toBe(200);
  });
});

describe("production configuration", () => {
  it("never puts dev_code in the send response; the code reaches only the provider", async () => {
    const phone = freshPhone();
    const { calls } = interceptWebhook();
    const response = await sendWith(production, phone);
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(Object.keys(body).sort()).toEqual(SENT_KEYS.filter((key) => key !== "dev_code"));
    expect(body).toMatchObject({ phone, purpose: "login", expires_in: 300, resend_in: 60, code_length: 6 });
    expect(calls).toHaveLength(1);
    const code = String(calls[0]?.body.code);
    expect(code).toMatch(/^\d{6}$/);
    expect((await callWith(production, "POST", "/v1/auth/otp/verify", { body: { phone, code } })).status).toBe(200);
  });

  it("refuses to serve with the console provider: 503 service_unavailable", async () => {
    const response = await callWith(productionConsole, "POST", "/v1/auth/otp", { body: { phone: freshPhone() } });
    const problem = await expectProblem(response, 503, "service_unavailable");
    expect(response.headers.get("Retry-After")).toBeTruthy();
    expect(problem.detail).not.toContain("console");
  });
});
