import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { call, expectProblem, freshIp, freshPhone, rateLimit, row, sendCode, signIn, wrongCode } from "./helpers";
import { freezeClock } from "./otp-helpers";

const turnstile = { ...env, TURNSTILE_SECRET_KEY: "turnstile-secret" };
const onlyIran = { ...env, ALLOWED_COUNTRIES: "IR" };
const budgeted = { ...env, SMS_DAILY_LIMIT: "2", TEST_PHONES: "+375297770000:123456" };
const countryBudget = { ...env, SMS_COUNTRY_DAILY_LIMITS: "BY:1" };
const webhook = {
  ...env,
  SMS_PROVIDER: "webhook",
  SMS_WEBHOOK_URL: "https://sms.example.com/hook",
  SMS_WEBHOOK_SECRET: "webhook-secret-0123456789",
};

function send(variant: object, body: Record<string, unknown>, headers: Record<string, string> = { "CF-Connecting-IP": freshIp() }) {
  const request = new Request("http://api.test/v1/auth/otp", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return worker.fetch(request, variant as typeof env, createExecutionContext());
}

/** Moves the worker's clock (it shares this isolate's Date) to a fresh day, so budgets start empty. */
let day = 0;
function freshDay() {
  day += 1;
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.UTC(2031, 0, day, 12));
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("Turnstile", () => {
  function siteverify(result: object | Error) {
    const seen: Request[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      seen.push(new Request(input as RequestInfo, init));
      if (result instanceof Error) throw result;
      return Response.json(result);
    });
    return seen;
  }

  it("needs a token when configured, and sends no SMS without one", async () => {
    const sms = vi.spyOn(console, "log");
    await expectProblem(await send(turnstile, { phone: freshPhone() }), 400, "captcha_required");
    expect(sms.mock.calls.flat().join()).not.toContain("[delivery:console]");
  });

  it("checks the phone before the captcha", async () => {
    await expectProblem(await send(turnstile, { phone: "12" }), 400, "invalid_phone");
  });

  it("refuses a token siteverify rejects (e.g. a replayed one)", async () => {
    siteverify({ success: false, "error-codes": ["timeout-or-duplicate"] });
    const phone = freshPhone();
    await expectProblem(await send(turnstile, { phone, turnstile_token: "used-token" }), 403, "captcha_failed");
    expect(await row("SELECT count(*) AS n FROM phone_guards WHERE phone = ?", phone)).toEqual({ n: 0 });
  });

  it("accepts a token siteverify accepts, sending secret, token and client IP", async () => {
    const seen = siteverify({ success: true });
    const response = await send(turnstile, { phone: freshPhone(), turnstile_token: "good-token" }, { "CF-Connecting-IP": "203.0.113.9" });
    expect(response.status).toBe(200);
    const request = seen[0] as Request;
    expect(request.url).toBe("https://challenges.cloudflare.com/turnstile/v0/siteverify");
    const form = new URLSearchParams(await request.text());
    expect(Object.fromEntries(form)).toEqual({ secret: "turnstile-secret", response: "good-token", remoteip: "203.0.113.9" });
  });

  it("answers 503 when siteverify cannot be reached", async () => {
    siteverify(new TypeError("network down"));
    await expectProblem(await send(turnstile, { phone: freshPhone(), turnstile_token: "t" }), 503, "service_unavailable");
  });
});

describe("country allowlist", () => {
  it("refuses numbers outside ALLOWED_COUNTRIES and stores nothing", async () => {
    const phone = freshPhone();
    await expectProblem(await send(onlyIran, { phone }), 403, "country_not_allowed");
    expect(await row("SELECT count(*) AS n FROM phone_guards WHERE phone = ?", phone)).toEqual({ n: 0 });
    expect((await send(onlyIran, { phone: "09123456789", region: "IR" })).status).toBe(200);
  });
});

describe("daily SMS budget", () => {
  it("stops sending at SMS_DAILY_LIMIT until the next UTC day; test phones are exempt", async () => {
    freshDay();
    expect((await send(budgeted, { phone: freshPhone() })).status).toBe(200);
    expect((await send(budgeted, { phone: freshPhone() })).status).toBe(200);
    const refusedPhone = freshPhone();
    const problem = await expectProblem(await send(budgeted, { phone: refusedPhone }), 503, "sms_budget_exhausted");
    expect(problem.retry_after).toBe(12 * 3600);
    // Refused inside the gate: no guard row, no code, no send event for the phone.
    expect(await row("SELECT count(*) AS n FROM phone_guards WHERE phone = ?", refusedPhone)).toEqual({ n: 0 });
    expect(await row("SELECT count(*) AS n FROM otp_challenges WHERE phone = ?", refusedPhone)).toEqual({ n: 0 });
    expect(await row("SELECT count(*) AS n FROM rate_events WHERE key = ?", refusedPhone)).toEqual({ n: 0 });
    expect((await send(budgeted, { phone: "+375297770000" })).status).toBe(200);
    vi.setSystemTime(Date.now() + 12 * 3600 * 1000 + 1000);
    expect((await send(budgeted, { phone: freshPhone() })).status).toBe(200);
  });

  it("caps a country on its own", async () => {
    freshDay();
    expect((await send(countryBudget, { phone: freshPhone() })).status).toBe(200);
    await expectProblem(await send(countryBudget, { phone: freshPhone() }), 503, "sms_budget_exhausted");
    expect((await send(countryBudget, { phone: "+989123456780" })).status).toBe(200);
  });

  it("holds under parallel sends", async () => {
    freshDay();
    const answers = await Promise.all(Array.from({ length: 8 }, () => send(budgeted, { phone: freshPhone() })));
    expect(answers.filter((r) => r.status === 200)).toHaveLength(2);
    expect(answers.filter((r) => r.status === 503)).toHaveLength(6);
  });
});

describe("client IP", () => {
  it("is CF-Connecting-IP only: X-Forwarded-For, X-Real-IP and True-Client-IP change nothing", async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      const spoof = `10.0.0.${i}`;
      const response = await send(
        env,
        { phone: freshPhone() },
        { "CF-Connecting-IP": ip, "X-Forwarded-For": spoof, "X-Real-IP": spoof, "True-Client-IP": spoof },
      );
      expect(response.status).toBe(200);
    }
    const blocked = await send(env, { phone: freshPhone() }, { "CF-Connecting-IP": ip, "X-Forwarded-For": "10.9.9.9" });
    await expectProblem(blocked, 429, "rate_limited");
    expect(blocked.headers.get("Retry-After")).toMatch(/^\d+$/);
    expect(blocked.headers.get("RateLimit-Remaining")).toBe("0");
  });

  it("groups IPv6 clients by /64", async () => {
    for (let i = 1; i <= 5; i++)
      expect((await send(env, { phone: freshPhone() }, { "CF-Connecting-IP": `2001:db8:77:1::${i}` })).status).toBe(200);
    await expectProblem(await send(env, { phone: freshPhone() }, { "CF-Connecting-IP": "2001:db8:77:1:ffff:1:2:3" }), 429, "rate_limited");
    expect((await send(env, { phone: freshPhone() }, { "CF-Connecting-IP": "2001:db8:77:2::1" })).status).toBe(200);
  });

  it("carries RateLimit headers for the window with the least left: after a send, the phone's cooldown", async () => {
    const response = await send(env, { phone: freshPhone() }, { "CF-Connecting-IP": freshIp() });
    // 1 per OTP_RESEND_SECONDS, just spent; the IP's 5 a minute have 4 left.
    expect(rateLimit(response)).toEqual({ limit: "1", remaining: "0", reset: "60" });
    expect(((await response.json()) as { resend_in: number }).resend_in).toBe(60);
  });

  it("a guess names the phone's failure window or the IP's, whichever has less left", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    // Wrong guesses from new IPs: the phone's 10 an hour shrink, each IP's 10 a minute do not.
    for (let i = 1; i <= 3; i++) {
      const guess = await call("POST", "/v1/auth/otp/verify", { body: { phone, code: wrongCode(code) } });
      expect(guess.status).toBe(400);
      const headers = rateLimit(guess);
      expect({ limit: headers.limit, remaining: headers.remaining }).toEqual({ limit: "10", remaining: String(10 - i) });
      expect(Number(headers.reset)).toBeGreaterThan(3500);
    }
    // One IP guessing at new phones: its minute shrinks faster than any phone's hour.
    const ip = freshIp();
    for (let i = 1; i <= 3; i++) {
      const guess = await call("POST", "/v1/auth/otp/verify", { ip, body: { phone: freshPhone(), code: "123456" } });
      const headers = rateLimit(guess);
      expect({ limit: headers.limit, remaining: headers.remaining }).toEqual({ limit: "10", remaining: String(10 - i) });
      expect(Number(headers.reset)).toBeLessThanOrEqual(60);
    }
  });

  it("a guess at a locked phone names the lock: 0 left, reset at its end, as Retry-After says", async () => {
    const phone = freshPhone();
    const guessWrong = async (code: string) => {
      let last: Response | undefined;
      for (let i = 0; i < 5; i++) last = await call("POST", "/v1/auth/otp/verify", { body: { phone, code: wrongCode(code) } });
      return last as Response;
    };
    // Two codes (5 wrong guesses burn one), the second after the first's cooldown.
    await guessWrong(await sendCode(phone));
    freezeClock(Date.now() + 61_000);
    const code = await sendCode(phone);
    const last = await guessWrong(code);
    // The 10th wrong guess starts the hour's lock: its own answer names it already.
    expect(rateLimit(last)).toMatchObject({ limit: "10", remaining: "0" });
    const refused = await call("POST", "/v1/auth/otp/verify", { body: { phone, code } });
    const problem = await expectProblem(refused.clone(), 429, "too_many_attempts");
    const headers = rateLimit(refused);
    expect(headers).toEqual({ limit: "10", remaining: "0", reset: refused.headers.get("Retry-After") });
    expect(Number(headers.reset)).toBe(problem.retry_after);
    expect(Number(headers.reset)).toBeGreaterThan(3500);
  });

  it("a password login names the phone's failure window when it has less left, and a right password gives its failure back", async () => {
    const user = await signIn();
    const phone = user.user.phone;
    const good = "correct horse battery staple";
    expect((await call("PUT", "/v1/me/password", { token: user.access_token, body: { new_password: good } })).status).toBe(204);
    const login = (password: string) => call("POST", "/v1/auth/password/login", { body: { phone, password } });
    for (let i = 1; i <= 2; i++) {
      const wrong = await login(`wrong passphrase number ${i}`);
      expect(wrong.status).toBe(401);
      const headers = rateLimit(wrong);
      expect({ limit: headers.limit, remaining: headers.remaining }).toEqual({ limit: "5", remaining: String(5 - i) });
      expect(Number(headers.reset)).toBeGreaterThan(890);
    }
    const right = await login(good);
    expect(right.status).toBe(200);
    // The 2 failures stay (3 left of 5); the right guess's own reservation was given back.
    expect(rateLimit(right)).toMatchObject({ limit: "5", remaining: "3" });
    for (let i = 3; i <= 4; i++) expect((await login(`wrong passphrase number ${i}`)).status).toBe(401);
    // The 5th failure starts the 15-minute lock: its own 401 names it, the next login's 429 too.
    const fifth = await login("wrong passphrase number 5");
    expect(fifth.status).toBe(401);
    expect(rateLimit(fifth)).toMatchObject({ limit: "5", remaining: "0" });
    expect(Number(rateLimit(fifth).reset)).toBeGreaterThan(890);
    const refused = await login(good);
    await expectProblem(refused.clone(), 429, "too_many_attempts");
    expect(rateLimit(refused)).toEqual({ limit: "5", remaining: "0", reset: refused.headers.get("Retry-After") });
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(890);
  });
});

describe("per-phone limits", () => {
  it("formatting variants of one number share one bucket", async () => {
    expect((await send(env, { phone: "+375 29 601-23-45" })).status).toBe(200);
    await expectProblem(await send(env, { phone: "00375296012345" }), 429, "resend_too_soon");
    await expectProblem(await send(env, { phone: "(029) 601.23.45", region: "BY" }), 429, "resend_too_soon");
  });

  it("limited requests never reach the SMS provider", async () => {
    const outbound = vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response(null, { status: 200 }));
    const phone = freshPhone();
    expect((await send(webhook, { phone })).status).toBe(200);
    expect(outbound).toHaveBeenCalledTimes(1);
    await expectProblem(await send(webhook, { phone }), 429, "resend_too_soon");
    const ip = freshIp();
    for (let i = 0; i < 6; i++) await send(webhook, { phone: freshPhone() }, { "CF-Connecting-IP": ip });
    expect(outbound).toHaveBeenCalledTimes(6);
  });
});

describe("per-user limits (Rate Limiting binding)", () => {
  it("GET /v1/me allows 100 a minute per user", async () => {
    const user = await signIn();
    // The binding counts in fixed windows of the wall clock's minutes: start well inside one, so
    // the 101st request cannot fall into the next window on a slow machine.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 40_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 200));
    const answers = await Promise.all(Array.from({ length: 100 }, () => call("GET", "/v1/me", { token: user.access_token })));
    expect(answers.every((r) => r.status === 200)).toBe(true);
    expect(answers[0]?.headers.get("RateLimit-Limit")).toBe("100");
    const blocked = await expectProblem(await call("GET", "/v1/me", { token: user.access_token }), 429, "rate_limited");
    expect(blocked.retry_after).toBe(60);
    const other = await signIn();
    expect((await call("GET", "/v1/me", { token: other.access_token })).status).toBe(200);
  });

  it("POST /v1/me/invite allows 20 a minute per user", async () => {
    const user = await signIn();
    for (let i = 0; i < 20; i++) {
      await expectProblem(
        await call("POST", "/v1/me/invite", { token: user.access_token, body: { invite_code: "ZZZZZZ" } }),
        404,
        "invite_not_found",
      );
    }
    await expectProblem(
      await call("POST", "/v1/me/invite", { token: user.access_token, body: { invite_code: "ZZZZZZ" } }),
      429,
      "rate_limited",
    );
  });
});
