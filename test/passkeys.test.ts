import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseEcdsaSignature } from "../src/build/webauthn-asn1";
import { call, expectProblem, freshPhone, row, signIn, type TokenBody } from "./helpers";
import { CRON, callWith, runCron, variantEnv } from "./otp-helpers";
import { b64url, derSignature, SoftAuthenticator } from "./passkey-authenticator";
import { advance, claimsOf, SECOND } from "./token-helpers";

// The test config (vitest.config.ts) sets WEBAUTHN_RP_ID=auth.test and WEBAUTHN_ORIGINS=https://auth.test.
const RP_ID = "auth.test";
const ORIGIN = "https://auth.test";

afterEach(() => {
  vi.useRealTimers();
});

type Options = { challenge: string; user: { id: string; name: string }; excludeCredentials: { id: string }[] };
type Passkey = { id: string; name: string; created_at: string; last_used_at: string | null; backed_up: boolean };

async function registrationOptions(token: string, body?: Record<string, unknown>): Promise<Options> {
  const response = await call("POST", "/v1/me/passkeys/options", { token, body });
  const options = (await response.json()) as Options;
  expect(response.status, JSON.stringify(options)).toBe(200);
  return options;
}

/** A signed-in user with one passkey on a fresh software authenticator. */
async function userWithPasskey(phone = freshPhone()) {
  const tokens = await signIn(phone);
  const authenticator = await SoftAuthenticator.create(RP_ID, ORIGIN);
  const options = await registrationOptions(tokens.access_token);
  const response = await call("POST", "/v1/me/passkeys", {
    token: tokens.access_token,
    body: { response: await authenticator.register(options), name: "Test key" },
  });
  const passkey = (await response.json()) as Passkey;
  expect(response.status, JSON.stringify(passkey)).toBe(201);
  return { phone, tokens, authenticator, passkey, userHandle: options.user.id };
}

async function signInOptions(): Promise<{ challenge: string; rpId: string; allowCredentials: unknown[] }> {
  const response = await call("POST", "/v1/auth/passkey/options");
  const options = (await response.json()) as { challenge: string; rpId: string; allowCredentials: unknown[] };
  expect(response.status, JSON.stringify(options)).toBe(200);
  return options;
}

const verify = (response: unknown) => call("POST", "/v1/auth/passkey/verify", { body: { response } });

async function verifyOk(response: unknown): Promise<TokenBody> {
  const answer = await verify(response);
  const body = (await answer.json()) as TokenBody;
  expect(answer.status, JSON.stringify(body)).toBe(200);
  return body;
}

const events = (userId: string, type: string) =>
  row<{ n: number }>("SELECT count(*) AS n FROM audit_events WHERE user_id = ? AND type = ?", userId, type).then((r) => r?.n);

describe("passkey registration", () => {
  it("adds a discoverable passkey, lists it, and excludes it from the next options", async () => {
    const { tokens, authenticator, passkey, userHandle } = await userWithPasskey();
    expect(passkey).toMatchObject({ name: "Test key", last_used_at: null, backed_up: true });
    expect(Object.keys(passkey).sort()).toEqual(["backed_up", "created_at", "id", "last_used_at", "name"]);
    // The user handle is the opaque user id, never the phone.
    expect(new TextDecoder().decode(Uint8Array.from(atob(userHandle.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)))).toBe(
      tokens.user.id,
    );
    const list = await call("GET", "/v1/me/passkeys", { token: tokens.access_token });
    expect(list.status).toBe(200);
    expect(list.headers.get("Cache-Control")).toBe("no-store");
    expect(await list.json()).toEqual({ items: [passkey] });
    const next = (await (await call("POST", "/v1/me/passkeys/options", { token: tokens.access_token })).json()) as Record<string, any>;
    expect(next.excludeCredentials.map((c: { id: string }) => c.id)).toEqual([authenticator.id]);
    expect(next).toMatchObject({
      rp: { id: RP_ID },
      attestation: "none",
      authenticatorSelection: { residentKey: "required", userVerification: "preferred" },
    });
    expect(await events(tokens.user.id, "passkey_added")).toBe(1);
    const stored = await row<{ counter: number; public_key: string }>("SELECT counter, public_key FROM passkeys WHERE id = ?", passkey.id);
    expect(stored?.counter).toBe(0);
  });

  it("follows the reauthentication rule: a sign-in older than 300 s is refused", async () => {
    const tokens = await signIn();
    const authenticator = await SoftAuthenticator.create(RP_ID, ORIGIN);
    const options = await registrationOptions(tokens.access_token);
    advance(301 * SECOND);
    await expectProblem(await call("POST", "/v1/me/passkeys/options", { token: tokens.access_token }), 403, "reauthentication_required");
    const add = await call("POST", "/v1/me/passkeys", {
      token: tokens.access_token,
      body: { response: await authenticator.register(options) },
    });
    await expectProblem(add, 403, "reauthentication_required");
    expect(await row("SELECT id FROM passkeys WHERE credential_id = ?", authenticator.id)).toBeNull();
  });

  it("refuses a wrong origin, a wrong RP ID and a used or foreign challenge", async () => {
    const tokens = await signIn();
    const other = await signIn();
    const authenticator = await SoftAuthenticator.create(RP_ID, ORIGIN);
    const add = (response: unknown, token = tokens.access_token) => call("POST", "/v1/me/passkeys", { token, body: { response } });
    const options = await registrationOptions(tokens.access_token);
    await expectProblem(await add(await authenticator.register(options, { origin: "https://evil.test" })), 400, "validation_failed");
    await expectProblem(await add(await authenticator.register(options, { rpId: "evil.test" })), 400, "validation_failed");
    // Another user's challenge is not this user's.
    await expectProblem(await add(await authenticator.register(options), other.access_token), 400, "validation_failed");
    expect((await add(await authenticator.register(options))).status).toBe(201);
    const again = await SoftAuthenticator.create(RP_ID, ORIGIN);
    const replay = await expectProblem(await add(await again.register(options)), 400, "validation_failed");
    expect(replay.detail).toMatch(/challenge/);
  });

  it("renames and removes only the caller's own passkeys", async () => {
    const { tokens, passkey } = await userWithPasskey();
    const stranger = await signIn();
    const rename = (token: string, name: string) => call("PATCH", `/v1/me/passkeys/${passkey.id}`, { token, body: { name } });
    await expectProblem(await rename(stranger.access_token, "Mine now"), 404, "not_found");
    await expectProblem(await call("DELETE", `/v1/me/passkeys/${passkey.id}`, { token: stranger.access_token }), 404, "not_found");
    const renamed = await rename(tokens.access_token, "  Phone  ");
    expect(renamed.status).toBe(200);
    expect(await renamed.json()).toMatchObject({ id: passkey.id, name: "Phone" });
    expect((await call("DELETE", `/v1/me/passkeys/${passkey.id}`, { token: tokens.access_token })).status).toBe(204);
    await expectProblem(await call("DELETE", `/v1/me/passkeys/${passkey.id}`, { token: tokens.access_token }), 404, "not_found");
    expect(await events(tokens.user.id, "passkey_removed")).toBe(1);
  });
});

describe("passkey management after the session ends", () => {
  it("answers 401 on every /v1/me/passkeys route once the session is revoked", async () => {
    const { tokens, passkey } = await userWithPasskey();
    expect((await call("POST", "/v1/auth/logout", { token: tokens.access_token, body: { all: true } })).status).toBe(204);
    const token = tokens.access_token;
    await expectProblem(await call("GET", "/v1/me/passkeys", { token }), 401, "unauthorized");
    await expectProblem(await call("PATCH", `/v1/me/passkeys/${passkey.id}`, { token, body: { name: "x" } }), 401, "unauthorized");
    await expectProblem(await call("DELETE", `/v1/me/passkeys/${passkey.id}`, { token }), 401, "unauthorized");
    await expectProblem(await call("POST", "/v1/me/passkeys/options", { token }), 401, "unauthorized");
    expect((await row<{ name: string }>("SELECT name FROM passkeys WHERE id = ?", passkey.id))?.name).toBe("Test key");
  });
});

describe("passkey sign-in", () => {
  it("signs in with a discoverable credential: the usual token response, a session, auth_time now", async () => {
    const { tokens, authenticator, passkey, userHandle } = await userWithPasskey();
    const options = await signInOptions();
    expect(options).toMatchObject({ rpId: RP_ID, allowCredentials: [] });
    const before = Math.floor(Date.now() / 1000);
    const answer = await verify(await authenticator.assert(options, userHandle));
    const signed = (await answer.json()) as TokenBody;
    expect(answer.status, JSON.stringify(signed)).toBe(200);
    expect(answer.headers.get("Cache-Control")).toBe("no-store");
    expect(signed).toMatchObject({ token_type: "Bearer", is_new_user: false, user: { id: tokens.user.id } });
    expect(claimsOf(signed.access_token).auth_time).toBeGreaterThanOrEqual(before);
    expect(claimsOf(signed.access_token).sid).not.toBe(claimsOf(tokens.access_token).sid);
    expect((await call("GET", "/v1/me", { token: signed.access_token })).status).toBe(200);
    expect((await call("POST", "/v1/auth/token", { body: { refresh_token: signed.refresh_token } })).status).toBe(200);
    const stored = await row<{ counter: number; last_used_at: number }>(
      "SELECT counter, last_used_at FROM passkeys WHERE id = ?",
      passkey.id,
    );
    expect(stored?.counter).toBe(1);
    expect(stored?.last_used_at).toBeGreaterThan(0);
    expect(await events(tokens.user.id, "passkey_login")).toBe(1);
  });

  it("answers invalid_credentials for a wrong origin or RP ID, and the challenge stays usable", async () => {
    const { authenticator, userHandle } = await userWithPasskey();
    const options = await signInOptions();
    await expectProblem(
      await verify(await authenticator.assert(options, userHandle, { origin: "https://evil.test" })),
      401,
      "invalid_credentials",
    );
    await expectProblem(await verify(await authenticator.assert(options, userHandle, { rpId: "evil.test" })), 401, "invalid_credentials");
    await expectProblem(
      await verify(await authenticator.assert(options, userHandle, { type: "webauthn.create" })),
      401,
      "invalid_credentials",
    );
    await verifyOk(await authenticator.assert(options, userHandle));
  });

  it("answers invalid_credentials for a bad signature and an unknown credential", async () => {
    const { authenticator, userHandle } = await userWithPasskey();
    const options = await signInOptions();
    const assertion = await authenticator.assert(options, userHandle);
    const forged = structuredClone(assertion);
    const signature = Uint8Array.from(atob(forged.response.signature.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    signature[signature.length - 1] = (signature.at(-1) ?? 0) ^ 1;
    forged.response.signature = b64url(signature);
    await expectProblem(await verify(forged), 401, "invalid_credentials");
    const stranger = await SoftAuthenticator.create(RP_ID, ORIGIN);
    await expectProblem(await verify(await stranger.assert(options, userHandle)), 401, "invalid_credentials");
    // A user handle that is not the passkey owner's (WebAuthn §7.2 step 6).
    const otherUser = structuredClone(assertion);
    otherUser.response.userHandle = b64url(new TextEncoder().encode(crypto.randomUUID()));
    await expectProblem(await verify(otherUser), 401, "invalid_credentials");
    await verifyOk(assertion);
  });

  it("uses a challenge once: a replayed assertion answers invalid_credentials", async () => {
    const { authenticator, userHandle } = await userWithPasskey();
    const assertion = await authenticator.assert(await signInOptions(), userHandle);
    await verifyOk(assertion);
    await expectProblem(await verify(assertion), 401, "invalid_credentials");
  });

  it("gives exactly one success to parallel replays of one assertion", async () => {
    const { tokens, authenticator, userHandle } = await userWithPasskey();
    const assertion = await authenticator.assert(await signInOptions(), userHandle);
    const answers = await Promise.all(Array.from({ length: 12 }, () => verify(assertion)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, ...Array(11).fill(401)]);
    const sessions = await row<{ n: number }>("SELECT count(*) AS n FROM sessions WHERE user_id = ?", tokens.user.id);
    expect(sessions?.n).toBe(2);
  });

  it("refuses a challenge older than PASSKEY_CHALLENGE_SECONDS", async () => {
    const { authenticator, userHandle } = await userWithPasskey();
    const options = await signInOptions();
    advance(301 * SECOND);
    await expectProblem(await verify(await authenticator.assert(options, userHandle)), 401, "invalid_credentials");
  });

  it("flags a passkey whose signature counter goes backwards, and refuses it from then on", async () => {
    const { tokens, authenticator, passkey, userHandle } = await userWithPasskey();
    await verifyOk(await authenticator.assert(await signInOptions(), userHandle, { counter: 5 }));
    await expectProblem(
      await verify(await authenticator.assert(await signInOptions(), userHandle, { counter: 5 })),
      401,
      "invalid_credentials",
    );
    const flagged = await row<{ flagged_at: number | null; counter: number }>(
      "SELECT flagged_at, counter FROM passkeys WHERE id = ?",
      passkey.id,
    );
    expect(flagged?.flagged_at).toBeGreaterThan(0);
    expect(flagged?.counter).toBe(5);
    await expectProblem(
      await verify(await authenticator.assert(await signInOptions(), userHandle, { counter: 50 })),
      401,
      "invalid_credentials",
    );
    const failed = await row<{ detail: string }>(
      "SELECT detail FROM audit_events WHERE user_id = ? AND type = 'passkey_login_failed' ORDER BY created_at LIMIT 1",
      tokens.user.id,
    );
    expect(JSON.parse(failed?.detail ?? "{}")).toMatchObject({ reason: "counter_regression", passkey_id: passkey.id });
  });

  it("does not flag a passkey for a forged assertion with a low counter", async () => {
    const { authenticator, passkey, userHandle } = await userWithPasskey();
    await verifyOk(await authenticator.assert(await signInOptions(), userHandle, { counter: 9 }));
    const forger = await SoftAuthenticator.create(RP_ID, ORIGIN);
    const forged = await forger.assert(await signInOptions(), userHandle, { counter: 1 });
    forged.id = authenticator.id;
    forged.rawId = authenticator.id;
    await expectProblem(await verify(forged), 401, "invalid_credentials");
    expect((await row<{ flagged_at: number | null }>("SELECT flagged_at FROM passkeys WHERE id = ?", passkey.id))?.flagged_at).toBeNull();
    await verifyOk(await authenticator.assert(await signInOptions(), userHandle));
  });

  it("accepts authenticators without a counter (always 0)", async () => {
    const { authenticator, userHandle } = await userWithPasskey();
    await verifyOk(await authenticator.assert(await signInOptions(), userHandle, { counter: 0 }));
    await verifyOk(await authenticator.assert(await signInOptions(), userHandle, { counter: 0 }));
  });

  it("refuses a deleted passkey", async () => {
    const { tokens, authenticator, passkey, userHandle } = await userWithPasskey();
    expect((await call("DELETE", `/v1/me/passkeys/${passkey.id}`, { token: tokens.access_token })).status).toBe(204);
    await expectProblem(await verify(await authenticator.assert(await signInOptions(), userHandle)), 401, "invalid_credentials");
  });

  it("satisfies reauthentication_required like a code does", async () => {
    const { tokens, authenticator, userHandle } = await userWithPasskey();
    advance(301 * SECOND);
    await expectProblem(await call("DELETE", "/v1/me", { token: tokens.access_token }), 403, "reauthentication_required");
    const fresh = await verifyOk(await authenticator.assert(await signInOptions(), userHandle));
    expect((await call("DELETE", "/v1/me", { token: fresh.access_token })).status).toBe(204);
    // The account's passkeys went with it.
    expect(await row("SELECT id FROM passkeys WHERE credential_id = ?", authenticator.id)).toBeNull();
    await expectProblem(await verify(await authenticator.assert(await signInOptions(), userHandle)), 401, "invalid_credentials");
  });

  it("answers account_disabled for a deactivated user's passkey", async () => {
    const { tokens, authenticator, userHandle } = await userWithPasskey();
    await row("UPDATE users SET is_active = 0 WHERE id = ? RETURNING id", tokens.user.id);
    await expectProblem(await verify(await authenticator.assert(await signInOptions(), userHandle)), 403, "account_disabled");
  });
});

describe("passkey configuration", () => {
  it.each([
    ["only some of the three set", { WEBAUTHN_RP_ID: undefined }],
    ["an origin off the RP ID", { WEBAUTHN_ORIGINS: "https://auth.test,https://elsewhere.test" }],
    ["an RP ID that is not a host name", { WEBAUTHN_RP_ID: "https://auth.test" }],
    ["plain http in production", { ENVIRONMENT: "production", SMS_PROVIDER: "twilio", WEBAUTHN_ORIGINS: "http://auth.test" }],
  ])("refuses to serve with %s (503, every route; the log names the variable)", async (_name, overrides) => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await callWith(variantEnv(overrides), "GET", "/health");
    await expectProblem(response, 503, "service_unavailable");
    expect(logged.mock.calls.flat().join("\n")).toMatch(/WEBAUTHN_/);
    logged.mockRestore();
  });

  it("the retention job drops challenges a day past their expiry, and only those", async () => {
    const now = Date.now();
    const insert = (challenge: string, expiresAt: number) =>
      env.DB.prepare("INSERT INTO passkey_challenges (challenge, purpose, expires_at) VALUES (?, 'authentication', ?)")
        .bind(challenge, expiresAt)
        .run();
    const old = `old-${crypto.randomUUID()}`;
    const live = `live-${crypto.randomUUID()}`;
    await insert(old, now - 2 * 86_400 * SECOND);
    await insert(live, now + 300 * SECOND);
    await runCron(CRON.retention);
    expect(await row("SELECT challenge FROM passkey_challenges WHERE challenge = ?", old)).toBeNull();
    expect(await row("SELECT challenge FROM passkey_challenges WHERE challenge = ?", live)).not.toBeNull();
  });
});

describe("passkeys without WEBAUTHN_* configured", () => {
  it("answers 404 on every passkey route", async () => {
    const off = variantEnv({ WEBAUTHN_RP_ID: undefined, WEBAUTHN_RP_NAME: undefined, WEBAUTHN_ORIGINS: undefined });
    const tokens = await signIn();
    const routes: [string, string][] = [
      ["POST", "/v1/me/passkeys/options"],
      ["POST", "/v1/me/passkeys"],
      ["GET", "/v1/me/passkeys"],
      ["PATCH", "/v1/me/passkeys/x"],
      ["DELETE", "/v1/me/passkeys/x"],
      ["POST", "/v1/auth/passkey/options"],
      ["POST", "/v1/auth/passkey/verify"],
    ];
    for (const [method, path] of routes) {
      const body = method === "GET" ? undefined : {};
      await expectProblem(await callWith(off, method, path, { token: tokens.access_token, body }), 404, "not_found");
    }
  });
});

describe("the DER signature parser the bundle uses (src/build/webauthn-asn1.ts)", () => {
  it("reads r and s, with and without leading zeros, and refuses anything else", () => {
    for (const raw of [
      new Uint8Array(64).fill(0x7f),
      new Uint8Array(64).fill(0xff),
      Uint8Array.from({ length: 64 }, (_, i) => (i < 3 ? 0 : i)),
    ]) {
      const parsed = parseEcdsaSignature(derSignature(raw));
      const strip = (bytes: Uint8Array) => {
        let start = 0;
        while (start < bytes.length - 1 && bytes[start] === 0) start++;
        return [...bytes.subarray(start)];
      };
      expect(strip(new Uint8Array(parsed.r))).toEqual(strip(raw.subarray(0, 32)));
      expect(strip(new Uint8Array(parsed.s))).toEqual(strip(raw.subarray(32)));
    }
    const good = derSignature(new Uint8Array(64).fill(1));
    expect(() => parseEcdsaSignature(Uint8Array.of(...good, 0))).toThrow();
    expect(() => parseEcdsaSignature(good.subarray(0, good.length - 1))).toThrow();
    expect(() => parseEcdsaSignature(Uint8Array.of(0x31, ...good.subarray(1)))).toThrow();
  });
});
