import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../src/config";
import { ANALYTICS_DAYS, hourOf } from "../src/fraud/rollups";
import { LONGEST_WINDOW_MS } from "../src/limits/sliding";
import { type AuditItem, callWorker, eventsOf, masked, requestIdFor, sharedAdmin, type WorkerCallOptions } from "./admin-helpers";
import { expectProblem, freshIp, freshPhone, row, sendCode, signIn, type TokenBody, wrongCode } from "./helpers";
import {
  advance,
  CRON,
  freezeClock,
  HOUR,
  interceptWebhook,
  runCron,
  SECOND,
  variantEnv,
  WEBHOOK_SECRET,
  WEBHOOK_URL,
} from "./otp-helpers";
import { claimsOf } from "./token-helpers";

const PASSWORD = "correct horse battery staple";
const DAY = 86_400 * SECOND;

// Variants for refusals only a config can cause; built once (config is cached per env object).
const BELARUS_REFUSED_ENV = variantEnv({ ALLOWED_COUNTRIES: "IR" });
const CAPTCHA_ENV = variantEnv({ TURNSTILE_SECRET_KEY: "turnstile-secret" });
const WEBHOOK_ENV = variantEnv({ SMS_PROVIDER: "webhook", SMS_WEBHOOK_URL: WEBHOOK_URL, SMS_WEBHOOK_SECRET: WEBHOOK_SECRET });
const SHORT_RETENTION_ENV = variantEnv({ AUDIT_RETENTION_DAYS: "7" });

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** A request sent from a known IP and country with a known X-Request-Id. */
function traced(label: string, options: Omit<WorkerCallOptions, "ip" | "requestId" | "country"> = {}) {
  const client = { ip: freshIp(), requestId: requestIdFor(label), country: "BY" };
  return { ...client, options: { ...options, ...client } };
}

/** The one event of `type` that the request `requestId` wrote, found through the admin API. */
async function eventOf(query: Record<string, string>, requestId: string): Promise<AuditItem> {
  const admin = await sharedAdmin();
  const events = (await eventsOf(admin, query)).filter((event) => event.request_id === requestId);
  expect(events, JSON.stringify(query)).toHaveLength(1);
  return events[0] as AuditItem;
}

/** Asserts what every event of a client request carries, and that D1 keeps a phone hash, never the phone. */
async function expectTraced(
  event: AuditItem,
  expected: { type: string; user_id: string | null; phone: string | null; ip: string; requestId: string },
) {
  expect(event).toMatchObject({
    type: expected.type,
    user_id: expected.user_id,
    phone: expected.phone ? masked(expected.phone) : null,
    ip: expected.ip,
    country: "BY",
    request_id: expected.requestId,
  });
  expect(new Date(event.created_at).toISOString()).toBe(event.created_at);
  const stored = await row<Record<string, unknown>>("SELECT * FROM audit_events WHERE id = ?", event.id);
  if (expected.phone) {
    expect(stored?.phone_key).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(JSON.stringify(stored)).not.toContain(expected.phone.slice(1));
  } else {
    expect(stored?.phone_key).toBeNull();
  }
}

async function verify(phone: string, code: string, options: WorkerCallOptions = {}) {
  return callWorker("POST", "/v1/auth/otp/verify", { ...options, body: { phone, code, ...(options.body as object) } });
}

async function withPassword(phone = freshPhone()) {
  const user = await signIn(phone);
  const response = await callWorker("PUT", "/v1/me/password", { token: user.access_token, body: { new_password: PASSWORD } });
  expect(response.status).toBe(204);
  return user;
}

const passwordLogin = (phone: string, password: string, options: WorkerCallOptions = {}) =>
  callWorker("POST", "/v1/auth/password/login", { ...options, body: { phone, password } });

describe("the audit trail records each action with who, where and which request", () => {
  it("code_sent: a send to a phone without an account, with the purpose", async () => {
    const phone = freshPhone();
    const t = traced("send", { body: { phone } });
    expect((await callWorker("POST", "/v1/auth/otp", t.options)).status).toBe(200);
    const event = await eventOf({ phone, type: "code_sent" }, t.requestId);
    await expectTraced(event, { type: "code_sent", user_id: null, phone, ...t });
    expect(event.detail).toMatchObject({ purpose: "login" });
  });

  it("code_sent: a send to an existing account names the user", async () => {
    const phone = freshPhone();
    const user = await signIn(phone);
    freezeClock();
    advance(61 * SECOND);
    const t = traced("resend", { body: { phone } });
    expect((await callWorker("POST", "/v1/auth/otp", t.options)).status).toBe(200);
    await expectTraced(await eventOf({ phone, type: "code_sent" }, t.requestId), { type: "code_sent", user_id: user.user.id, phone, ...t });
  });

  const refusals: [string, number, (phone: string) => Promise<WorkerCallOptions>][] = [
    [
      "resend_too_soon",
      429,
      async (phone) => {
        await sendCode(phone);
        return {};
      },
    ],
    [
      "rate_limited",
      429,
      async () => {
        const ip = freshIp();
        for (let i = 0; i < 5; i++) {
          expect((await callWorker("POST", "/v1/auth/otp", { ip, body: { phone: freshPhone() } })).status).toBe(200);
        }
        // Refusals from the KV edge copy are not written (a flood costs no D1 writes): without the
        // mark, D1 refuses, and records why.
        await vi.waitFor(async () => expect(await env.KV.get(`edge:ip:${ip}`)).not.toBeNull());
        await env.KV.delete(`edge:ip:${ip}`);
        return { ip };
      },
    ],
    ["country_not_allowed", 403, async () => ({ env: BELARUS_REFUSED_ENV })],
    ["captcha_required", 400, async () => ({ env: CAPTCHA_ENV })],
    [
      "sms_delivery_failed",
      502,
      async () => {
        interceptWebhook(async () => new Response("provider down", { status: 500 }));
        return { env: WEBHOOK_ENV };
      },
    ],
  ];

  it.each(refusals)("code_refused: a send refused with %s records that reason", async (reason, status, prepare) => {
    const phone = freshPhone();
    const setup = await prepare(phone);
    const requestId = requestIdFor(reason);
    const ip = setup.ip ?? freshIp();
    const response = await callWorker("POST", "/v1/auth/otp", { ...setup, ip, requestId, country: "BY", body: { phone } });
    await expectProblem(response, status, reason);
    const event = await eventOf({ phone, type: "code_refused" }, requestId);
    await expectTraced(event, { type: "code_refused", user_id: null, phone, ip, requestId });
    expect(event.detail).toMatchObject({ reason, purpose: "login" });
  });

  it("code_verified: a sign-in by code names the new user", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const t = traced("verify");
    const response = await verify(phone, code, t.options);
    const body = (await response.json()) as TokenBody;
    expect(response.status).toBe(200);
    const event = await eventOf({ phone, type: "code_verified" }, t.requestId);
    await expectTraced(event, { type: "code_verified", user_id: body.user.id, phone, ...t });
  });

  it("code_failed: a wrong code for an existing account", async () => {
    const phone = freshPhone();
    const user = await signIn(phone);
    freezeClock();
    advance(61 * SECOND);
    const code = await sendCode(phone);
    const t = traced("wrong");
    await expectProblem(await verify(phone, wrongCode(code), t.options), 400, "invalid_code");
    await expectTraced(await eventOf({ phone, type: "code_failed" }, t.requestId), {
      type: "code_failed",
      user_id: user.user.id,
      phone,
      ...t,
    });
    expect(await eventsOf(await sharedAdmin(), { phone, type: "code_burned" })).toEqual([]);
  });

  it("code_burned: written once, by the wrong guess that used the code's last attempt", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const guesses = Array.from({ length: 5 }, (_, i) => traced(`guess${i}`));
    for (const guess of guesses) await verify(phone, wrongCode(code), guess.options);
    const last = guesses[4] as (typeof guesses)[number];
    const burned = await eventsOf(await sharedAdmin(), { phone, type: "code_burned" });
    expect(burned).toHaveLength(1);
    await expectTraced(burned[0] as AuditItem, { type: "code_burned", user_id: null, phone, ...last });
    expect(await eventsOf(await sharedAdmin(), { phone, type: "code_failed" })).toHaveLength(5);
  });

  it("phone_locked: written once, by the wrong guess that locked the phone", async () => {
    const phone = freshPhone();
    freezeClock();
    const guesses: ReturnType<typeof traced>[] = [];
    for (let round = 0; round < 2; round++) {
      const code = await sendCode(phone);
      for (let i = 0; i < 5; i++) {
        const guess = traced(`lock${round}-${i}`);
        guesses.push(guess);
        await expectProblem(await verify(phone, wrongCode(code), guess.options), 400, "invalid_code");
      }
      advance(61 * SECOND);
    }
    const locked = await eventsOf(await sharedAdmin(), { phone, type: "phone_locked" });
    expect(locked).toHaveLength(1);
    await expectTraced(locked[0] as AuditItem, { type: "phone_locked", user_id: null, phone, ...(guesses[9] as (typeof guesses)[number]) });
  });

  it("password_login: a sign-in by password", async () => {
    const phone = freshPhone();
    const user = await withPassword(phone);
    const t = traced("pwlogin");
    expect((await passwordLogin(phone, PASSWORD, t.options)).status).toBe(200);
    await expectTraced(await eventOf({ phone, type: "password_login" }, t.requestId), {
      type: "password_login",
      user_id: user.user.id,
      phone,
      ...t,
    });
  });

  it("password_login_failed: a wrong password", async () => {
    const phone = freshPhone();
    const user = await withPassword(phone);
    const t = traced("pwfail");
    await expectProblem(await passwordLogin(phone, "a wrong password, long enough", t.options), 401, "invalid_credentials");
    const event = await eventOf({ phone, type: "password_login_failed" }, t.requestId);
    await expectTraced(event, { type: "password_login_failed", user_id: user.user.id, phone, ...t });
  });

  it("password_locked: written once, by the failure that locked password login", async () => {
    const phone = freshPhone();
    const user = await withPassword(phone);
    const attempts = Array.from({ length: 5 }, (_, i) => traced(`pwlock${i}`));
    for (const attempt of attempts) {
      await expectProblem(await passwordLogin(phone, "a wrong password, long enough", attempt.options), 401, "invalid_credentials");
    }
    const locked = await eventsOf(await sharedAdmin(), { phone, type: "password_locked" });
    expect(locked).toHaveLength(1);
    await expectTraced(locked[0] as AuditItem, {
      type: "password_locked",
      user_id: user.user.id,
      phone,
      ...(attempts[4] as (typeof attempts)[number]),
    });
  });

  it("password_changed: first set, change and reset, each with how", async () => {
    const phone = freshPhone();
    const user = await signIn(phone);
    const first = traced("pwset", { token: user.access_token, body: { new_password: PASSWORD } });
    expect((await callWorker("PUT", "/v1/me/password", first.options)).status).toBe(204);
    const change = traced("pwchange", { token: user.access_token, body: { new_password: `${PASSWORD} two`, current_password: PASSWORD } });
    expect((await callWorker("PUT", "/v1/me/password", change.options)).status).toBe(204);
    freezeClock();
    advance(61 * SECOND);
    const code = await sendCode(phone, { purpose: "reset_password" });
    const reset = traced("pwreset", { body: { phone, code, new_password: `${PASSWORD} three` } });
    expect((await callWorker("POST", "/v1/auth/password/reset", reset.options)).status).toBe(200);

    for (const [t, via] of [
      [first, "first_set"],
      [change, "change"],
      [reset, "reset"],
    ] as const) {
      const event = await eventOf({ phone, type: "password_changed" }, t.requestId);
      await expectTraced(event, { type: "password_changed", user_id: user.user.id, phone, ...t });
      expect(event.detail).toMatchObject({ via });
    }
  });

  it("refresh_reused: a rotated refresh token presented after the grace period", async () => {
    const user = await signIn();
    expect((await callWorker("POST", "/v1/auth/token", { body: { refresh_token: user.refresh_token } })).status).toBe(200);
    freezeClock();
    advance(11 * SECOND);
    const t = traced("reuse", { body: { refresh_token: user.refresh_token } });
    await expectProblem(await callWorker("POST", "/v1/auth/token", t.options), 401, "token_reused");
    const event = await eventOf({ user_id: user.user.id, type: "refresh_reused" }, t.requestId);
    expect(event).toMatchObject({ type: "refresh_reused", user_id: user.user.id, ip: t.ip, country: "BY", request_id: t.requestId });
  });

  it("refresh_reused: not written for a replay inside the grace period (two tabs racing)", async () => {
    const user = await signIn();
    expect((await callWorker("POST", "/v1/auth/token", { body: { refresh_token: user.refresh_token } })).status).toBe(200);
    await expectProblem(await callWorker("POST", "/v1/auth/token", { body: { refresh_token: user.refresh_token } }), 401, "invalid_token");
    expect(await eventsOf(await sharedAdmin(), { user_id: user.user.id, type: "refresh_reused" })).toEqual([]);
  });

  it("session_revoked: logout, logout everywhere, revoking one session and admin deactivation, each with its reason", async () => {
    const phone = freshPhone();
    const user = await signIn(phone);
    freezeClock();
    const sessions: TokenBody[] = [];
    for (let i = 0; i < 3; i++) {
      advance(61 * SECOND);
      sessions.push(await signIn(phone));
    }
    const [second, third, fourth] = sessions as [TokenBody, TokenBody, TokenBody];
    const logout = traced("logout", { body: { refresh_token: user.refresh_token } });
    expect((await callWorker("POST", "/v1/auth/logout", logout.options)).status).toBe(204);
    const one = traced("revoke-one", { token: fourth.access_token });
    expect((await callWorker("DELETE", `/v1/me/sessions/${claimsOf(second.access_token).sid}`, one.options)).status).toBe(204);
    const all = traced("logout-all", { token: third.access_token, body: { all: true } });
    expect((await callWorker("POST", "/v1/auth/logout", all.options)).status).toBe(204);
    advance(61 * SECOND);
    await signIn(phone);
    const admin = await sharedAdmin();
    const deactivate = traced("deactivate", { token: admin.access_token, body: { is_active: false } });
    expect((await callWorker("PATCH", `/v1/admin/users/${user.user.id}`, deactivate.options)).status).toBe(200);

    for (const [t, detail] of [
      [logout, { reason: "logout" }],
      [one, { reason: "revoked_by_owner", session_id: claimsOf(second.access_token).sid }],
      [all, { reason: "logout_all" }],
      [deactivate, { reason: "deactivated", by: admin.user.id }],
    ] as const) {
      const event = await eventOf({ user_id: user.user.id, type: "session_revoked" }, t.requestId);
      expect(event).toMatchObject({ type: "session_revoked", user_id: user.user.id, ip: t.ip, country: "BY", request_id: t.requestId });
      expect(event.detail).toMatchObject(detail);
    }
  });

  it("invite_activated: an activation names the invitee and the inviter", async () => {
    const inviter = await signIn();
    const phone = freshPhone();
    const invitee = await signIn(phone);
    const t = traced("invite", { token: invitee.access_token, body: { invite_code: inviter.user.invite_code } });
    expect((await callWorker("POST", "/v1/me/invite", t.options)).status).toBe(200);
    const event = await eventOf({ phone, type: "invite_activated" }, t.requestId);
    await expectTraced(event, { type: "invite_activated", user_id: invitee.user.id, phone, ...t });
    expect(event.detail).toMatchObject({ inviter_id: inviter.user.id });
  });

  it("invite_activated: an activation at sign-up", async () => {
    const inviter = await signIn();
    const phone = freshPhone();
    const code = await sendCode(phone);
    const t = traced("invite-signup", { body: { invite_code: inviter.user.invite_code } });
    const response = await verify(phone, code, t.options);
    const body = (await response.json()) as TokenBody;
    expect(response.status).toBe(200);
    const event = await eventOf({ phone, type: "invite_activated" }, t.requestId);
    await expectTraced(event, { type: "invite_activated", user_id: body.user.id, phone, ...t });
    expect(event.detail).toMatchObject({ inviter_id: inviter.user.id });
  });

  it("phone_changed: recorded under the new number, the old one only masked", async () => {
    const oldPhone = freshPhone();
    const user = await signIn(oldPhone);
    const newPhone = freshPhone();
    const sent = await callWorker("POST", "/v1/auth/otp", { token: user.access_token, body: { phone: newPhone, purpose: "change_phone" } });
    const { dev_code: code } = (await sent.json()) as { dev_code: string };
    const t = traced("phone", { token: user.access_token, body: { phone: newPhone, code } });
    const response = await callWorker("POST", "/v1/me/phone", t.options);
    expect(response.status, await response.clone().text()).toBe(200);
    const event = await eventOf({ phone: newPhone, type: "phone_changed" }, t.requestId);
    await expectTraced(event, { type: "phone_changed", user_id: user.user.id, phone: newPhone, ...t });
    expect(event.detail).toEqual({ previous: masked(oldPhone) });
  });

  it("account_deleted: the deletion outlives the account", async () => {
    const phone = freshPhone();
    const user = await signIn(phone);
    const t = traced("delete", { token: user.access_token });
    expect((await callWorker("DELETE", "/v1/me", t.options)).status).toBe(204);
    await expectTraced(await eventOf({ phone, type: "account_deleted" }, t.requestId), {
      type: "account_deleted",
      user_id: user.user.id,
      phone,
      ...t,
    });
  });

  it("admin_changed_user: names the acting admin and the changed fields", async () => {
    const admin = await sharedAdmin();
    const user = await signIn();
    const t = traced("admin", { token: admin.access_token, body: { role: "admin" } });
    expect((await callWorker("PATCH", `/v1/admin/users/${user.user.id}`, t.options)).status).toBe(200);
    const event = await eventOf({ user_id: user.user.id, type: "admin_changed_user" }, t.requestId);
    expect(event).toMatchObject({ type: "admin_changed_user", user_id: user.user.id, ip: t.ip, country: "BY", request_id: t.requestId });
    expect(event.detail).toEqual({ by: admin.user.id, is_active: null, role: "admin" });
  });

  it("events about an account carry its masked phone, so ?phone= finds refresh reuse, revocations and admin changes", async () => {
    const phone = freshPhone();
    const user = await signIn(phone);
    expect((await callWorker("POST", "/v1/auth/token", { body: { refresh_token: user.refresh_token } })).status).toBe(200);
    freezeClock();
    advance(11 * SECOND);
    await expectProblem(await callWorker("POST", "/v1/auth/token", { body: { refresh_token: user.refresh_token } }), 401, "token_reused");
    advance(61 * SECOND);
    await signIn(phone);
    const admin = await sharedAdmin();
    expect(
      (await callWorker("PATCH", `/v1/admin/users/${user.user.id}`, { token: admin.access_token, body: { is_active: false } })).status,
    ).toBe(200);
    const byUser = await eventsOf(admin, { user_id: user.user.id });
    expect(byUser.map((event) => event.type)).toEqual(expect.arrayContaining(["refresh_reused", "session_revoked", "admin_changed_user"]));
    const withoutPhone = byUser.filter((event) => event.phone !== masked(phone)).map((event) => event.type);
    expect(withoutPhone, "events about the account without its masked phone").toEqual([]);
  });
});

describe("what the audit trail never holds", () => {
  it("after a full account life, no stored column holds a code, a token, a password or a full phone", async () => {
    const codes = new Set<string>();
    const tokens = new Set<string>();
    const passwords = [PASSWORD, "an entirely wrong password", `${PASSWORD} after reset`];
    const collect = (body: TokenBody) => {
      tokens.add(body.access_token);
      tokens.add(body.refresh_token);
      return body;
    };
    const code = async (phone: string, extra: Record<string, unknown> = {}, token?: string) => {
      const response = await callWorker("POST", "/v1/auth/otp", { token, body: { phone, ...extra } });
      const body = (await response.json()) as { dev_code: string };
      expect(response.status, JSON.stringify(body)).toBe(200);
      codes.add(body.dev_code);
      return body.dev_code;
    };
    const ok = async (response: Response, status = 200) => {
      const text = await response.text();
      expect(response.status, text).toBe(status);
      return text ? (JSON.parse(text) as TokenBody) : (undefined as unknown as TokenBody);
    };

    const inviterPhone = freshPhone();
    const phone = freshPhone();
    const friendPhone = freshPhone();
    const newPhone = freshPhone();
    const admin = collect(await sharedAdmin());
    const phones = [inviterPhone, phone, friendPhone, newPhone, admin.user.phone];
    freezeClock();

    const inviter = collect(await ok(await verify(inviterPhone, await code(inviterPhone))));
    // Sign-up with an invite, after a wrong guess.
    const first = await code(phone);
    codes.add(wrongCode(first));
    await expectProblem(await verify(phone, wrongCode(first)), 400, "invalid_code");
    const signedUp = collect(await ok(await verify(phone, first, { body: { invite_code: inviter.user.invite_code } })));
    // Refresh, then a replay after the grace period.
    collect(await ok(await callWorker("POST", "/v1/auth/token", { body: { refresh_token: signedUp.refresh_token } })));
    advance(11 * SECOND);
    await expectProblem(
      await callWorker("POST", "/v1/auth/token", { body: { refresh_token: signedUp.refresh_token } }),
      401,
      "token_reused",
    );
    advance(61 * SECOND);
    const session = collect(await ok(await verify(phone, await code(phone))));
    // Password: set, a failed and a good login, a reset by SMS.
    await ok(await callWorker("PUT", "/v1/me/password", { token: session.access_token, body: { new_password: PASSWORD } }), 204);
    await expectProblem(await passwordLogin(phone, "an entirely wrong password"), 401, "invalid_credentials");
    collect(await ok(await passwordLogin(phone, PASSWORD)));
    advance(61 * SECOND);
    const resetCode = await code(phone, { purpose: "reset_password" });
    const reset = collect(
      await ok(
        await callWorker("POST", "/v1/auth/password/reset", { body: { phone, code: resetCode, new_password: `${PASSWORD} after reset` } }),
      ),
    );
    // Someone activates this user's invite code; then the phone changes and the account goes.
    const friend = collect(await ok(await verify(friendPhone, await code(friendPhone))));
    await ok(await callWorker("POST", "/v1/me/invite", { token: friend.access_token, body: { invite_code: signedUp.user.invite_code } }));
    const changeCode = await code(newPhone, { purpose: "change_phone" }, reset.access_token);
    await ok(await callWorker("POST", "/v1/me/phone", { token: reset.access_token, body: { phone: newPhone, code: changeCode } }));
    await ok(await callWorker("DELETE", "/v1/me", { token: reset.access_token }), 204);
    await ok(await callWorker("PATCH", `/v1/admin/users/${friend.user.id}`, { token: admin.access_token, body: { is_active: false } }));

    const stored = await env.DB.prepare("SELECT * FROM audit_events").all<Record<string, unknown>>();
    const types = new Set(stored.results.map((event) => event.type));
    for (const type of ["code_sent", "code_failed", "code_verified", "refresh_reused", "password_changed", "password_login"]) {
      expect(types).toContain(type);
    }
    for (const type of ["password_login_failed", "invite_activated", "phone_changed", "account_deleted", "admin_changed_user"]) {
      expect(types).toContain(type);
    }
    const viaApi = await eventsOf(admin, {});
    for (const [where, dump] of [
      ["D1", JSON.stringify(stored.results)],
      ["API", JSON.stringify(viaApi)],
    ] as const) {
      for (const value of codes) expect(dump, `${where}: code ${value}`).not.toMatch(new RegExp(`(?<![0-9A-Za-z])${value}(?![0-9A-Za-z])`));
      for (const value of tokens) expect(dump.includes(value), `${where}: a token`).toBe(false);
      for (const value of tokens) expect(dump.includes(value.split(".").at(-1) as string), `${where}: a token's signature`).toBe(false);
      for (const value of passwords) expect(dump.includes(value), `${where}: a password`).toBe(false);
      for (const value of phones) {
        expect(dump.includes(value), `${where}: ${value}`).toBe(false);
        expect(dump.includes(value.slice(1)), `${where}: digits of ${value}`).toBe(false);
        expect(dump.includes(value.slice(4)), `${where}: national ${value}`).toBe(false);
      }
    }
  });
});

describe("scheduled retention cleanup", () => {
  const retention = (variant = env) => runCron(CRON.retention, variant);

  const ids = () => ({ old: crypto.randomUUID(), recent: crypto.randomUUID() });

  async function seedEvent(id: string, createdAt: number) {
    await env.DB.prepare("INSERT INTO audit_events (id, type, created_at) VALUES (?, 'code_sent', ?)").bind(id, createdAt).run();
  }

  const exists = async (table: string, column: string, value: string) =>
    ((await row<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`, value))?.n ?? 0) > 0;

  it("deletes audit events older than AUDIT_RETENTION_DAYS (90 by default) and keeps younger ones", async () => {
    const now = Date.now();
    const event = ids();
    await seedEvent(event.old, now - 91 * DAY);
    await seedEvent(event.recent, now - 89 * DAY);
    await retention();
    expect(await exists("audit_events", "id", event.old)).toBe(false);
    expect(await exists("audit_events", "id", event.recent)).toBe(true);
  });

  it("honours a shorter AUDIT_RETENTION_DAYS", async () => {
    const now = Date.now();
    const event = ids();
    await seedEvent(event.old, now - 8 * DAY);
    await seedEvent(event.recent, now - 6 * DAY);
    await retention(SHORT_RETENTION_ENV);
    expect(await exists("audit_events", "id", event.old)).toBe(false);
    expect(await exists("audit_events", "id", event.recent)).toBe(true);
  });

  it("deletes sessions revoked or expired over 30 days ago with their refresh tokens, and keeps the rest", async () => {
    const now = Date.now();
    const user = await signIn();
    const live = claimsOf(user.access_token).sid;
    const seeds = {
      revokedLongAgo: { revokedAt: now - 31 * DAY, expiresAt: now + DAY, gone: true },
      expiredLongAgo: { revokedAt: null, expiresAt: now - 31 * DAY, gone: true },
      revokedRecently: { revokedAt: now - 29 * DAY, expiresAt: now + DAY, gone: false },
      expiredRecently: { revokedAt: null, expiresAt: now - 29 * DAY, gone: false },
    };
    const seeded: { id: string; token: string; gone: boolean }[] = [];
    for (const seed of Object.values(seeds)) {
      const id = crypto.randomUUID();
      const token = `hash-${crypto.randomUUID()}`;
      await env.DB.prepare(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, auth_time, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      )
        .bind(id, user.user.id, now - 60 * DAY, now - 60 * DAY, seed.expiresAt, now - 60 * DAY, seed.revokedAt)
        .run();
      await env.DB.prepare("INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)")
        .bind(token, id, now - 60 * DAY)
        .run();
      seeded.push({ id, token, gone: seed.gone });
    }
    await retention();
    for (const seed of seeded) {
      expect(await exists("sessions", "id", seed.id)).toBe(!seed.gone);
      expect(await exists("refresh_tokens", "token_hash", seed.token)).toBe(!seed.gone);
    }
    expect(await exists("sessions", "id", live)).toBe(true);
    expect((await callWorker("POST", "/v1/auth/token", { body: { refresh_token: user.refresh_token } })).status).toBe(200);
  });

  it("deletes what the limits, the SMS budget, the fraud guard and the analytics no longer read, each at its exact cut, and keeps what is one step inside", async () => {
    // The cron runs on the frozen clock too, so every cut is exact.
    const now = freezeClock();
    const loaded = loadConfig(env);
    if (!loaded.ok) throw new Error(loaded.problems.join("; "));
    const config = loaded.config;
    const tag = crypto.randomUUID().slice(0, 8);
    const dayOf = (at: number) => new Date(at).toISOString().slice(0, 10);
    const counter = (hour: number) => `wrong_guesses:${String(hour).padStart(13, "0")}`;
    const rateCut = now - Math.max(LONGEST_WINDOW_MS, config.OTP_LOCKOUT_SECONDS * SECOND, config.PASSWORD_LOCKOUT_SECONDS * SECOND);
    const sendsCut = now - Math.max(DAY, config.FRAUD_WINDOW_SECONDS * SECOND);
    const auditCut = now - config.AUDIT_RETENTION_DAYS * DAY;
    const analyticsCut = now - ANALYTICS_DAYS * DAY;
    // Each kind: the row that goes (the last one past the cut) and the one that stays (the first inside it).
    const kinds: { table: string; column: string; insert: string; gone: unknown[]; kept: unknown[] }[] = [
      // Rate events leave every window they can count in after the longest of them (at = the window's start is out).
      {
        table: "rate_events",
        column: "key",
        insert: "INSERT INTO rate_events (key, at, scope, marker) VALUES (?, ?, 'send_ip', 'm')",
        gone: [`${tag}-rate-gone`, rateCut],
        kept: [`${tag}-rate-kept`, rateCut + 1],
      },
      // SMS budget days: the last 7.
      {
        table: "sms_budget",
        column: "scope",
        insert: "INSERT INTO sms_budget (scope, day, count) VALUES (?, ?, 1)",
        gone: [`${tag}-budget-gone`, dayOf(now - 8 * DAY)],
        kept: [`${tag}-budget-kept`, dayOf(now - 7 * DAY)],
      },
      // The fraud guard's rows: a day, or its window if longer.
      {
        table: "code_sends",
        column: "code_id",
        insert: "INSERT INTO code_sends (code_id, sent_at, prefix, channel, provider) VALUES (?, ?, '+37529', 'sms', 'console')",
        gone: [`${tag}-sends-gone`, sendsCut - 1],
        kept: [`${tag}-sends-kept`, sendsCut],
      },
      {
        table: "country_minutes",
        column: "country",
        insert: "INSERT INTO country_minutes (country, minute, sends, verified) VALUES (?, ?, 1, 0)",
        gone: [`${tag}-minutes-gone`, Math.floor(sendsCut / 60_000) - 1],
        kept: [`${tag}-minutes-kept`, Math.floor(sendsCut / 60_000)],
      },
      // Delivery attempts go with the audit trail; the hourly rollups stay as long as analytics can ask.
      {
        table: "delivery_attempts",
        column: "code_id",
        insert: `INSERT INTO delivery_attempts (code_id, created_at, updated_at, attempt, channel, provider, prefix, status)
          VALUES (?, ?, 0, 1, 'sms', 'console', '+37529', 'sent')`,
        gone: [`${tag}-attempts-gone`, auditCut - 1],
        kept: [`${tag}-attempts-kept`, auditCut],
      },
      {
        table: "traffic_hourly",
        column: "prefix",
        insert: "INSERT INTO traffic_hourly (prefix, hour, channel, provider, attempts) VALUES (?, ?, 'sms', 'console', 1)",
        gone: [`${tag}-hourly-gone`, analyticsCut - 1],
        kept: [`${tag}-hourly-kept`, analyticsCut],
      },
      // The storm alarm's hourly wrong-guess counters: the current hour and the last one.
      {
        table: "counters",
        column: "name",
        insert: "INSERT OR IGNORE INTO counters (name, value) VALUES (?, 1)",
        gone: [counter(hourOf(now) - 2 * HOUR)],
        kept: [counter(hourOf(now) - HOUR)],
      },
    ];
    const seeds = kinds.flatMap((kind) =>
      [true, false].map((gone) => {
        const params = gone ? kind.gone : kind.kept;
        return { ...kind, id: params[0] as string, gone, statement: env.DB.prepare(kind.insert).bind(...params) };
      }),
    );
    await env.DB.batch(seeds.map((seed) => seed.statement));
    for (const seed of seeds) expect(await exists(seed.table, seed.column, seed.id), `seeded ${seed.id}`).toBe(true);

    await retention();
    for (const seed of seeds) expect(await exists(seed.table, seed.column, seed.id), seed.id).toBe(!seed.gone);
  });

  it("deletes one-time-code rows consumed or expired over a day ago, and keeps live and recent ones", async () => {
    const now = Date.now();
    const seeds = [
      { phone: freshPhone(), expiresAt: now - 2 * DAY, consumedAt: now - 2 * DAY - 60_000, gone: true },
      { phone: freshPhone(), expiresAt: now - 2 * DAY, consumedAt: null, gone: true },
      { phone: freshPhone(), expiresAt: now - DAY / 2, consumedAt: null, gone: false },
      { phone: freshPhone(), expiresAt: now - DAY / 2, consumedAt: now - DAY / 2 - 60_000, gone: false },
      { phone: freshPhone(), expiresAt: now + 300_000, consumedAt: null, gone: false },
    ];
    for (const seed of seeds) {
      await env.DB.prepare("INSERT INTO otp_challenges (phone, purpose, code_id, expires_at, consumed_at) VALUES (?, 'login', ?, ?, ?)")
        .bind(seed.phone, crypto.randomUUID(), seed.expiresAt, seed.consumedAt)
        .run();
    }
    await retention();
    for (const seed of seeds) expect(await exists("otp_challenges", "phone", seed.phone), JSON.stringify(seed)).toBe(!seed.gone);
  });
});
