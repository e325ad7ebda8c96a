import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { decodeJwt } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { call, expectProblem, freshIp, freshPhone, row, signIn, wrongCode } from "./helpers";

// The old Django client APIs (contract: "Compatibility APIs"; issue #9): each flow end to end,
// each error body, and proof that they share the core's limits, lockouts, audit and revocation.

type Json = Record<string, unknown>;

afterEach(() => {
  vi.useRealTimers();
});

/** Moves the clock past the resend cooldown so one phone can sign in again. */
function afterCooldown() {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + 61_000);
}

/** POSTs JSON (or a form when `form` is set) to the Worker with a fixed client IP. */
async function post(path: string, body: Json, options: { ip?: string; form?: boolean; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { "CF-Connecting-IP": options.ip ?? freshIp(), ...options.headers };
  let payload: string;
  if (options.form) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    payload = new URLSearchParams(body as Record<string, string>).toString();
  } else {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  return exports.default.fetch(new Request(`http://api.test${path}`, { method: "POST", headers, body: payload }));
}

async function get(path: string, authorization?: string) {
  const headers: Record<string, string> = { "CF-Connecting-IP": freshIp() };
  if (authorization) headers.Authorization = authorization;
  return exports.default.fetch(new Request(`http://api.test${path}`, { headers }));
}

async function json(response: Response, status: number): Promise<Json> {
  const text = await response.text();
  expect({ status: response.status, text }).toMatchObject({ status });
  expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
  return JSON.parse(text) as Json;
}

/** A `users` sign-in: send-code then verify-code; returns the verify body. */
async function usersSignIn(phone = freshPhone(), base = "/api/users") {
  const sent = await json(await post(`${base}/send-code/`, { phone_number: phone }), 200);
  return json(await post(`${base}/verify-code/`, { phone_number: phone, verification_code: sent.verification_code as string }), 200);
}

/** Runs the Worker with some variables changed (config is parsed per env object). */
function withVars(vars: Json) {
  const variant = { ...env, ...vars } as typeof env;
  return (path: string, init: RequestInit & { ip?: string } = {}) => {
    const headers = new Headers(init.headers);
    headers.set("CF-Connecting-IP", init.ip ?? freshIp());
    if (init.body) headers.set("Content-Type", "application/json");
    return worker.fetch(new Request(`http://api.test${path}`, { ...init, headers }), variant, createExecutionContext());
  };
}

describe("users API", () => {
  it("sends a code with the old response shape, the sandbox code as verification_code", async () => {
    const phone = freshPhone();
    const body = await json(await post("/users/send-code/", { phone_number: phone }), 200);
    expect(body).toEqual({
      message: expect.any(String),
      phone_number: phone,
      expires_in: 300,
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      verification_code: expect.stringMatching(/^\d{6}$/),
    });
    const stored = await row<{ n: number }>("SELECT COUNT(*) AS n FROM otp_challenges WHERE phone = ?", phone);
    expect(stored?.n).toBe(1);
  });

  it("takes form posts as well as JSON, and national numbers with DEFAULT_REGION", async () => {
    const body = await json(await post("/api/users/send-code/", { phone_number: "8 029 555-12-34" }, { form: true }), 200);
    expect(body.phone_number).toBe("+375295551234");
  });

  it("signs up, then signs in: the old verify shape with a day-long token", async () => {
    const phone = freshPhone();
    const first = await usersSignIn(phone);
    expect(first).toEqual({
      message: expect.any(String),
      token: expect.any(String),
      user_id: expect.any(String),
      phone_number: phone,
      invite_code: expect.stringMatching(/^[2-9A-Z]{6}$/),
      is_new_user: true,
      profile: { created_at: expect.any(String), referrals_count: 0, activated_invite_code: null },
      token_expires_in: 86_400,
    });
    const claims = decodeJwt(first.token as string);
    expect((claims.exp as number) - (claims.iat as number)).toBe(86_400);
    afterCooldown();
    const again = await usersSignIn(phone, "/users");
    expect(again.is_new_user).toBe(false);
    expect(again.user_id).toBe(first.user_id);
    expect(again.invite_code).toBe(first.invite_code);
  });

  it("answers errors as { error } with the old statuses", async () => {
    const phone = freshPhone();
    const missing = await json(await post("/users/send-code/", {}), 400);
    expect(missing).toEqual({ error: expect.stringContaining("phone_number") });
    expect(await json(await post("/users/send-code/", { phone_number: "12" }), 400)).toEqual({ error: expect.any(String) });
    const sent = await json(await post("/users/send-code/", { phone_number: phone }), 200);
    const wrong = await json(
      await post("/users/verify-code/", { phone_number: phone, verification_code: wrongCode(sent.verification_code as string) }),
      400,
    );
    expect(wrong).toEqual({ error: expect.stringContaining("4 attempts left") });
    const never = await json(await post("/users/verify-code/", { phone_number: freshPhone(), verification_code: "123456" }), 400);
    expect(Object.keys(never)).toEqual(["error"]);
    expect(await json(await get("/users/profile/"), 401)).toEqual({ error: "Authentication credentials were not provided." });
    expect(await json(await get("/users/profile/", "Token not-a-token"), 401)).toEqual({ error: "Invalid token." });
    const malformed = await exports.default.fetch(
      new Request("http://api.test/users/send-code/", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{" }),
    );
    expect(await json(malformed, 400)).toEqual({ error: expect.any(String) });
  });

  it("serves the profile with Token or Bearer, others' phones masked, and activates invites with every rule", async () => {
    const inviter = await usersSignIn();
    const invitee = await usersSignIn();
    const activated = await json(
      await post(
        "/users/activate-invite/",
        { invite_code: (inviter.invite_code as string).toLowerCase() },
        { headers: { Authorization: `Token ${invitee.token}` } },
      ),
      200,
    );
    expect(activated).toEqual({
      message: expect.any(String),
      activated_invite_code: inviter.invite_code,
      inviter_profile: { phone_number: expect.stringMatching(/^\+37529\*{5}\d\d$/), registration_date: expect.any(String) },
      referral_bonus: { points_earned: 100, level: 1, timestamp: expect.any(String) },
      network_stats: { your_position: 1, inviter_total_referrals: 1 },
    });
    const auth = { headers: { Authorization: `Token ${invitee.token}` } };
    const again = await json(await post("/users/activate-invite/", { invite_code: inviter.invite_code as string }, auth), 400);
    expect(again.error).toContain(inviter.invite_code as string);
    expect(await json(await post("/users/activate-invite/", { invite_code: invitee.invite_code as string }, auth), 400)).toEqual({
      error: expect.any(String),
    });
    const other = await usersSignIn();
    const otherAuth = { headers: { Authorization: `Bearer ${other.token}` } };
    expect(await json(await post("/users/activate-invite/", { invite_code: "ZZZZZZ" }, otherAuth), 400)).toEqual({
      error: "No such invite code.",
    });
    // The inviter activating its own invitee's code would close a loop.
    const cycle = await json(
      await post(
        "/users/activate-invite/",
        { invite_code: invitee.invite_code as string },
        { headers: { Authorization: `Token ${inviter.token}` } },
      ),
      400,
    );
    expect(Object.keys(cycle)).toEqual(["error"]);

    const profile = await json(await get("/api/users/profile/", `Token ${inviter.token}`), 200);
    expect(profile).toEqual({
      user_id: inviter.user_id,
      phone_number: inviter.phone_number,
      invite_code: inviter.invite_code,
      activated_invite_code: null,
      profile_stats: { registration_date: expect.any(String), last_login: expect.any(String), total_referrals: 1, active_referrals: 1 },
      referrals: [{ phone_number: expect.stringMatching(/^\+37529\*{5}\d\d$/), joined_date: expect.any(String), status: "active" }],
      referrals_count: 1,
      referral_tree: { level_1: 1, level_2: 0, total_network: 1 },
    });
    expect(((profile.referrals as Json[])[0] as Json).phone_number).not.toBe(invitee.phone_number);
    expect(await row<{ points: number }>("SELECT points FROM users WHERE id = ?", inviter.user_id)).toEqual({ points: 100 });
  });

  it("keeps its token out of /v1, and revokes it with the session", async () => {
    const phone = freshPhone();
    const signedIn = await usersSignIn(phone);
    await expectProblem(await call("GET", "/v1/me", { token: signedIn.token as string }), 401, "unauthorized");
    // Log out everywhere through the core API: the day-long token dies at once.
    afterCooldown();
    const core = await signIn(phone);
    expect((await call("POST", "/v1/auth/logout", { token: core.access_token, body: { all: true } })).status).toBe(204);
    expect(await json(await get("/users/profile/", `Token ${signedIn.token}`), 401)).toEqual({ error: expect.any(String) });
  });

  it("shares the core's IP window: the 6th send in a minute is refused on the old route too", async () => {
    const ip = freshIp();
    for (let i = 0; i < 3; i++) expect((await call("POST", "/v1/auth/otp", { ip, body: { phone: freshPhone() } })).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await post("/users/send-code/", { phone_number: freshPhone() }, { ip })).status).toBe(200);
    const phone = freshPhone();
    const refused = await post("/users/send-code/", { phone_number: phone }, { ip });
    expect(await json(refused, 429)).toEqual({ error: "Too many requests" });
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(await row("SELECT phone FROM otp_challenges WHERE phone = ?", phone)).toBeNull();
  });

  it("shares the core's per-user limits on the token routes (429 in each API's shape)", async () => {
    const spent = { limit: async () => ({ success: false }) };
    const limited = withVars({ ME_LIMITER: spent, INVITE_LIMITER: spent });
    const signedIn = await usersSignIn();
    const headers = { Authorization: `Token ${signedIn.token}` };
    for (const [path, init] of [
      ["/users/profile/", { headers }],
      ["/api/users/activate-invite/", { method: "POST", headers, body: JSON.stringify({ invite_code: "ZZZZZZ" }) }],
    ] as const) {
      const refused = await limited(path, init);
      expect(await json(refused, 429)).toEqual({ error: "Too many requests" });
      expect(refused.headers.get("RateLimit-Limit")).toBe("100");
    }
    const phone = freshPhone();
    const sent = await json(await post("/api/auth/send-otp/", { phone_number: phone }), 200);
    const verified = await json(await post("/api/auth/verify-otp/", { phone_number: phone, otp_code: sent.dev_code as string }), 200);
    const access = (verified.tokens as Json).access as string;
    const refused = await limited("/api/auth/profile/", { headers: { Authorization: `Bearer ${access}` } });
    expect(await json(refused, 429)).toEqual({ detail: "Request was throttled. Expected available in 60 seconds." });
  });

  it("shares the resend cooldown and the wrong-code lockout with /v1", async () => {
    const phone = freshPhone();
    const sent = await json(await post("/users/send-code/", { phone_number: phone }), 200);
    await expectProblem(await call("POST", "/v1/auth/otp", { body: { phone } }), 429, "resend_too_soon");
    for (let i = 0; i < 4; i++) {
      await post("/users/verify-code/", { phone_number: phone, verification_code: wrongCode(sent.verification_code as string) });
    }
    // The 5th wrong guess burns the code: the right one is then refused on both doors.
    await post("/users/verify-code/", { phone_number: phone, verification_code: wrongCode(sent.verification_code as string) });
    const burned = await post("/users/verify-code/", { phone_number: phone, verification_code: sent.verification_code as string });
    expect([400, 429]).toContain(burned.status);
    expect(await row("SELECT id FROM users WHERE phone = ?", phone)).toBeNull();
  });

  it("records the sign-in in the audit trail like the core", async () => {
    const signedIn = await usersSignIn();
    const event = await row<{ type: string }>(
      "SELECT type FROM audit_events WHERE user_id = ? AND type = 'code_verified'",
      signedIn.user_id,
    );
    expect(event?.type).toBe("code_verified");
  });

  it("answers GET /api/ with health and metadata", async () => {
    const body = await json(await get("/api/"), 200);
    expect(body).toMatchObject({ status: "ok", service: expect.any(String), version: expect.any(String) });
  });
});

describe("register API", () => {
  async function startOtp(phone: string, ip: string) {
    const body = await json(await post("/api/register/", { mobile_number: phone }, { ip }), 200);
    expect(body).toEqual({ next_step: "otp", session_id: expect.any(String), dev_code: expect.stringMatching(/^\d{6}$/) });
    return body as { session_id: string; dev_code: string };
  }

  it("walks register → verify-otp → set-password → user-info to tokens, then logs in with the password", async () => {
    const phone = freshPhone();
    const ip = freshIp();
    const started = await startOtp(phone, ip);
    const session_id = started.session_id;
    expect(await json(await post("/api/verify-otp/", { session_id, code: started.dev_code }, { ip }), 200)).toEqual({
      next_step: "set_password",
    });
    const password = "correct horse battery staple";
    expect(await json(await post("/api/set-password/", { session_id, password }, { ip }), 200)).toEqual({ next_step: "user_info" });
    const tokens = await json(
      await post("/api/user-info/", { session_id, email: "ana@example.com", first_name: "Ana", last_name: "Lis" }, { ip, form: true }),
      200,
    );
    expect(tokens).toEqual({ access: expect.any(String), refresh: expect.stringMatching(/^rt_/) });
    const me = (await (await call("GET", "/v1/me", { token: tokens.access as string })).json()) as Json;
    expect(me).toMatchObject({ phone, first_name: "Ana", last_name: "Lis", email: "ana@example.com", has_password: true });
    // The session id is spent.
    expect((await post("/api/user-info/", { session_id, first_name: "X" }, { ip })).status).toBe(400);

    const again = await json(await post("/api/register/", { mobile_number: phone }, { ip }), 200);
    expect(again).toEqual({ next_step: "password", session_id: expect.any(String) });
    const login = await json(await post("/api/login/", { session_id: again.session_id as string, password }, { ip }), 200);
    expect(login).toEqual({ access: expect.any(String), refresh: expect.any(String) });

    const refreshed = await json(await post("/api/token/refresh/", { refresh: login.refresh as string }), 200);
    expect(refreshed).toEqual({ access: expect.any(String), refresh: expect.any(String) });
    expect(refreshed.refresh).not.toBe(login.refresh);
  });

  it("answers DRF-style errors: field lists for validation, detail otherwise", async () => {
    const ip = freshIp();
    expect(await json(await post("/api/register/", {}, { ip }), 400)).toEqual({ mobile_number: ["This field is required."] });
    expect(await json(await post("/api/register/", { mobile_number: "12" }, { ip: freshIp() }), 400)).toEqual({
      mobile_number: [expect.any(String)],
    });
    expect(await json(await post("/api/verify-otp/", { session_id: "nope", code: "123456" }, { ip: freshIp() }), 400)).toEqual({
      session_id: ["Invalid or expired session."],
    });
    const phone = freshPhone();
    const started = await startOtp(phone, freshIp());
    const ip2 = freshIp();
    await json(await post("/api/verify-otp/", { session_id: started.session_id, code: started.dev_code }, { ip: ip2 }), 200);
    const weak = await json(await post("/api/set-password/", { session_id: started.session_id, password: "short" }, { ip: ip2 }), 400);
    expect(weak).toEqual({ password: [expect.any(String)] });
    expect(await row<{ password_hash: string | null }>("SELECT password_hash FROM users WHERE phone = ?", phone)).toEqual({
      password_hash: null,
    });
  });

  it("locks the number and the IP for an hour after three failures of any kind", async () => {
    const phone = freshPhone();
    const ip = freshIp();
    const started = await startOtp(phone, ip);
    for (let i = 0; i < 3; i++) {
      const wrong = await post("/api/verify-otp/", { session_id: started.session_id, code: wrongCode(started.dev_code) }, { ip });
      expect(wrong.status).toBe(400);
      expect(Object.keys(await wrong.json())).toEqual(["detail"]);
    }
    // Even the right code is refused now, from this IP…
    const locked = await post("/api/verify-otp/", { session_id: started.session_id, code: started.dev_code }, { ip });
    expect(await json(locked, 429)).toEqual({
      detail: expect.stringMatching(/^Request was throttled\. Expected available in \d+ seconds\.$/),
    });
    expect(Number(locked.headers.get("Retry-After"))).toBeGreaterThan(3500);
    // …and for this number from any IP, and any number from this IP.
    expect((await post("/api/verify-otp/", { session_id: started.session_id, code: started.dev_code }, { ip: freshIp() })).status).toBe(
      429,
    );
    expect((await post("/api/register/", { mobile_number: freshPhone() }, { ip })).status).toBe(429);
    expect((await post("/api/register/", { mobile_number: phone }, { ip: freshIp() })).status).toBe(429);
    expect(await row("SELECT id FROM users WHERE phone = ?", phone)).toBeNull();
    // Another number from another IP is untouched.
    await startOtp(freshPhone(), freshIp());
  });

  it("limits probing which numbers have a password like sends: the 6th register a minute from one IP is refused", async () => {
    // Five numbers with a password, then one IP asks about each.
    const phones: string[] = [];
    for (let i = 0; i < 6; i++) {
      const tokens = await signIn();
      expect(
        (await call("PUT", "/v1/me/password", { token: tokens.access_token, body: { new_password: "correct horse battery staple" } }))
          .status,
      ).toBe(204);
      phones.push(tokens.user.phone);
    }
    const ip = freshIp();
    for (const phone of phones.slice(0, 5)) {
      expect(await json(await post("/api/register/", { mobile_number: phone }, { ip }), 200)).toMatchObject({ next_step: "password" });
    }
    const refused = await post("/api/register/", { mobile_number: phones[5] as string }, { ip });
    expect(await json(refused, 429)).toEqual({ detail: expect.stringMatching(/^Request was throttled/) });
  });

  it("reads national numbers like 09123456789 with DEFAULT_REGION", async () => {
    const fetchIr = withVars({ DEFAULT_REGION: "IR" });
    const response = await fetchIr("/api/register/", { method: "POST", body: JSON.stringify({ mobile_number: "09123456789" }) });
    expect(response.status).toBe(200);
    expect(await row("SELECT phone FROM otp_challenges WHERE phone = '+989123456789'")).toEqual({ phone: "+989123456789" });
  });
});

describe("auth API", () => {
  it("sends, verifies and reads the profile in the old shapes", async () => {
    const phone = freshPhone();
    const sent = await json(await post("/api/auth/send-otp/", { phone_number: phone }), 200);
    expect(sent).toEqual({ message: expect.any(String), phone_number: phone, expires_in_minutes: 5, dev_code: expect.any(String) });
    const verified = await json(
      await post("/api/auth/verify-otp/", { phone_number: phone, otp_code: sent.dev_code as string }, { form: true }),
      200,
    );
    expect(verified).toEqual({
      message: expect.any(String),
      user: {
        id: expect.any(String),
        phone_number: phone,
        username: phone,
        first_name: "",
        last_name: "",
        is_phone_verified: true,
        date_joined: expect.any(String),
      },
      tokens: { access: expect.any(String), refresh: expect.any(String) },
      is_new_user: true,
    });
    const access = (verified.tokens as Json).access as string;
    const profile = await json(await get("/api/auth/profile/", `Bearer ${access}`), 200);
    expect(profile).toEqual({ user: verified.user });
    // The same access token works on /v1: these clients get the core's tokens.
    expect((await call("GET", "/v1/me", { token: access })).status).toBe(200);
  });

  it("answers DRF errors", async () => {
    expect(await json(await post("/api/auth/send-otp/", { phone_number: "" }), 400)).toEqual({ phone_number: [expect.any(String)] });
    expect(await json(await post("/api/auth/verify-otp/", { phone_number: freshPhone() }), 400)).toEqual({
      otp_code: ["This field is required."],
    });
    expect(await json(await post("/api/auth/verify-otp/", { phone_number: freshPhone(), otp_code: "123456" }), 400)).toEqual({
      detail: expect.any(String),
    });
    expect(await json(await get("/api/auth/profile/"), 401)).toEqual({ detail: "Authentication credentials were not provided." });
    expect(await json(await get("/api/auth/profile/", "Bearer x.y.z"), 401)).toEqual({ detail: "Invalid token." });
    const unsupported = await exports.default.fetch(
      new Request("http://api.test/api/auth/send-otp/", { method: "POST", headers: { "Content-Type": "text/plain" }, body: "hi" }),
    );
    expect(await json(unsupported, 415)).toEqual({ detail: expect.stringContaining("text/plain") });
  });

  it("refreshes with SimpleJWT's endpoint and treats a replayed refresh token as reuse", async () => {
    const phone = freshPhone();
    const sent = await json(await post("/api/auth/send-otp/", { phone_number: phone }), 200);
    const verified = await json(await post("/api/auth/verify-otp/", { phone_number: phone, otp_code: sent.dev_code as string }), 200);
    const first = (verified.tokens as Json).refresh as string;
    const rotated = await json(await post("/api/token/refresh/", { refresh: first }), 200);
    expect(rotated.refresh).not.toBe(first);
    expect(await json(await post("/api/token/refresh/", { refresh: "rt_nonsense" }), 401)).toEqual({
      detail: "Token is invalid or expired",
      code: "token_not_valid",
    });
  });
});

describe("usr API", () => {
  it("sends and verifies, with tokens in the body and as HttpOnly Secure cookies", async () => {
    const phone = freshPhone();
    const sent = await json(await post("/api/v1/usr/otp", { phone_number: phone }), 200);
    expect(sent).toEqual({ phone_number: phone, message: expect.any(String), expires_in: 300, dev_code: expect.any(String) });
    const response = await post("/api/v1/usr/otp/verify", { phone_number: phone, code: sent.dev_code as string });
    const body = await json(response, 200);
    expect(body).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      is_new_user: true,
      user: { id: expect.any(String), phone_number: phone, email: "", username: phone, first_name: "", last_name: "" },
    });
    const cookies = response.headers.getSetCookie();
    expect(cookies).toHaveLength(2);
    expect(cookies[0]).toMatch(new RegExp(`^access_token=${body.access_token}; Max-Age=900; Path=/; HttpOnly; Secure; SameSite=Lax$`));
    expect(cookies[1]).toMatch(/^refresh_token=rt_[^;]+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
  });

  it("accepts Iranian 09… numbers even where DEFAULT_REGION is another country", async () => {
    const local = `0912${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
    const sent = await json(await post("/api/v1/usr/otp", { phone_number: local }), 200);
    expect(sent.phone_number).toBe(`+98${local.slice(1)}`);
  });

  it("answers DRF errors", async () => {
    expect(await json(await post("/api/v1/usr/otp", { phone_number: "abc" }), 400)).toEqual({ phone_number: [expect.any(String)] });
    expect(await json(await post("/api/v1/usr/otp/verify", { phone_number: freshPhone(), code: "12" }), 400)).toEqual({
      code: [expect.any(String)],
    });
  });
});

describe("COMPAT_APIS", () => {
  it("serves only the APIs it names; the rest are 404 problems", async () => {
    const only = withVars({ COMPAT_APIS: "auth" });
    const body = JSON.stringify({ phone_number: freshPhone() });
    await expectProblem(await only("/users/send-code/", { method: "POST", body }), 404, "not_found");
    await expectProblem(
      await only("/api/register/", { method: "POST", body: JSON.stringify({ mobile_number: freshPhone() }) }),
      404,
      "not_found",
    );
    await expectProblem(await only("/api/v1/usr/otp", { method: "POST", body }), 404, "not_found");
    await expectProblem(await only("/api/", {}), 404, "not_found");
    // Every method: a disabled API's path is not "method not allowed".
    await expectProblem(await only("/users/send-code/", {}), 404, "not_found");
    await expectProblem(await only("/api/login/", {}), 404, "not_found");
    expect((await only("/api/auth/send-otp/", { method: "POST", body })).status).toBe(200);
    expect((await only("/api/token/refresh/", { method: "POST", body: JSON.stringify({ refresh: "rt_x" }) })).status).toBe(401);

    const none = withVars({ COMPAT_APIS: "none" });
    await expectProblem(await none("/api/auth/send-otp/", { method: "POST", body }), 404, "not_found");
    await expectProblem(await none("/api/token/refresh/", { method: "POST", body: JSON.stringify({ refresh: "rt_x" }) }), 404, "not_found");
  });

  it("refuses an unknown API name at startup, naming the variable", async () => {
    const bad = withVars({ COMPAT_APIS: "users,soap" });
    await expectProblem(await bad("/health"), 503, "service_unavailable");
  });

  it("keeps the send routes open without Turnstile (old clients cannot carry a token); /v1 still asks", async () => {
    const captcha = withVars({ TURNSTILE_SECRET_KEY: "turnstile-secret" });
    const siteverify = vi.spyOn(globalThis, "fetch");
    try {
      await expectProblem(
        await captcha("/v1/auth/otp", { method: "POST", body: JSON.stringify({ phone: freshPhone() }) }),
        400,
        "captcha_required",
      );
      for (const [path, field] of [
        ["/users/send-code/", "phone_number"],
        ["/api/auth/send-otp/", "phone_number"],
        ["/api/v1/usr/otp", "phone_number"],
        ["/api/register/", "mobile_number"],
      ] as const) {
        const response = await captcha(path, { method: "POST", body: JSON.stringify({ [field]: freshPhone() }) });
        expect(response.status, await response.text()).toBe(200);
      }
      expect(siteverify).not.toHaveBeenCalled();
    } finally {
      siteverify.mockRestore();
    }
  });

  it("never shows a sandbox code in production", async () => {
    const production = withVars({
      ENVIRONMENT: undefined,
      SMS_PROVIDER: "webhook",
      SMS_WEBHOOK_URL: "https://sms.test/hook",
      SMS_WEBHOOK_SECRET: "0123456789abcdef0123",
    });
    const original = globalThis.fetch;
    globalThis.fetch = async () => new Response("{}", { status: 200 });
    try {
      for (const [path, field] of [
        ["/users/send-code/", "phone_number"],
        ["/api/auth/send-otp/", "phone_number"],
        ["/api/v1/usr/otp", "phone_number"],
        ["/api/register/", "mobile_number"],
      ] as const) {
        const response = await production(path, { method: "POST", body: JSON.stringify({ [field]: freshPhone() }) });
        const text = await response.text();
        expect(response.status, text).toBe(200);
        expect(text).not.toMatch(/verification_code|dev_code/);
      }
    } finally {
      globalThis.fetch = original;
    }
  });
});

describe("token answers of the old APIs", () => {
  it("carry Cache-Control: no-store, like the core's token responses", async () => {
    const noStore = (response: Response, label: string) => expect(response.headers.get("Cache-Control"), label).toBe("no-store");
    const usersPhone = freshPhone();
    const usersSent = await json(await post("/users/send-code/", { phone_number: usersPhone }), 200);
    noStore(
      await post("/users/verify-code/", { phone_number: usersPhone, verification_code: usersSent.verification_code as string }),
      "users",
    );

    const authPhone = freshPhone();
    const authSent = await json(await post("/api/auth/send-otp/", { phone_number: authPhone }), 200);
    const authVerified = await post("/api/auth/verify-otp/", { phone_number: authPhone, otp_code: authSent.dev_code as string });
    noStore(authVerified, "auth");
    const { tokens } = (await json(authVerified, 200)) as { tokens: { refresh: string } };
    noStore(await post("/api/token/refresh/", { refresh: tokens.refresh }), "SimpleJWT refresh");

    const usrPhone = freshPhone();
    const usrSent = await json(await post("/api/v1/usr/otp", { phone_number: usrPhone }), 200);
    noStore(await post("/api/v1/usr/otp/verify", { phone_number: usrPhone, code: usrSent.dev_code as string }), "usr");
  });
});
