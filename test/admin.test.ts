import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ADMIN_ENV,
  type AdminUser,
  type AdminUserDetail,
  type AuditItem,
  adminOk,
  callWorker,
  eventsOf,
  freshAdminPhone,
  masked,
  type Page,
  sharedAdmin,
  signInAdmin,
  signInVia,
  walkPages,
} from "./admin-helpers";
import { call, expectProblem, freshPhone, row, sendCode, signIn, type TokenBody, wrongCode } from "./helpers";
import { advance, freezeClock, MINUTE, SECOND, variantEnv } from "./otp-helpers";
import { claimsOf, refresh } from "./token-helpers";

const PASSWORD = "correct horse battery staple";

/** ADMIN_PHONES as a larger organisation might set it (120 numbers). */
const LONG_ADMIN_LIST_ENV = variantEnv({
  ADMIN_PHONES: Array.from({ length: 120 }, (_, i) => `+375259${String(i + 1).padStart(6, "0")}`).join(","),
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const getUser = (admin: TokenBody, id: string) => adminOk<AdminUserDetail>(admin, "GET", `/v1/admin/users/${id}`);
const patchUser = (admin: TokenBody, id: string, body: unknown) =>
  callWorker("PATCH", `/v1/admin/users/${id}`, { token: admin.access_token, body });
const searchUsers = (admin: TokenBody, q: string, limit = 100) =>
  adminOk<Page<AdminUser>>(admin, "GET", `/v1/admin/users?q=${encodeURIComponent(q)}&limit=${limit}`);
type Stats = {
  users_total: number;
  signups_today: number;
  codes_sent_today: number;
  codes_verified_today: number;
  verify_success_ratio: number;
};
const stats = (admin: TokenBody) => adminOk<Stats>(admin, "GET", "/v1/admin/stats");

async function me(who: TokenBody) {
  const response = await call("GET", "/v1/me", { token: who.access_token });
  const body = (await response.json()) as Record<string, unknown> & { phone: string };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body;
}

const setPassword = (who: TokenBody, password = PASSWORD) =>
  call("PUT", "/v1/me/password", { token: who.access_token, body: { new_password: password } });
const passwordLogin = (phone: string, password: string, variant = ADMIN_ENV) =>
  callWorker("POST", "/v1/auth/password/login", { env: variant, body: { phone, password } });
const activate = (who: TokenBody, inviteCode: string) =>
  call("POST", "/v1/me/invite", { token: who.access_token, body: { invite_code: inviteCode } });

/** Every admin route, with a harmless request for each. */
const ROUTES: [string, string, (target: string) => string, unknown?][] = [
  ["GET /v1/admin/users", "GET", () => "/v1/admin/users"],
  ["GET /v1/admin/users/{id}", "GET", (target) => `/v1/admin/users/${target}`],
  ["PATCH /v1/admin/users/{id}", "PATCH", (target) => `/v1/admin/users/${target}`, { is_active: false, role: "admin" }],
  ["GET /v1/admin/events", "GET", () => "/v1/admin/events"],
  ["GET /v1/admin/stats", "GET", () => "/v1/admin/stats"],
];

describe("who may call the admin routes", () => {
  it.each(ROUTES)("%s answers 401 unauthorized without a token or with a bad one", async (_name, method, path, body) => {
    const target = (await signIn()).user.id;
    await expectProblem(await callWorker(method, path(target), { body }), 401, "unauthorized");
    await expectProblem(await callWorker(method, path(target), { body, token: "not.a.token" }), 401, "unauthorized");
  });

  it.each(ROUTES)("%s answers 403 forbidden to a signed-in non-admin, and changes nothing", async (_name, method, path, body) => {
    const caller = await signIn();
    const target = await signIn();
    await expectProblem(await callWorker(method, path(target.user.id), { body, token: caller.access_token }), 403, "forbidden");
    expect(await row("SELECT role, is_active FROM users WHERE id = ?", target.user.id)).toEqual({ role: "user", is_active: 1 });
    expect(await row("SELECT role, is_active FROM users WHERE id = ?", caller.user.id)).toEqual({ role: "user", is_active: 1 });
    expect(await row("SELECT count(*) AS n FROM audit_events WHERE type = 'admin_changed_user' AND user_id = ?", target.user.id)).toEqual({
      n: 0,
    });
  });

  it("a non-admin cannot promote themselves: forbidden, role unchanged", async () => {
    const caller = await signIn();
    await expectProblem(await patchUser(caller, caller.user.id, { role: "admin" }), 403, "forbidden");
    expect(await row("SELECT role FROM users WHERE id = ?", caller.user.id)).toEqual({ role: "user" });
  });

  it("a non-admin deactivating themselves is told forbidden (not an admin), not self_lockout", async () => {
    const caller = await signIn();
    await expectProblem(await patchUser(caller, caller.user.id, { is_active: false }), 403, "forbidden");
    expect(await row("SELECT is_active FROM users WHERE id = ?", caller.user.id)).toEqual({ is_active: 1 });
  });

  it.each(ROUTES)("%s answers 401 once the admin's session is revoked by logout", async (_name, method, path, body) => {
    const admin = await signInAdmin();
    const target = await signIn();
    expect((await call("POST", "/v1/auth/logout", { body: { refresh_token: admin.refresh_token } })).status).toBe(204);
    await expectProblem(await callWorker(method, path(target.user.id), { body, token: admin.access_token }), 401, "unauthorized");
  });

  it("a phone listed in ADMIN_PHONES gets the admin role at sign-in by code, in the token and in D1", async () => {
    const admin = await signInAdmin();
    expect(admin.user.role).toBe("admin");
    expect(claimsOf(admin.access_token).role).toBe("admin");
    expect(await row("SELECT role FROM users WHERE id = ?", admin.user.id)).toEqual({ role: "admin" });
    const page = await adminOk<Page<AdminUser>>(admin, "GET", "/v1/admin/users");
    expect(page.items.length).toBeGreaterThan(0);
  });

  it("the same phone signing in where ADMIN_PHONES does not list it is an ordinary user", async () => {
    const phone = freshAdminPhone();
    const plain = await signIn(phone);
    expect(plain.user.role).toBe("user");
    await expectProblem(await callWorker("GET", "/v1/admin/stats", { token: plain.access_token }), 403, "forbidden");
  });

  it("a listed phone gets the admin role at a password sign-in too", async () => {
    const phone = freshAdminPhone();
    const plain = await signIn(phone);
    expect((await setPassword(plain)).status).toBe(204);
    const response = await passwordLogin(phone, PASSWORD, ADMIN_ENV);
    const body = (await response.json()) as TokenBody;
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.user.role).toBe("admin");
    expect(claimsOf(body.access_token).role).toBe("admin");
    await adminOk(body, "GET", "/v1/admin/stats");
  });

  it("a demotion in D1 wins over the admin role the token still claims", async () => {
    const admin = await signInAdmin();
    await adminOk(admin, "GET", "/v1/admin/stats");
    const target = await signIn();
    await env.DB.prepare("UPDATE users SET role = 'user' WHERE id = ?").bind(admin.user.id).run();
    expect(claimsOf(admin.access_token).role).toBe("admin");
    for (const [, method, path, body] of ROUTES) {
      await expectProblem(await callWorker(method, path(target.user.id), { body, token: admin.access_token }), 403, "forbidden");
    }
    expect(await row("SELECT role, is_active FROM users WHERE id = ?", target.user.id)).toEqual({ role: "user", is_active: 1 });
  });

  it("a promotion in D1 lets a token that says user into the admin routes at once", async () => {
    const admin = await sharedAdmin();
    const promoted = await signIn();
    const response = await patchUser(admin, promoted.user.id, { role: "admin" });
    expect(response.status, await response.clone().text()).toBe(200);
    expect(claimsOf(promoted.access_token).role).toBe("user");
    await adminOk(promoted, "GET", "/v1/admin/stats");
  });

  it("an admin deactivated by another admin answers 401 on every admin route", async () => {
    const first = await sharedAdmin();
    const second = await signInAdmin();
    expect((await patchUser(first, second.user.id, { is_active: false })).status).toBe(200);
    for (const [, method, path, body] of ROUTES) {
      await expectProblem(await callWorker(method, path(first.user.id), { body, token: second.access_token }), 401, "unauthorized");
    }
  });

  it("a long ADMIN_PHONES list (120 phones) still serves the admin routes", async () => {
    const phone = "+375259000001";
    await signInVia(LONG_ADMIN_LIST_ENV, phone).then(async (admin) => {
      expect(admin.user.role).toBe("admin");
      const response = await callWorker("GET", "/v1/admin/stats", { env: LONG_ADMIN_LIST_ENV, token: admin.access_token });
      expect(response.status, await response.text()).toBe(200);
    });
  });

  it("a phone that ADMIN_PHONES no longer lists loses the admin role on admin routes at once", async () => {
    const admin = await sharedAdmin();
    await adminOk(admin, "GET", "/v1/admin/stats");
    await expectProblem(await callWorker("GET", "/v1/admin/stats", { env, token: admin.access_token }), 403, "forbidden");
  });

  it("a listed admin demoted by PATCH is an admin again at the next sign-in while the var lists the phone", async () => {
    const admin = await sharedAdmin();
    const phone = freshAdminPhone();
    const other = await signInAdmin(phone);
    const response = await patchUser(admin, other.user.id, { role: "user" });
    expect(((await response.json()) as AdminUserDetail).role).toBe("user");
    await expectProblem(await callWorker("GET", "/v1/admin/stats", { token: other.access_token }), 403, "forbidden");
    freezeClock();
    advance(61 * SECOND);
    const listed = await signInVia(ADMIN_ENV, phone);
    expect(listed.user.role).toBe("admin");
  });

  it("a role granted by an admin does not depend on ADMIN_PHONES", async () => {
    const admin = await sharedAdmin();
    const phone = freshPhone();
    const user = await signIn(phone);
    expect((await patchUser(admin, user.user.id, { role: "admin" })).status).toBe(200);
    await adminOk(user, "GET", "/v1/admin/stats");
    expect((await callWorker("GET", "/v1/admin/stats", { env, token: user.access_token })).status).toBe(200);
    freezeClock();
    advance(61 * SECOND);
    expect((await signIn(phone)).user.role).toBe("admin");
  });
});

describe("GET /v1/admin/users", () => {
  it("answers the /v1/me User shape with the full phone, plus is_active, and records who searched for what", async () => {
    const admin = await sharedAdmin();
    const user = await signIn();
    const profile = await me(user);
    const page = await searchUsers(admin, user.user.invite_code as string);
    expect(page.items).toEqual([{ ...profile, phone: user.user.phone, is_active: true }]);
    const viewed = await row<{ user_id: string | null; detail: string }>(
      "SELECT user_id, detail FROM audit_events WHERE type = 'admin_viewed' AND detail LIKE ? ORDER BY created_at DESC LIMIT 1",
      `%${user.user.invite_code}%`,
    );
    expect(viewed?.user_id).toBeNull();
    expect(JSON.parse(viewed?.detail ?? "{}")).toEqual({ by: admin.user.id, search: user.user.invite_code });
  });

  it("masks a phone typed into the search in its admin_viewed event (the audit trail holds no full phone)", async () => {
    const admin = await sharedAdmin();
    const user = await signIn();
    await searchUsers(admin, user.user.phone);
    const events = await env.DB.prepare("SELECT detail FROM audit_events WHERE type = 'admin_viewed'").all<{ detail: string }>();
    expect(events.results.map((event) => event.detail).join()).not.toContain(user.user.phone.slice(1));
    expect(events.results.map((event) => JSON.parse(event.detail).search)).toContain(masked(user.user.phone));
  });

  it("finds users by a phone prefix typed in any formatting, newest first", async () => {
    const admin = await sharedAdmin();
    freezeClock();
    const group: TokenBody[] = [];
    for (const phone of ["+375447700001", "+375447700002", "+375447700003"]) {
      group.push(await signIn(phone));
      advance(SECOND);
    }
    const outsider = await signIn("+375447800001");
    const newestFirst = group.map((user) => user.user.id).reverse();
    for (const q of ["+375 44 77", "00375 44 77 0", "+375447700", "(+375) 44-770-00", "+375.44.77"]) {
      const page = await searchUsers(admin, q);
      expect(
        page.items.map((user) => user.id),
        q,
      ).toEqual(newestFirst);
      expect(page.next_cursor).toBeNull();
    }
    expect((await searchUsers(admin, "+375 44 78")).items.map((user) => user.id)).toEqual([outsider.user.id]);
  });

  it("finds exactly one user by an invite code typed in lower case", async () => {
    const admin = await sharedAdmin();
    const user = await signIn();
    await signIn();
    const page = await searchUsers(admin, (user.user.invite_code as string).toLowerCase());
    expect(page.items.map((item) => item.id)).toEqual([user.user.id]);
    expect(page.items[0]?.invite_code).toBe(user.user.invite_code);
  });

  it("answers an empty list for a query that matches nobody", async () => {
    const admin = await sharedAdmin();
    expect(await searchUsers(admin, "+375 25 999")).toEqual({ items: [], next_cursor: null });
  });

  it("an empty q lists everyone, newest first", async () => {
    const admin = await sharedAdmin();
    const user = await signIn();
    const page = await adminOk<Page<AdminUser>>(admin, "GET", "/v1/admin/users?q=&limit=100");
    const ids = page.items.map((item) => item.id);
    expect(ids).toContain(user.user.id);
    expect(ids).toContain(admin.user.id);
    const times = page.items.map((item) => item.created_at);
    expect(times).toEqual([...times].sort().reverse());
  });

  it("defaults to 20 per page", async () => {
    const admin = await sharedAdmin();
    const existing = (await searchUsers(admin, "")).items.length;
    for (let i = existing; i < 21; i++) await signIn();
    const page = await adminOk<Page<AdminUser>>(admin, "GET", "/v1/admin/users");
    expect(page.items).toHaveLength(20);
    expect(page.next_cursor).toEqual(expect.any(String));
  });

  it("pages through users created in the same millisecond with no gaps or duplicates", async () => {
    const admin = await sharedAdmin();
    freezeClock();
    const phones = ["+375449900001", "+375449900002", "+375449900003", "+375449900004", "+375449900005"];
    const ids: string[] = [];
    for (const phone of phones) ids.push((await signIn(phone)).user.id);
    const pages = await walkPages<AdminUser>(admin, "/v1/admin/users", { q: "+37544990", limit: 2 });
    expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
    const walked = pages.flat().map((user) => user.id);
    expect(new Set(walked).size).toBe(5);
    expect([...walked].sort()).toEqual([...ids].sort());
    // Ties on created_at are broken by id, the same order a single page gives.
    expect(walked).toEqual((await searchUsers(admin, "+37544990")).items.map((user) => user.id));
  });

  it("a user who signs up between pages neither shifts nor repeats the later pages", async () => {
    const admin = await sharedAdmin();
    freezeClock();
    const older: string[] = [];
    for (const phone of ["+375449800001", "+375449800002", "+375449800003", "+375449800004"]) {
      older.push((await signIn(phone)).user.id);
      advance(SECOND);
    }
    const first = await adminOk<Page<AdminUser>>(admin, "GET", "/v1/admin/users?q=%2B37544980&limit=2");
    await signIn("+375449800005");
    const rest = await walkPages<AdminUser>(admin, "/v1/admin/users", {
      q: "+37544980",
      limit: 2,
      cursor: first.next_cursor ?? undefined,
    });
    const seen = [...first.items, ...rest.flat()].map((user) => user.id);
    expect(seen).toEqual([...older].reverse());
  });

  it.each([
    ["limit=0", "limit=0"],
    ["limit=101", "limit=101"],
    ["a non-numeric limit", "limit=ten"],
    ["a cursor the API never issued", "cursor=bm90LWEtY3Vyc29y"],
    ["a cursor that is not base64", "cursor=%25%25%25"],
  ])("refuses %s with validation_failed", async (_name, query) => {
    const admin = await sharedAdmin();
    await expectProblem(await callWorker("GET", `/v1/admin/users?${query}`, { token: admin.access_token }), 400, "validation_failed");
  });
});

describe("GET /v1/admin/users/{id}", () => {
  it("shows the full phones of the user and the inviter after an invite activation, counts live sessions, records the view", async () => {
    const admin = await sharedAdmin();
    const inviter = await signIn();
    const phone = freshPhone();
    const invitee = await signIn(phone);
    expect((await activate(invitee, inviter.user.invite_code as string)).status).toBe(200);
    advance(61 * SECOND);
    const second = await signIn(phone);

    const detail = await getUser(admin, invitee.user.id);
    expect(detail).toEqual({
      ...(await me(second)),
      phone,
      is_active: true,
      invited_by: { id: inviter.user.id, phone: inviter.user.phone },
      sessions: 2,
    });
    const viewed = await row<{ n: number }>(
      "SELECT COUNT(*) AS n FROM audit_events WHERE type = 'admin_viewed' AND user_id = ? AND detail LIKE ?",
      invitee.user.id,
      `%${admin.user.id}%`,
    );
    expect(viewed?.n).toBeGreaterThanOrEqual(1);

    expect((await call("POST", "/v1/auth/logout", { body: { refresh_token: invitee.refresh_token } })).status).toBe(204);
    expect((await getUser(admin, invitee.user.id)).sessions).toBe(1);
    expect((await getUser(admin, inviter.user.id)).invited_by).toBeNull();
  });

  it("does not count expired sessions as live", async () => {
    const admin = await sharedAdmin();
    const user = await signIn();
    await env.DB.prepare("UPDATE sessions SET expires_at = ? WHERE user_id = ?")
      .bind(Date.now() - 1, user.user.id)
      .run();
    expect((await getUser(admin, user.user.id)).sessions).toBe(0);
  });

  it("answers 404 not_found for an unknown id", async () => {
    const admin = await sharedAdmin();
    await expectProblem(await callWorker("GET", `/v1/admin/users/${crypto.randomUUID()}`, { token: admin.access_token }), 404, "not_found");
  });
});

describe("PATCH /v1/admin/users/{id}", () => {
  it("deactivating revokes every session: refresh answers invalid_token and the access token unauthorized", async () => {
    const admin = await sharedAdmin();
    const phone = freshPhone();
    const first = await signIn(phone);
    freezeClock();
    advance(61 * SECOND);
    const second = await signIn(phone);

    const response = await patchUser(admin, first.user.id, { is_active: false });
    const body = (await response.json()) as AdminUserDetail;
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ id: first.user.id, is_active: false, sessions: 0, phone });
    // The answer shows the full phone: the view is audited with the change.
    const viewed = await row<{ phone_masked: string }>(
      "SELECT phone_masked FROM audit_events WHERE type = 'admin_viewed' AND user_id = ? ORDER BY created_at DESC LIMIT 1",
      first.user.id,
    );
    expect(viewed?.phone_masked).toBe(masked(phone));

    for (const session of [first, second]) {
      await expectProblem(await refresh(session.refresh_token), 401, "invalid_token");
      await expectProblem(await call("GET", "/v1/me", { token: session.access_token }), 401, "unauthorized");
    }
    const live = await row<{ n: number }>("SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL", first.user.id);
    expect(live?.n).toBe(0);
  });

  it("a deactivated user's sign-in by code answers account_disabled only after the right code", async () => {
    const admin = await sharedAdmin();
    const phone = freshPhone();
    const user = await signIn(phone);
    expect((await patchUser(admin, user.user.id, { is_active: false })).status).toBe(200);

    freezeClock();
    advance(61 * SECOND);
    const code = await sendCode(phone);
    const wrong = await expectProblem(
      await call("POST", "/v1/auth/otp/verify", { body: { phone, code: wrongCode(code) } }),
      400,
      "invalid_code",
    );
    expect(wrong.attempts_left).toBe(4);
    await expectProblem(await call("POST", "/v1/auth/otp/verify", { body: { phone, code } }), 403, "account_disabled");
    const open = await row<{ n: number }>("SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL", user.user.id);
    expect(open?.n).toBe(0);
  });

  it("a deactivated user's password login answers account_disabled only after the right password", async () => {
    const admin = await sharedAdmin();
    const phone = freshPhone();
    const user = await signIn(phone);
    expect((await setPassword(user)).status).toBe(204);
    expect((await patchUser(admin, user.user.id, { is_active: false })).status).toBe(200);
    await expectProblem(await passwordLogin(phone, "not the password at all"), 401, "invalid_credentials");
    await expectProblem(await passwordLogin(phone, PASSWORD), 403, "account_disabled");
  });

  it("a deactivated user's invite code answers invite_inactive, at activation and at sign-up", async () => {
    const admin = await sharedAdmin();
    const inviter = await signIn();
    const invitee = await signIn();
    expect((await patchUser(admin, inviter.user.id, { is_active: false })).status).toBe(200);
    const code = inviter.user.invite_code as string;
    await expectProblem(await activate(invitee, code), 409, "invite_inactive");

    const newcomer = freshPhone();
    const devCode = await sendCode(newcomer);
    await expectProblem(
      await call("POST", "/v1/auth/otp/verify", { body: { phone: newcomer, code: devCode, invite_code: code } }),
      409,
      "invite_inactive",
    );
    expect(await row("SELECT points, referrals_count FROM users WHERE id = ?", inviter.user.id)).toEqual({ points: 0, referrals_count: 0 });
  });

  it("reactivating restores sign-in by code and by password, and the invite code", async () => {
    const admin = await sharedAdmin();
    const phone = freshPhone();
    const user = await signIn(phone);
    expect((await setPassword(user)).status).toBe(204);
    const invitee = await signIn();
    expect((await patchUser(admin, user.user.id, { is_active: false })).status).toBe(200);
    await expectProblem(await passwordLogin(phone, PASSWORD), 403, "account_disabled");

    const response = await patchUser(admin, user.user.id, { is_active: true });
    expect(((await response.json()) as AdminUserDetail).is_active).toBe(true);
    expect((await passwordLogin(phone, PASSWORD)).status).toBe(200);
    freezeClock();
    advance(61 * SECOND);
    const again = await signIn(phone);
    expect(again.user.id).toBe(user.user.id);
    expect((await activate(invitee, user.user.invite_code as string)).status).toBe(200);
  });

  it("changes the role and answers the detail shape", async () => {
    const admin = await sharedAdmin();
    const user = await signIn();
    const response = await patchUser(admin, user.user.id, { role: "admin" });
    const body = (await response.json()) as AdminUserDetail;
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body).toEqual(await getUser(admin, user.user.id));
    expect(body).toMatchObject({ role: "admin", is_active: true, invited_by: null, sessions: 1 });
    expect(await row("SELECT role FROM users WHERE id = ?", user.user.id)).toEqual({ role: "admin" });
  });

  it("an admin cannot deactivate or demote themselves (self_lockout), and nothing changes", async () => {
    const admin = await sharedAdmin();
    for (const change of [{ is_active: false }, { role: "user" }, { is_active: false, role: "user" }, { is_active: true, role: "user" }]) {
      await expectProblem(await patchUser(admin, admin.user.id, change), 409, "self_lockout");
    }
    expect(await row("SELECT role, is_active FROM users WHERE id = ?", admin.user.id)).toEqual({ role: "admin", is_active: 1 });
    expect(await eventsOf(admin, { user_id: admin.user.id, type: "admin_changed_user" })).toEqual([]);
    await adminOk(admin, "GET", "/v1/admin/stats");
  });

  it("ignores unknown fields and fields an admin may not set here", async () => {
    const admin = await sharedAdmin();
    const user = await signIn();
    const response = await patchUser(admin, user.user.id, { is_active: true, points: 1_000_000, phone: "+375291111111", id: "x", shoe: 1 });
    const body = (await response.json()) as AdminUserDetail;
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ id: user.user.id, points: 0, phone: user.user.phone });
    expect(await row("SELECT phone, points FROM users WHERE id = ?", user.user.id)).toEqual({ phone: user.user.phone, points: 0 });
  });

  it.each([
    ["an unknown role", { role: "root" }],
    ["a non-boolean is_active", { is_active: "no" }],
  ])("refuses %s with validation_failed", async (_name, body) => {
    const admin = await sharedAdmin();
    const user = await signIn();
    await expectProblem(await patchUser(admin, user.user.id, body), 400, "validation_failed");
    expect(await row("SELECT role, is_active FROM users WHERE id = ?", user.user.id)).toEqual({ role: "user", is_active: 1 });
  });

  it("answers 404 not_found for an unknown id and records nothing", async () => {
    const admin = await sharedAdmin();
    const ghost = crypto.randomUUID();
    await expectProblem(await patchUser(admin, ghost, { is_active: false }), 404, "not_found");
    expect(await eventsOf(admin, { user_id: ghost })).toEqual([]);
  });
});

describe("GET /v1/admin/events", () => {
  it("pages through one phone's events with no gaps or duplicates, newest first", async () => {
    const admin = await sharedAdmin();
    const phone = freshPhone();
    freezeClock();
    const code = await sendCode(phone);
    advance(SECOND);
    for (let i = 0; i < 3; i++) {
      await call("POST", "/v1/auth/otp/verify", { body: { phone, code: wrongCode(code) } });
    }
    advance(SECOND);
    await call("POST", "/v1/auth/otp/verify", { body: { phone, code } });
    advance(61 * SECOND);
    await sendCode(phone);

    const all = await eventsOf(admin, { phone });
    expect(all.map((event) => event.type)).toEqual([
      "code_sent",
      "code_verified",
      "code_failed",
      "code_failed",
      "code_failed",
      "code_sent",
    ]);
    const pages = await walkPages<AuditItem>(admin, "/v1/admin/events", { phone, limit: 2 });
    expect(pages.map((page) => page.length)).toEqual([2, 2, 2]);
    expect(pages.flat().map((event) => event.id)).toEqual(all.map((event) => event.id));
    expect(new Set(all.map((event) => event.id)).size).toBe(6);
  });

  it("filters by type, by user_id, and by a phone typed in any format", async () => {
    const admin = await sharedAdmin();
    const phone = freshPhone();
    freezeClock();
    const code = await sendCode(phone);
    advance(SECOND);
    const verified = await call("POST", "/v1/auth/otp/verify", { body: { phone, code } });
    const user = (await verified.json()) as TokenBody;
    await signIn();
    const formatted = `00${phone.slice(1, 4)} (${phone.slice(4, 6)}) ${phone.slice(6, 9)}-${phone.slice(9, 11)}-${phone.slice(11)}`;
    const byPhone = await eventsOf(admin, { phone });
    expect(byPhone.map((event) => event.type)).toEqual(["code_verified", "code_sent"]);
    // The keyed hash the filter matches on: one value per phone, never the phone or its digits.
    const hashes = new Set(byPhone.map((event) => (event as { phone_hash?: string }).phone_hash));
    expect(hashes.size).toBe(1);
    const [hash] = hashes;
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(phone.slice(1));
    expect(await row("SELECT count(*) AS n FROM audit_events WHERE phone_key = ?", hash)).toEqual({ n: 2 });
    expect(await eventsOf(admin, { phone: formatted })).toEqual(byPhone);
    expect(await eventsOf(admin, { phone: phone.slice(4) })).toEqual(byPhone);
    expect((await eventsOf(admin, { user_id: user.user.id, type: "code_verified" })).map((event) => event.id)).toEqual([byPhone[0]?.id]);
    const allVerified = await eventsOf(admin, { type: "code_verified" });
    expect(allVerified.every((event) => event.type === "code_verified")).toBe(true);
    expect(allVerified.map((event) => event.user_id)).toContain(user.user.id);
  });

  it.each([
    ["an undocumented type", "type=login"],
    ["limit=0", "limit=0"],
    ["limit=101", "limit=101"],
    ["a cursor the API never issued", "cursor=garbage"],
  ])("refuses %s with validation_failed", async (_name, query) => {
    const admin = await sharedAdmin();
    await expectProblem(await callWorker("GET", `/v1/admin/events?${query}`, { token: admin.access_token }), 400, "validation_failed");
  });
});

describe("GET /v1/admin/stats", () => {
  it("users, sign-ups and codes move with sends and verifications; the ratio is verified/sent", async () => {
    const admin = await sharedAdmin();
    const before = await stats(admin);
    const phone = freshPhone();
    await sendCode(phone);
    const returning = await signIn();
    advance(61 * SECOND);
    await sendCode(returning.user.phone);
    const after = await stats(admin);
    expect(after.users_total - before.users_total).toBe(1);
    expect(after.signups_today - before.signups_today).toBe(1);
    expect(after.codes_sent_today - before.codes_sent_today).toBe(3);
    expect(after.codes_verified_today - before.codes_verified_today).toBe(1);
    expect(after.verify_success_ratio).toBeCloseTo(after.codes_verified_today / after.codes_sent_today, 3);
    expect(after.users_total).toBe((await row<{ n: number }>("SELECT count(*) AS n FROM users"))?.n);
  });

  it("a deleted account leaves users_total", async () => {
    const admin = await sharedAdmin();
    const user = await signIn();
    const before = await stats(admin);
    expect((await call("DELETE", "/v1/me", { token: user.access_token })).status).toBe(204);
    expect((await stats(admin)).users_total).toBe(before.users_total - 1);
  });

  it("a new UTC day starts from zero, and the ratio is 0 when nothing was sent", async () => {
    const phone = freshAdminPhone();
    const admin = await signInAdmin(phone);
    expect((await setPassword(admin)).status).toBe(204);
    const now = freezeClock();
    // A day no other test reaches; a password login sends no code.
    freezeClock(new Date(now + 40 * 86_400_000).setUTCHours(0, 30, 0, 0));
    const response = await passwordLogin(phone, PASSWORD);
    const fresh = (await response.json()) as TokenBody;
    expect(response.status, JSON.stringify(fresh)).toBe(200);
    expect(await stats(fresh)).toMatchObject({ signups_today: 0, codes_sent_today: 0, codes_verified_today: 0, verify_success_ratio: 0 });
  });

  it("today is the UTC day: a send just before midnight UTC is not today's after it", async () => {
    const phone = freshAdminPhone();
    const admin = await signInAdmin(phone);
    expect((await setPassword(admin)).status).toBe(204);
    const base = new Date(Date.now() + 50 * 86_400_000).setUTCHours(23, 59, 0, 0);
    freezeClock(base);
    await sendCode(freshPhone());
    const late = (await (await passwordLogin(phone, PASSWORD)).json()) as TokenBody;
    expect((await stats(late)).codes_sent_today).toBe(1);
    advance(2 * MINUTE);
    expect((await stats(late)).codes_sent_today).toBe(0);
  });
});
