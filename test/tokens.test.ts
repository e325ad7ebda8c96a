import { env } from "cloudflare:workers";
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, expectProblem, freshPhone, row, signIn, type TokenBody } from "./helpers";
import { advance, claimsOf, DAY, headerOf, refresh, refreshOk, SECOND, sha256Hex, signInAs } from "./token-helpers";

afterEach(() => {
  vi.useRealTimers();
});

const IDLE = 1_209_600;

async function expectUnauthorized(response: Response) {
  await expectProblem(response, 401, "unauthorized");
}

async function sessionRow(sid: string) {
  return row<{ id: string; user_id: string; revoked_at: number | null; last_used_at: number; expires_at: number; auth_time: number }>(
    "SELECT * FROM sessions WHERE id = ?",
    sid,
  );
}

describe("token response", () => {
  it("has the contract's shape and is never cached", async () => {
    const { body, response } = await signInAs();
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 900, refresh_expires_in: IDLE, is_new_user: true });
    expect(typeof body.access_token).toBe("string");
    expect(typeof body.refresh_token).toBe("string");

    const refreshed = await refresh(body.refresh_token);
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get("Cache-Control")).toBe("no-store");
    const next = (await refreshed.json()) as TokenBody;
    expect(next).toMatchObject({ token_type: "Bearer", expires_in: 900, refresh_expires_in: IDLE, is_new_user: false });
    expect(next.user).toMatchObject({ id: body.user.id, phone: body.user.phone });
  });

  it("signs an ES256 at+jwt access token whose kid is published in the JWKS", async () => {
    const { access_token } = await signIn();
    const header = headerOf(access_token);
    expect(header).toMatchObject({ alg: "ES256", typ: "at+jwt" });
    expect(typeof header.kid).toBe("string");
    const jwks = (await (await call("GET", "/.well-known/jwks.json")).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((key) => key.kid)).toContain(header.kid);
  });

  it("signs a standard ES256 JWS: a JWT library verifies it against the published JWKS", async () => {
    const { access_token, user } = await signIn();
    const jwks = (await (await call("GET", "/.well-known/jwks.json")).json()) as JSONWebKeySet;
    const { payload, protectedHeader } = await jwtVerify(access_token, createLocalJWKSet(jwks), {
      algorithms: ["ES256"],
      issuer: "https://auth.example.com",
      audience: "phone-auth-edge",
      typ: "at+jwt",
    });
    expect(Object.keys(protectedHeader)).toEqual(["alg", "typ", "kid"]);
    expect(payload.sub).toBe(user.id);
  });

  it("puts iss, aud, sub, iat, exp = iat + 900, jti, sid, role and auth_time in the access token", async () => {
    const before = Math.floor(Date.now() / 1000);
    const tokens = await signIn();
    const after = Math.ceil(Date.now() / 1000);
    const claims = claimsOf(tokens.access_token);
    expect(claims.iss).toBe("https://auth.example.com");
    expect([claims.aud].flat()).toEqual(["phone-auth-edge"]);
    expect(claims.sub).toBe(tokens.user.id);
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.iat).toBeLessThanOrEqual(after);
    expect(claims.exp).toBe(claims.iat + 900);
    expect(claims.jti).toEqual(expect.any(String));
    expect(claims.jti.length).toBeGreaterThanOrEqual(16);
    expect(claims.role).toBe("user");
    expect(claims.auth_time).toBeGreaterThanOrEqual(before);
    expect(claims.auth_time).toBeLessThanOrEqual(after);
    const session = await sessionRow(claims.sid);
    expect(session).toMatchObject({ id: claims.sid, user_id: tokens.user.id, revoked_at: null });

    const other = await signIn();
    expect(claimsOf(other.access_token).jti).not.toBe(claims.jti);
  });

  it("stores a refresh token only as a hash", async () => {
    const tokens = await signIn();
    const { sid } = claimsOf(tokens.access_token);
    // At least 128 random bits (base64url: 6 bits a character).
    expect(tokens.refresh_token.length * 6).toBeGreaterThanOrEqual(128);
    const stored = await env.DB.prepare("SELECT * FROM refresh_tokens WHERE session_id = ?").bind(sid).all();
    expect(stored.results).toHaveLength(1);
    expect(JSON.stringify(stored.results)).not.toContain(tokens.refresh_token);
    expect(stored.results[0]?.token_hash).toBe(await sha256Hex(tokens.refresh_token));
    const anywhere = await row<{ n: number }>(
      "SELECT count(*) AS n FROM refresh_tokens WHERE token_hash = ?1 OR replaced_by = ?1 OR session_id = ?1",
      tokens.refresh_token,
    );
    expect(anywhere?.n).toBe(0);
    const sessions = await row("SELECT * FROM sessions WHERE id = ?", sid);
    expect(JSON.stringify(sessions)).not.toContain(tokens.refresh_token);
  });
});

describe("refresh rotation", () => {
  it("rotates: a new refresh token that differs, a working access token, the old token marked rotated", async () => {
    const first = await signIn();
    const second = await refreshOk(first.refresh_token);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect(claimsOf(second.access_token).sid).toBe(claimsOf(first.access_token).sid);
    const me = await call("GET", "/v1/me", { token: second.access_token });
    expect(me.status).toBe(200);

    const old = await row<{ rotated_at: number | null; replaced_by: string | null }>(
      "SELECT rotated_at, replaced_by FROM refresh_tokens WHERE token_hash = ?",
      await sha256Hex(first.refresh_token),
    );
    expect(old?.rotated_at).toEqual(expect.any(Number));
    expect(old?.replaced_by).toBe(await sha256Hex(second.refresh_token));
  });

  it("answers invalid_token for a rotated token within the grace period and revokes nothing", async () => {
    const first = await signIn();
    const second = await refreshOk(first.refresh_token);
    advance(9 * SECOND);
    await expectProblem(await refresh(first.refresh_token), 401, "invalid_token");

    const { sid } = claimsOf(first.access_token);
    expect((await sessionRow(sid))?.revoked_at).toBeNull();
    expect((await call("GET", "/v1/me", { token: second.access_token })).status).toBe(200);
    const third = await refreshOk(second.refresh_token);
    expect((await call("GET", "/v1/me", { token: third.access_token })).status).toBe(200);
  });

  it("answers token_reused for a rotated token after the grace period and revokes the whole family", async () => {
    const first = await signIn();
    const second = await refreshOk(first.refresh_token);
    const third = await refreshOk(second.refresh_token);
    advance(11 * SECOND);

    await expectProblem(await refresh(first.refresh_token), 401, "token_reused");

    const { sid } = claimsOf(first.access_token);
    expect((await sessionRow(sid))?.revoked_at).toEqual(expect.any(Number));
    // The newest token of the family stops working too, and so do its access tokens.
    const newest = await refresh(third.refresh_token);
    expect(newest.status).toBe(401);
    expect(["invalid_token", "token_reused"]).toContain(((await newest.json()) as { code: string }).code);
    await expectUnauthorized(await call("GET", "/v1/me", { token: third.access_token }));
  });

  it("lets exactly one of two parallel refreshes with one token succeed", async () => {
    const tokens = await signIn();
    const responses = await Promise.all([refresh(tokens.refresh_token), refresh(tokens.refresh_token)]);
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([200, 401]);
    const loser = responses.find((response) => response.status === 401);
    if (!loser) throw new Error("no loser");
    await expectProblem(loser, 401, "invalid_token");
    // The race is not reuse: the session lives on.
    expect((await sessionRow(claimsOf(tokens.access_token).sid))?.revoked_at).toBeNull();
    const winner = (await responses.find((response) => response.status === 200)?.json()) as TokenBody;
    await refreshOk(winner.refresh_token);
  });

  it("lets exactly one of eight parallel refreshes with one token succeed", async () => {
    const tokens = await signIn();
    const responses = await Promise.all(Array.from({ length: 8 }, () => refresh(tokens.refresh_token)));
    expect(responses.filter((response) => response.status === 200)).toHaveLength(1);
    expect(responses.filter((response) => response.status === 401)).toHaveLength(7);
    const stored = await row<{ n: number }>(
      "SELECT count(*) AS n FROM refresh_tokens WHERE session_id = ?",
      claimsOf(tokens.access_token).sid,
    );
    expect(stored?.n).toBe(2);
  });

  it("keeps auth_time across refreshes while iat moves on", async () => {
    const tokens = await signIn();
    const original = claimsOf(tokens.access_token);
    advance(120 * SECOND);
    const next = await refreshOk(tokens.refresh_token);
    const claims = claimsOf(next.access_token);
    expect(claims.auth_time).toBe(original.auth_time);
    expect(claims.iat).toBeGreaterThanOrEqual(original.iat + 120);
    expect(claims.sid).toBe(original.sid);
    expect(claims.jti).not.toBe(original.jti);
  });

  it("answers invalid_token for an unknown refresh token", async () => {
    await expectProblem(await refresh("rt_notarealtokenatallnotarealtokenatallxxxxx"), 401, "invalid_token");
  });

  it("answers validation_failed for a refresh request without refresh_token", async () => {
    const problem = await expectProblem(await call("POST", "/v1/auth/token", { body: {} }), 400, "validation_failed");
    expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: "refresh_token" })]));
  });
});

describe("token kinds never pass for each other", () => {
  it("refuses a refresh token used as a bearer access token", async () => {
    const tokens = await signIn();
    await expectUnauthorized(await call("GET", "/v1/me", { token: tokens.refresh_token }));
  });

  it("answers invalid_token for an access token sent as refresh_token", async () => {
    const tokens = await signIn();
    await expectProblem(await refresh(tokens.access_token), 401, "invalid_token");
    expect((await sessionRow(claimsOf(tokens.access_token).sid))?.revoked_at).toBeNull();
  });

  it("ignores an access token in the URL query", async () => {
    const tokens = await signIn();
    const response = await call("GET", `/v1/me?access_token=${encodeURIComponent(tokens.access_token)}`);
    const problem = await expectProblem(response, 401, "unauthorized");
    expect(response.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
    expect(problem.detail).not.toContain(tokens.access_token);
    await expectUnauthorized(await call("GET", `/v1/me/sessions?token=${encodeURIComponent(tokens.access_token)}`));
  });

  it("ignores cookies on /v1 routes", async () => {
    const tokens = await signIn();
    const cookie = ["access_token", "token", "session", "__Host-session", "__Host-access_token", "auth"]
      .map((name) => `${name}=${tokens.access_token}`)
      .join("; ");
    await expectUnauthorized(await call("GET", "/v1/me", { headers: { Cookie: cookie } }));
    await expectUnauthorized(await call("GET", "/v1/me/sessions", { headers: { Cookie: cookie } }));
  });
});

describe("session lifetime", () => {
  it("ends a session left idle longer than SESSION_IDLE_SECONDS", async () => {
    const tokens = await signIn();
    advance(IDLE * SECOND + SECOND);
    await expectProblem(await refresh(tokens.refresh_token), 401, "invalid_token");
  });

  it("keeps a session used within the idle limit alive", async () => {
    const tokens = await signIn();
    advance(IDLE * SECOND - 60 * SECOND);
    const next = await refreshOk(tokens.refresh_token);
    expect(next.refresh_expires_in).toBe(IDLE);
    const session = await sessionRow(claimsOf(next.access_token).sid);
    expect(session?.last_used_at).toBe(Date.now());
  });

  it("ends a session at its absolute lifetime however often it is refreshed", async () => {
    const tokens = await signIn();
    const started = (await row<{ created_at: number }>("SELECT created_at FROM sessions WHERE id = ?", claimsOf(tokens.access_token).sid))
      ?.created_at as number;
    advance(13 * DAY);
    const day13 = await refreshOk(tokens.refresh_token);
    // 17 days of the absolute 30 are left: the idle limit (14 days) is smaller.
    expect(day13.refresh_expires_in).toBe(IDLE);
    advance(13 * DAY);
    const day26 = await refreshOk(day13.refresh_token);
    // Now 4 days are left: the absolute limit is smaller.
    expect(day26.refresh_expires_in).toBeGreaterThan(4 * 86_400 - 5);
    expect(day26.refresh_expires_in).toBeLessThanOrEqual(4 * 86_400);
    expect((await sessionRow(claimsOf(day26.access_token).sid))?.expires_at).toBe(started + 2_592_000 * SECOND);
    vi.setSystemTime(started + 2_592_000 * SECOND + SECOND);
    await expectProblem(await refresh(day26.refresh_token), 401, "invalid_token");
  });

  it("lets an access token expire after 900 s", async () => {
    const tokens = await signIn();
    advance(899 * SECOND);
    expect((await call("GET", "/v1/me", { token: tokens.access_token })).status).toBe(200);
    advance(2 * SECOND);
    await expectUnauthorized(await call("GET", "/v1/me", { token: tokens.access_token }));
  });
});

describe("logout", () => {
  it("revokes the session of a refresh token", async () => {
    const tokens = await signIn();
    const response = await call("POST", "/v1/auth/logout", { body: { refresh_token: tokens.refresh_token } });
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    expect((await sessionRow(claimsOf(tokens.access_token).sid))?.revoked_at).toEqual(expect.any(Number));
    await expectProblem(await refresh(tokens.refresh_token), 401, "invalid_token");
    await expectUnauthorized(await call("GET", "/v1/me", { token: tokens.access_token }));
  });

  it("revokes the session through a rotated refresh token of its family too", async () => {
    const first = await signIn();
    const second = await refreshOk(first.refresh_token);
    expect((await call("POST", "/v1/auth/logout", { body: { refresh_token: first.refresh_token } })).status).toBe(204);
    await expectProblem(await refresh(second.refresh_token), 401, "invalid_token");
  });

  it("answers 204 for an unknown refresh token", async () => {
    const response = await call("POST", "/v1/auth/logout", { body: { refresh_token: "rt_unknown-token-that-was-never-issued" } });
    expect(response.status).toBe(204);
  });

  it("revokes every session of the user with a bearer token and all: true, and no one else's", async () => {
    const phone = freshPhone();
    const first = await signIn(phone);
    advance(61 * SECOND); // the resend cooldown
    const second = await signIn(phone);
    const bystander = await signIn();
    expect(claimsOf(second.access_token).sid).not.toBe(claimsOf(first.access_token).sid);

    const response = await call("POST", "/v1/auth/logout", { token: second.access_token, body: { all: true } });
    expect(response.status).toBe(204);

    const live = await row<{ n: number }>("SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL", first.user.id);
    expect(live?.n).toBe(0);
    for (const tokens of [first, second]) {
      await expectProblem(await refresh(tokens.refresh_token), 401, "invalid_token");
      await expectUnauthorized(await call("GET", "/v1/me", { token: tokens.access_token }));
    }
    expect((await call("GET", "/v1/me", { token: bystander.access_token })).status).toBe(200);
  });

  it("answers unauthorized for all: true without a bearer token", async () => {
    const tokens = await signIn();
    await expectUnauthorized(await call("POST", "/v1/auth/logout", { body: { all: true } }));
    await expectUnauthorized(await call("POST", "/v1/auth/logout", { body: { all: true }, token: "not.a.token" }));
    expect((await sessionRow(claimsOf(tokens.access_token).sid))?.revoked_at).toBeNull();
  });

  it("answers validation_failed for an empty body", async () => {
    await expectProblem(await call("POST", "/v1/auth/logout", { body: {} }), 400, "validation_failed");
    await expectProblem(await call("POST", "/v1/auth/logout", { body: { all: false } }), 400, "validation_failed");
    await expectProblem(await call("POST", "/v1/auth/logout", { body: { refresh_token: "" } }), 400, "validation_failed");
  });
});

describe("sessions", () => {
  it("lists live sessions with sid ids, times, user agent, country, and current for the caller only", async () => {
    const phone = freshPhone();
    const { body: phoneA } = await signInAs(phone, { userAgent: "PhoneApp/1.0 (Android)", country: "BY" });
    advance(61 * SECOND);
    const { body: laptop } = await signInAs(phone, { userAgent: "Mozilla/5.0 Laptop" });

    const response = await call("GET", "/v1/me/sessions", { token: laptop.access_token });
    expect(response.status).toBe(200);
    const { items } = (await response.json()) as { items: Record<string, unknown>[] };
    expect(items).toHaveLength(2);
    const byId = new Map(items.map((item) => [item.id, item]));
    const phoneSid = claimsOf(phoneA.access_token).sid;
    const laptopSid = claimsOf(laptop.access_token).sid;
    expect(byId.get(laptopSid)).toMatchObject({ user_agent: "Mozilla/5.0 Laptop", country: null, current: true });
    expect(byId.get(phoneSid)).toMatchObject({ user_agent: "PhoneApp/1.0 (Android)", country: "BY", current: false });
    for (const item of items) {
      expect(Object.keys(item).sort()).toEqual(["country", "created_at", "current", "id", "last_used_at", "user_agent"]);
      const stored = await sessionRow(item.id as string);
      expect(item.created_at).toBe(new Date((stored as unknown as { created_at: number }).created_at).toISOString());
      expect(item.last_used_at).toBe(new Date(stored?.last_used_at ?? 0).toISOString());
    }

    const fromPhone = (await (await call("GET", "/v1/me/sessions", { token: phoneA.access_token })).json()) as {
      items: { id: string; current: boolean }[];
    };
    expect(fromPhone.items.filter((item) => item.current).map((item) => item.id)).toEqual([phoneSid]);
  });

  it("leaves revoked sessions out of the list", async () => {
    const phone = freshPhone();
    const first = await signIn(phone);
    advance(61 * SECOND);
    const second = await signIn(phone);
    expect((await call("POST", "/v1/auth/logout", { body: { refresh_token: first.refresh_token } })).status).toBe(204);
    const { items } = (await (await call("GET", "/v1/me/sessions", { token: second.access_token })).json()) as { items: { id: string }[] };
    expect(items.map((item) => item.id)).toEqual([claimsOf(second.access_token).sid]);
  });

  it("revokes one session by id: its tokens stop working, the caller's keep working", async () => {
    const phone = freshPhone();
    const other = await signIn(phone);
    advance(61 * SECOND);
    const caller = await signIn(phone);
    const otherSid = claimsOf(other.access_token).sid;

    const response = await call("DELETE", `/v1/me/sessions/${otherSid}`, { token: caller.access_token });
    expect(response.status).toBe(204);
    expect((await sessionRow(otherSid))?.revoked_at).toEqual(expect.any(Number));
    await expectUnauthorized(await call("GET", "/v1/me", { token: other.access_token }));
    await expectProblem(await refresh(other.refresh_token), 401, "invalid_token");
    expect((await call("GET", "/v1/me", { token: caller.access_token })).status).toBe(200);
    await refreshOk(caller.refresh_token);
  });

  it("answers not_found for someone else's session and leaves it alive", async () => {
    const victim = await signIn();
    const attacker = await signIn();
    const victimSid = claimsOf(victim.access_token).sid;
    await expectProblem(await call("DELETE", `/v1/me/sessions/${victimSid}`, { token: attacker.access_token }), 404, "not_found");
    expect((await sessionRow(victimSid))?.revoked_at).toBeNull();
    expect((await call("GET", "/v1/me", { token: victim.access_token })).status).toBe(200);
  });

  it("answers not_found for an unknown or already revoked session", async () => {
    const phone = freshPhone();
    const other = await signIn(phone);
    advance(61 * SECOND);
    const caller = await signIn(phone);
    await expectProblem(await call("DELETE", "/v1/me/sessions/no-such-session", { token: caller.access_token }), 404, "not_found");
    const otherSid = claimsOf(other.access_token).sid;
    expect((await call("DELETE", `/v1/me/sessions/${otherSid}`, { token: caller.access_token })).status).toBe(204);
    await expectProblem(await call("DELETE", `/v1/me/sessions/${otherSid}`, { token: caller.access_token }), 404, "not_found");
  });

  it("needs a bearer token to list or revoke sessions", async () => {
    const tokens = await signIn();
    await expectUnauthorized(await call("GET", "/v1/me/sessions"));
    await expectUnauthorized(await call("DELETE", `/v1/me/sessions/${claimsOf(tokens.access_token).sid}`));
    expect((await sessionRow(claimsOf(tokens.access_token).sid))?.revoked_at).toBeNull();
  });
});
