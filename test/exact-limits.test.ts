import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, expectProblem, freshIp, freshPhone, type Problem, row, sendCode, signIn } from "./helpers";
import { advance, freezeClock, guardOf, wrongCodes } from "./otp-helpers";
import { devCode, WebClient } from "./web-helpers";

// The contract's "Rate limits": no interval of a window's length ever holds more than N, under any
// concurrency and across every door (/v1, the compatibility APIs, the web pages). Each window gets
// a parallel test and a boundary test on the injected clock: one event at t0 (where a fixed window
// would start), N−1 just before t0 + window, then N just after — a fixed window lets ~2N through
// there, a sliding one exactly one more.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

function post(path: string, body: Record<string, unknown>, ip: string, form = false) {
  const headers: Record<string, string> = { "CF-Connecting-IP": ip };
  headers["Content-Type"] = form ? "application/x-www-form-urlencoded" : "application/json";
  const payload = form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body);
  return exports.default.fetch(new Request(`http://api.test${path}`, { method: "POST", headers, body: payload }));
}

/** A browser on the pages from `ip`, with its CSRF token ready. */
async function pageClient(ip: string) {
  const browser = new WebClient("https://web.test", { "CF-Connecting-IP": ip });
  await browser.get("/");
  return browser;
}

const liveCodes = async (phones: string[]) =>
  (
    await env.DB.prepare(
      `SELECT COUNT(*) AS n FROM otp_challenges WHERE phone IN (${phones.map(() => "?").join(",")}) AND consumed_at IS NULL`,
    )
      .bind(...phones)
      .first<{ n: number }>()
  )?.n ?? 0;

describe("per-IP send windows under concurrency", () => {
  it("100 parallel sends from one IP to 100 phones, through /v1, every old API and the web form, send 5", async () => {
    const ip = freshIp();
    const phones = Array.from({ length: 100 }, () => freshPhone());
    const browsers = await Promise.all(Array.from({ length: 10 }, () => pageClient(ip)));
    const doors = [
      (phone: string) => post("/v1/auth/otp", { phone }, ip),
      (phone: string) => post("/users/send-code/", { phone_number: phone }, ip),
      (phone: string) => post("/api/users/send-code/", { phone_number: phone }, ip, true),
      (phone: string) => post("/api/register/", { mobile_number: phone }, ip),
      (phone: string) => post("/api/auth/send-otp/", { phone_number: phone }, ip, true),
      (phone: string) => post("/api/v1/usr/otp", { phone_number: phone }, ip),
      (phone: string, i: number) => (browsers[i % 10] as WebClient).post("/", { phone }),
    ];
    const answers = await Promise.all(
      phones.map((phone, i) => (doors[i % doors.length] as (p: string, i: number) => Promise<Response>)(phone, i)),
    );
    const accepted = answers.filter((response) => response.status === 200 || response.status === 303);
    expect(accepted).toHaveLength(5);
    expect(answers.filter((response) => response.status === 429)).toHaveLength(95);
    expect(await liveCodes(phones)).toBe(5);
    const counted = await row<{ n: number }>("SELECT COUNT(*) AS n FROM rate_events WHERE scope = 'send_ip' AND key = ?", ip);
    expect(counted?.n).toBe(5);
  });

  it("boundary: 1 send at t0, 4 just before t0 + 1 min, then of 5 just after only 1 goes out", async () => {
    const ip = freshIp();
    const t0 = freezeClock();
    expect((await post("/v1/auth/otp", { phone: freshPhone() }, ip)).status).toBe(200);
    freezeClock(t0 + MINUTE - SECOND);
    for (let i = 0; i < 4; i++) expect((await post("/v1/auth/otp", { phone: freshPhone() }, ip)).status).toBe(200);
    freezeClock(t0 + MINUTE + SECOND);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await post("/v1/auth/otp", { phone: freshPhone() }, ip)).status);
    expect(statuses).toEqual([200, 429, 429, 429, 429]);
    // The window frees when the send at t0 + 59 s leaves it.
    const refused = await post("/v1/auth/otp", { phone: freshPhone() }, ip);
    const problem = await expectProblem(refused, 429, "rate_limited");
    expect(problem.retry_after).toBe(58);
    expect(refused.headers.get("RateLimit-Remaining")).toBe("0");
  });

  it("boundary: 1 send at t0 and 49 late in the day leave room for exactly 1 just after t0 + 1 day", async () => {
    const ip = freshIp();
    const t0 = freezeClock();
    expect((await post("/v1/auth/otp", { phone: freshPhone() }, ip)).status).toBe(200);
    for (let i = 0; i < 49; i++) {
      freezeClock(t0 + DAY - 20 * MINUTE + Math.floor(i / 5) * MINUTE);
      expect((await post("/v1/auth/otp", { phone: freshPhone() }, ip)).status, `send ${i}`).toBe(200);
    }
    freezeClock(t0 + DAY + SECOND);
    expect((await post("/v1/auth/otp", { phone: freshPhone() }, ip)).status).toBe(200);
    advance(MINUTE);
    const refused = await post("/v1/auth/otp", { phone: freshPhone() }, ip);
    await expectProblem(refused, 429, "rate_limited");
    expect(refused.headers.get("RateLimit-Limit")).toBe("50");
  });
});

describe("per-IP verify window under concurrency", () => {
  it("80 parallel guesses from one IP over 20 phones, through /v1, the old APIs and the pages, get 10 evaluated", async () => {
    const phones = Array.from({ length: 20 }, () => freshPhone());
    // Four sign-ins start on the pages (each from its own address), the rest through the API.
    const browsers = await Promise.all(
      phones.slice(0, 4).map(async (phone) => {
        const browser = new WebClient();
        await browser.get("/");
        await browser.follow(await browser.post("/", { phone }));
        return browser;
      }),
    );
    const codes = [
      ...browsers.map((browser) => devCode(browser.html) as string),
      ...(await Promise.all(phones.slice(4).map((phone) => sendCode(phone)))),
    ];
    const ip = freshIp();
    const wrong = (i: number) => wrongCodes(codes[i % 20] as string, 1)[0] as string;
    const doors = [
      (i: number) => post("/v1/auth/otp/verify", { phone: phones[i % 20], code: wrong(i) }, ip),
      (i: number) => post("/users/verify-code/", { phone_number: phones[i % 20], verification_code: wrong(i) }, ip),
      (i: number) => post("/api/auth/verify-otp/", { phone_number: phones[i % 20], otp_code: wrong(i) }, ip, true),
      (i: number) => post("/api/v1/usr/otp/verify", { phone_number: phones[i % 20], code: wrong(i) }, ip),
      (i: number) => (browsers[i % 4] as WebClient).post("/verify", { code: wrong(i % 4) }, { headers: { "CF-Connecting-IP": ip } }),
    ];
    await Promise.all(Array.from({ length: 80 }, (_, i) => (doors[i % doors.length] as (i: number) => Promise<Response>)(i)));
    const evaluated = await env.DB.prepare(
      `SELECT SUM(attempts) AS n FROM otp_challenges WHERE purpose = 'login' AND phone IN (${phones.map(() => "?").join(",")})`,
    )
      .bind(...phones)
      .first<{ n: number }>();
    expect(evaluated?.n).toBe(10);
    const counted = await row<{ n: number }>("SELECT COUNT(*) AS n FROM rate_events WHERE scope = 'verify_ip' AND key = ?", ip);
    expect(counted?.n).toBe(10);
  });

  it("boundary: 1 guess at t0, 9 just before t0 + 1 min, then of 10 just after only 1 is evaluated", async () => {
    const ip = freshIp();
    const guess = () => post("/v1/auth/otp/verify", { phone: freshPhone(), code: "123456" }, ip);
    const t0 = freezeClock();
    await expectProblem(await guess(), 400, "code_expired");
    freezeClock(t0 + MINUTE - SECOND);
    for (let i = 0; i < 9; i++) await expectProblem(await guess(), 400, "code_expired");
    freezeClock(t0 + MINUTE + SECOND);
    const codes = [];
    for (let i = 0; i < 10; i++) codes.push(((await (await guess()).json()) as Problem).code);
    expect(codes).toEqual(["code_expired", ...Array(9).fill("rate_limited")]);
  });
});

describe("per-IP password window under concurrency", () => {
  it("60 parallel password logins from one IP, through /v1, the old API and the page, get 10 evaluated", async () => {
    const ip = freshIp();
    const phones = Array.from({ length: 60 }, () => freshPhone());
    const browser = await pageClient(ip);
    await browser.get("/password");
    const doors = [
      (phone: string) => post("/v1/auth/password/login", { phone, password: "not the password at all" }, ip),
      (phone: string) => browser.post("/password", { phone, password: "not the password at all" }),
    ];
    const answers = await Promise.all(phones.map((phone, i) => (doors[i % 2] as (p: string) => Promise<Response>)(phone)));
    expect(answers.filter((response) => response.status === 429)).toHaveLength(50);
    const failures = await row<{ n: number }>("SELECT COUNT(*) AS n FROM rate_events WHERE scope = 'password_ip' AND key = ?", ip);
    expect(failures?.n).toBe(10);
  });

  it("boundary: 1 login at t0, 9 just before t0 + 1 min, then of 10 just after only 1 is evaluated", async () => {
    const ip = freshIp();
    const login = () => post("/v1/auth/password/login", { phone: freshPhone(), password: "not the password at all" }, ip);
    const t0 = freezeClock();
    expect((await login()).status).toBe(401);
    freezeClock(t0 + MINUTE - SECOND);
    for (let i = 0; i < 9; i++) expect((await login()).status).toBe(401);
    freezeClock(t0 + MINUTE + SECOND);
    const statuses = [];
    for (let i = 0; i < 10; i++) statuses.push((await login()).status);
    expect(statuses).toEqual([401, ...Array(9).fill(429)]);
  });
});

describe("per-phone windows on the boundary", () => {
  it("sends per hour: 1 at t0 and 4 before t0 + 1 h leave room for 1 just after it", async () => {
    const phone = freshPhone();
    const send = () => post("/v1/auth/otp", { phone }, freshIp());
    const t0 = freezeClock();
    expect((await send()).status).toBe(200);
    for (let i = 4; i >= 1; i--) {
      freezeClock(t0 + HOUR - i * 61 * SECOND);
      expect((await send()).status).toBe(200);
    }
    freezeClock(t0 + HOUR + SECOND);
    expect((await send()).status).toBe(200);
    advance(61 * SECOND);
    const refused = await send();
    await expectProblem(refused, 429, "rate_limited");
    expect(refused.headers.get("RateLimit-Limit")).toBe("5");
  });

  it("sends per day: 1 at t0 and 9 before t0 + 1 day leave room for 1 just after it", async () => {
    const phone = freshPhone();
    const send = () => post("/v1/auth/otp", { phone }, freshIp());
    const t0 = freezeClock();
    expect((await send()).status).toBe(200);
    for (let i = 9; i >= 1; i--) {
      freezeClock(t0 + DAY - i * 13 * MINUTE);
      expect((await send()).status, `send ${i}`).toBe(200);
    }
    freezeClock(t0 + DAY + SECOND);
    expect((await send()).status).toBe(200);
    advance(13 * MINUTE);
    const refused = await send();
    await expectProblem(refused, 429, "rate_limited");
    expect(refused.headers.get("RateLimit-Limit")).toBe("10");
  });

  it("wrong codes: 1 at t0 and 8 before t0 + 1 h leave room for 2 just after it, and the 2nd locks the phone", async () => {
    const phone = freshPhone();
    const verify = (code: string) => post("/v1/auth/otp/verify", { phone, code }, freshIp());
    const t0 = freezeClock();
    let code = await sendCode(phone);
    await expectProblem(await verify(wrongCodes(code, 1)[0] as string), 400, "invalid_code");
    for (const at of [t0 + HOUR - 3 * MINUTE, t0 + HOUR - MINUTE - 5 * SECOND]) {
      freezeClock(at);
      code = await sendCode(phone);
      for (const wrong of wrongCodes(code, 4)) await expectProblem(await verify(wrong), 400, "invalid_code");
    }
    freezeClock(t0 + HOUR + SECOND);
    code = await sendCode(phone);
    const [first, second, third] = wrongCodes(code, 3) as [string, string, string];
    expect((await expectProblem(await verify(first), 400, "invalid_code")).attempts_left).toBe(1);
    expect((await expectProblem(await verify(second), 400, "invalid_code")).attempts_left).toBe(0);
    await expectProblem(await verify(third), 429, "too_many_attempts");
    // Locked: even the right code is refused, for OTP_LOCKOUT_SECONDS from the locking guess.
    await expectProblem(await verify(code), 429, "too_many_attempts");
    expect((await guardOf(phone))?.locked_until).toBe(t0 + HOUR + SECOND + HOUR);
  });

  it("password failures: 1 at t0 and 3 before t0 + 15 min leave room for 2 just after it; the 2nd locks", async () => {
    const user = await signIn();
    const phone = user.user.phone;
    const set = await call("PUT", "/v1/me/password", { token: user.access_token, body: { new_password: "the right long password" } });
    expect(set.status).toBe(204);
    const login = () => post("/v1/auth/password/login", { phone, password: "not the password at all" }, freshIp());
    const t0 = freezeClock();
    expect((await login()).status).toBe(401);
    freezeClock(t0 + 15 * MINUTE - SECOND);
    for (let i = 0; i < 3; i++) expect((await login()).status).toBe(401);
    freezeClock(t0 + 15 * MINUTE + SECOND);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await login()).status);
    expect(statuses).toEqual([401, 401, 429, 429, 429]);
    expect(await row("SELECT pw_locked_until FROM phone_guards WHERE phone = ?", phone)).toEqual({
      pw_locked_until: t0 + 15 * MINUTE + SECOND + 15 * MINUTE,
    });
  });
});

describe("password reset without an oracle", () => {
  async function resetExchange(phone: string) {
    const ip = freshIp();
    const answers: unknown[] = [];
    const sent = await post("/v1/auth/otp", { phone, purpose: "reset_password" }, ip);
    const body = (await sent.json()) as Record<string, unknown>;
    answers.push({ status: sent.status, keys: Object.keys(body).sort(), purpose: body.purpose });
    for (const wrong of wrongCodes(String(body.dev_code), 6)) {
      const response = await post("/v1/auth/password/reset", { phone, code: wrong, new_password: "a long enough new password" }, ip);
      const problem = (await response.json()) as Problem;
      answers.push({
        status: response.status,
        code: problem.code,
        attempts_left: problem.attempts_left,
        retry_after: problem.retry_after,
        detail: problem.detail,
      });
    }
    return answers;
  }

  it("a holder, an account without a password and no account get the same send and the same 6 answers", async () => {
    freezeClock();
    const holderUser = await signIn();
    const holder = holderUser.user.phone;
    const set = await call("PUT", "/v1/me/password", { token: holderUser.access_token, body: { new_password: "the right long password" } });
    expect(set.status).toBe(204);
    const noPassword = (await signIn()).user.phone;
    advance(61 * SECOND);
    const holderAnswers = await resetExchange(holder);
    expect(holderAnswers.slice(1, 7).map((answer) => (answer as { code: string }).code)).toEqual([
      "invalid_code",
      "invalid_code",
      "invalid_code",
      "invalid_code",
      "invalid_code",
      "too_many_attempts",
    ]);
    expect(await resetExchange(noPassword)).toEqual(holderAnswers);
    expect(await resetExchange(freshPhone())).toEqual(holderAnswers);
  });

  it("even the right decoy code cannot succeed: it is met as a wrong guess", async () => {
    const phone = freshPhone();
    const sent = (await (await post("/v1/auth/otp", { phone, purpose: "reset_password" }, freshIp())).json()) as { dev_code: string };
    const response = await post(
      "/v1/auth/password/reset",
      { phone, code: sent.dev_code, new_password: "a long enough new password" },
      freshIp(),
    );
    expect((await expectProblem(response, 400, "invalid_code")).attempts_left).toBe(4);
    expect(await row("SELECT COUNT(*) AS n FROM users WHERE phone = ?", phone)).toEqual({ n: 0 });
  });
});

describe("the edge copy in KV", () => {
  it("a tripped IP's next send and guess are refused from KV, with the window's Retry-After", async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) expect((await post("/v1/auth/otp", { phone: freshPhone() }, ip)).status).toBe(200);
    // The fifth send filled the window: its mark goes to KV after the response.
    await vi.waitFor(async () =>
      expect(await env.KV.get(`edge:ip:${ip}`, "json")).toMatchObject({ send_ip: { until: expect.any(Number), limit: 5 } }),
    );
    const refused = await post("/v1/auth/otp", { phone: freshPhone() }, ip);
    const problem = await expectProblem(refused, 429, "rate_limited");
    expect(problem.retry_after).toBeGreaterThan(0);
    expect(refused.headers.get("RateLimit-Remaining")).toBe("0");
  });

  it("an edge mark alone never lets a request through: without it D1 still refuses", async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) expect((await post("/v1/auth/otp", { phone: freshPhone() }, ip)).status).toBe(200);
    await vi.waitFor(async () => expect(await env.KV.get(`edge:ip:${ip}`)).not.toBeNull());
    await env.KV.delete(`edge:ip:${ip}`);
    await expectProblem(await post("/v1/auth/otp", { phone: freshPhone() }, ip), 429, "rate_limited");
  });

  it("a stale latest-code key (a new code since) still decides the guess right, through the code's own key", async () => {
    const phone = freshPhone();
    freezeClock();
    await sendCode(phone);
    advance(61 * SECOND);
    const fresh = await sendCode(phone);
    // Simulate a location that still holds the first code's copy.
    const first = await env.KV.get(`otp:login:${phone}`, "json");
    await env.KV.put(`otp:login:${phone}`, JSON.stringify({ ...(first as object), id: "stale-code-id" }));
    const response = await call("POST", "/v1/auth/otp/verify", { body: { phone, code: fresh } });
    expect(response.status).toBe(200);
  });
});
