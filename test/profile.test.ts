import { afterEach, describe, expect, it, vi } from "vitest";
import { call, expectProblem, freshPhone, row, sendCode, signIn } from "./helpers";
import { guardColumns } from "./otp-helpers";
import { advance, claimsOf, refresh, refreshOk, SECOND } from "./token-helpers";

afterEach(() => {
  vi.useRealTimers();
});

type UserRow = {
  id: string;
  phone: string;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  invite_code: string;
  role: string;
  points: number;
  referrals_count: number;
  is_active: number;
  created_at: number;
  last_login_at: number | null;
};

const userRow = (id: string) => row<UserRow>("SELECT * FROM users WHERE id = ?", id);
const count = async (query: string, ...params: unknown[]) => (await row<{ n: number }>(query, ...params))?.n;

const USER_KEYS = [
  "activated_invite_code",
  "created_at",
  "email",
  "first_name",
  "has_password",
  "id",
  "invite_code",
  "last_login_at",
  "last_name",
  "phone",
  "points",
  "referral_tree",
  "referrals_count",
  "role",
].sort();

describe("GET /v1/me", () => {
  it("answers the full User shape, matching what D1 holds", async () => {
    const phone = freshPhone();
    const tokens = await signIn(phone);
    const response = await call("GET", "/v1/me", { token: tokens.access_token });
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
    const user = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(user).sort()).toEqual(USER_KEYS);
    const stored = await userRow(tokens.user.id);
    expect(user).toEqual({
      id: claimsOf(tokens.access_token).sub,
      phone,
      first_name: null,
      last_name: null,
      email: null,
      invite_code: stored?.invite_code,
      activated_invite_code: null,
      has_password: false,
      role: "user",
      created_at: new Date(stored?.created_at ?? 0).toISOString(),
      last_login_at: new Date(stored?.last_login_at ?? 0).toISOString(),
      points: 0,
      referrals_count: 0,
      referral_tree: { level_1: 0, level_2: 0, total_network: 0 },
    });
    expect(user.invite_code).toMatch(/^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$/);
    expect(user.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/);
    expect(Math.abs(Date.parse(user.created_at as string) - Date.now())).toBeLessThan(60_000);
    // The sign-in's User is the same document.
    expect(tokens.user).toEqual(user);
  });

  it("gives each user a distinct opaque id and invite code", async () => {
    const a = await signIn();
    const b = await signIn();
    expect(a.user.id).not.toBe(b.user.id);
    expect(a.user.invite_code).not.toBe(b.user.invite_code);
    expect(a.user.id).not.toMatch(/^\d+$/);
  });

  it("needs a bearer token", async () => {
    const response = await call("GET", "/v1/me");
    await expectProblem(response, 401, "unauthorized");
    expect(response.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
  });
});

describe("PATCH /v1/me", () => {
  it("sets names and email, and null clears them", async () => {
    const tokens = await signIn();
    const set = await call("PATCH", "/v1/me", {
      token: tokens.access_token,
      body: { first_name: "Anna", last_name: "Ivanova", email: "anna@example.com" },
    });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ id: tokens.user.id, first_name: "Anna", last_name: "Ivanova", email: "anna@example.com" });
    expect(await userRow(tokens.user.id)).toMatchObject({ first_name: "Anna", last_name: "Ivanova", email: "anna@example.com" });

    const cleared = await call("PATCH", "/v1/me", { token: tokens.access_token, body: { first_name: null, email: null } });
    expect(cleared.status).toBe(200);
    expect(await cleared.json()).toMatchObject({ first_name: null, last_name: "Ivanova", email: null });
    expect(await userRow(tokens.user.id)).toMatchObject({ first_name: null, last_name: "Ivanova", email: null });

    const me = (await (await call("GET", "/v1/me", { token: tokens.access_token })).json()) as Record<string, unknown>;
    expect(me).toMatchObject({ first_name: null, last_name: "Ivanova", email: null });
  });

  it("leaves fields the body does not name unchanged", async () => {
    const tokens = await signIn();
    await call("PATCH", "/v1/me", { token: tokens.access_token, body: { first_name: "Anna", last_name: "Ivanova" } });
    const response = await call("PATCH", "/v1/me", { token: tokens.access_token, body: { email: "a@example.org" } });
    expect(await response.json()).toMatchObject({ first_name: "Anna", last_name: "Ivanova", email: "a@example.org" });
    const empty = await call("PATCH", "/v1/me", { token: tokens.access_token, body: {} });
    expect(empty.status).toBe(200);
    expect(await empty.json()).toMatchObject({ first_name: "Anna", last_name: "Ivanova", email: "a@example.org" });
  });

  it("answers validation_failed for an invalid email and changes nothing", async () => {
    const tokens = await signIn();
    await call("PATCH", "/v1/me", { token: tokens.access_token, body: { first_name: "Anna", email: "anna@example.com" } });
    for (const email of ["not-an-email", "a@", "@example.com", "anna example@example.com", 42]) {
      const problem = await expectProblem(
        await call("PATCH", "/v1/me", { token: tokens.access_token, body: { first_name: "Changed", email } }),
        400,
        "validation_failed",
      );
      expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: "email" })]));
    }
    expect(await userRow(tokens.user.id)).toMatchObject({ first_name: "Anna", email: "anna@example.com" });
  });

  it("ignores role, points, id, phone and other fields a client may not set", async () => {
    const tokens = await signIn();
    const before = await userRow(tokens.user.id);
    const response = await call("PATCH", "/v1/me", {
      token: tokens.access_token,
      body: {
        first_name: "Eve",
        role: "admin",
        points: 1_000_000,
        id: "00000000-0000-0000-0000-000000000000",
        phone: freshPhone(),
        is_active: false,
        invite_code: "ZZZZZZ",
        activated_invite_code: "ABCDEF",
        referrals_count: 99,
        has_password: true,
        password_hash: "x",
        created_at: "2000-01-01T00:00:00.000Z",
      },
    });
    expect(response.status).toBe(200);
    const user = (await response.json()) as Record<string, unknown>;
    expect(user).toMatchObject({
      id: tokens.user.id,
      phone: tokens.user.phone,
      first_name: "Eve",
      role: "user",
      points: 0,
      invite_code: before?.invite_code,
      activated_invite_code: null,
      referrals_count: 0,
      has_password: false,
    });
    expect(await row("SELECT * FROM users WHERE id = ?", tokens.user.id)).toEqual({ ...before, first_name: "Eve" });
    // A refresh mints the role D1 holds, not one the client asked for.
    expect(claimsOf((await refreshOk(tokens.refresh_token)).access_token).role).toBe("user");
  });

  it("answers unauthorized after logout, and writes nothing", async () => {
    const tokens = await signIn();
    expect((await call("POST", "/v1/auth/logout", { body: { refresh_token: tokens.refresh_token } })).status).toBe(204);
    await expectProblem(await call("PATCH", "/v1/me", { token: tokens.access_token, body: { first_name: "Ghost" } }), 401, "unauthorized");
    expect((await userRow(tokens.user.id))?.first_name).toBeNull();
  });
});

describe("DELETE /v1/me", () => {
  it("deletes the account, its sessions, refresh tokens and codes right after sign-in; per-phone guards stay", async () => {
    const phone = freshPhone();
    const tokens = await signIn(phone);
    const { sid } = claimsOf(tokens.access_token);
    const rotated = await refreshOk(tokens.refresh_token);
    expect(await count("SELECT count(*) AS n FROM refresh_tokens WHERE session_id = ?", sid)).toBe(2);
    const guardBefore = await guardColumns(["hour_count", "day_count", "last_sent_at"], phone);
    expect(guardBefore).not.toBeNull();

    const response = await call("DELETE", "/v1/me", { token: rotated.access_token });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");

    expect(await userRow(tokens.user.id)).toBeNull();
    expect(await count("SELECT count(*) AS n FROM users WHERE phone = ?", phone)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM sessions WHERE user_id = ?", tokens.user.id)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM refresh_tokens WHERE session_id = ?", sid)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM otp_challenges WHERE phone = ?", phone)).toBe(0);
    expect(await guardColumns(["hour_count", "day_count", "last_sent_at"], phone)).toEqual(guardBefore);

    for (const token of [tokens.access_token, rotated.access_token]) {
      await expectProblem(await call("GET", "/v1/me", { token }), 401, "unauthorized");
      await expectProblem(await call("DELETE", "/v1/me", { token }), 401, "unauthorized");
    }
    await expectProblem(await refresh(rotated.refresh_token), 401, "invalid_token");
    await expectProblem(await refresh(tokens.refresh_token), 401, "invalid_token");
  });

  it("deletes every session of the account, not only the caller's", async () => {
    const phone = freshPhone();
    const other = await signIn(phone);
    advance(61 * SECOND);
    const caller = await signIn(phone);
    expect((await call("DELETE", "/v1/me", { token: caller.access_token })).status).toBe(204);
    expect(await count("SELECT count(*) AS n FROM sessions WHERE user_id = ?", caller.user.id)).toBe(0);
    await expectProblem(await call("GET", "/v1/me", { token: other.access_token }), 401, "unauthorized");
    await expectProblem(await refresh(other.refresh_token), 401, "invalid_token");
  });

  it("answers reauthentication_required once auth_time is older than 300 s, even after a refresh", async () => {
    const tokens = await signIn();
    advance(301 * SECOND);
    // The original access token still lives (900 s) but its sign-in is too old.
    await expectProblem(await call("DELETE", "/v1/me", { token: tokens.access_token }), 403, "reauthentication_required");
    const refreshed = await refreshOk(tokens.refresh_token);
    expect(claimsOf(refreshed.access_token).auth_time).toBe(claimsOf(tokens.access_token).auth_time);
    await expectProblem(await call("DELETE", "/v1/me", { token: refreshed.access_token }), 403, "reauthentication_required");
    expect(await userRow(tokens.user.id)).not.toBeNull();
    expect((await call("GET", "/v1/me", { token: refreshed.access_token })).status).toBe(200);
  });

  it("allows deletion after a fresh sign-in when an older session's auth_time is stale", async () => {
    const phone = freshPhone();
    const old = await signIn(phone);
    advance(301 * SECOND);
    await expectProblem(await call("DELETE", "/v1/me", { token: old.access_token }), 403, "reauthentication_required");
    const fresh = await signIn(phone);
    expect((await call("DELETE", "/v1/me", { token: fresh.access_token })).status).toBe(204);
    expect(await userRow(old.user.id)).toBeNull();
  });

  it("lets the phone sign up again as a new user, with per-phone windows carried over", async () => {
    const phone = freshPhone();
    const first = await signIn(phone);
    expect((await call("DELETE", "/v1/me", { token: first.access_token })).status).toBe(204);

    // The resend cooldown survived the deletion.
    await expectProblem(await call("POST", "/v1/auth/otp", { body: { phone } }), 429, "resend_too_soon");
    advance(61 * SECOND);
    const code = await sendCode(phone);
    const response = await call("POST", "/v1/auth/otp/verify", { body: { phone, code } });
    expect(response.status).toBe(200);
    const again = (await response.json()) as { is_new_user: boolean; user: { id: string; phone: string } };
    expect(again.is_new_user).toBe(true);
    expect(again.user.phone).toBe(phone);
    expect(again.user.id).not.toBe(first.user.id);
    expect(await count("SELECT count(*) AS n FROM users WHERE phone = ?", phone)).toBe(1);
    expect(await guardColumns(["hour_count"], phone)).toEqual({ hour_count: 2 });
  });

  it("answers unauthorized without a bearer token and deletes nothing", async () => {
    const tokens = await signIn();
    await expectProblem(await call("DELETE", "/v1/me"), 401, "unauthorized");
    expect(await userRow(tokens.user.id)).not.toBeNull();
  });
});
