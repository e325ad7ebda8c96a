import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { base64url, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { call, expectProblem, row, signIn, type TokenBody } from "./helpers";
import { type AccessPayload, claimsOf, publicJwk, signingJwk, signRawWithRealKey, signWithRealKey } from "./token-helpers";

// Every forged or wrong access token must answer 401 `unauthorized` (never 500), whatever the
// trick. The tokens are built against a live session, so only the forgery itself can fail them.

let victim: TokenBody;
let bystander: TokenBody;
let genuine: AccessPayload;

beforeAll(async () => {
  victim = await signIn();
  bystander = await signIn();
  genuine = claimsOf(victim.access_token);
});

afterEach(() => {
  vi.restoreAllMocks();
});

const json = (value: unknown) => base64url.encode(JSON.stringify(value));
const now = () => Math.floor(Date.now() / 1000);
/** Genuine claims, re-timed to now so only the named change can fail them. */
const fresh = (changes: Record<string, unknown> = {}) => {
  const claims: Record<string, unknown> = { ...genuine, iat: now(), exp: now() + 900, jti: crypto.randomUUID(), ...changes };
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete claims[name];
  return claims;
};
const genuineHeader = () => ({ alg: "ES256", typ: "at+jwt", kid: signingJwk().kid });

async function expectRefused(token: string) {
  const response = await call("GET", "/v1/me", { token });
  const problem = await expectProblem(response, 401, "unauthorized");
  expect(response.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
  expect(JSON.stringify(problem)).not.toMatch(/stack|at .*\.ts:\d+/);
}

/** Signs with HMAC-SHA-256 under `secret`, the classic RS/ES → HS algorithm confusion. */
async function signHs256(secret: Uint8Array, header: Record<string, unknown> = {}) {
  return new SignJWT(fresh()).setProtectedHeader({ ...genuineHeader(), alg: "HS256", ...header }).sign(secret);
}

async function publicKeyPem(): Promise<string> {
  const key = await crypto.subtle.importKey(
    "jwk",
    { ...publicJwk(), ext: true } as JsonWebKey,
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["verify"],
  );
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", key)) as ArrayBuffer);
  const b64 = btoa(String.fromCharCode(...spki));
  return `-----BEGIN PUBLIC KEY-----\n${b64.match(/.{1,64}/g)?.join("\n")}\n-----END PUBLIC KEY-----\n`;
}

async function attackerKeys(alg = "ES256") {
  const pair = await generateKeyPair(alg, { extractable: true });
  const publicJwkOfAttacker: JWK = { ...(await exportJWK(pair.publicKey)), kid: "attacker-key", alg, use: "sig" };
  return { privateKey: pair.privateKey, publicJwk: publicJwkOfAttacker };
}

describe("the forging harness", () => {
  it("accepts genuine claims re-signed with the real key (so every refusal below is the forgery's)", async () => {
    const token = await signWithRealKey(fresh());
    const response = await call("GET", "/v1/me", { token });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id: victim.user.id });
  });
});

describe("valid signatures over wrong claims", () => {
  const cases: [string, () => Record<string, unknown>][] = [
    ["a foreign issuer", () => fresh({ iss: "https://evil.example.com" })],
    ["no issuer", () => fresh({ iss: undefined })],
    ["a foreign audience", () => fresh({ aud: "someone-else" })],
    ["an audience list without ours", () => fresh({ aud: ["someone-else", "another"] })],
    ["no audience", () => fresh({ aud: undefined })],
    ["an expired token", () => fresh({ iat: now() - 1000, exp: now() - 100 })],
    ["no exp", () => fresh({ exp: undefined })],
    ["exp as a string", () => fresh({ exp: String(now() + 900) })],
    ["a not-yet-valid nbf", () => fresh({ nbf: now() + 600 })],
    ["no sub", () => fresh({ sub: undefined })],
    ["no sid", () => fresh({ sid: undefined })],
    ["an unknown role", () => fresh({ role: "superuser" })],
    ["no auth_time", () => fresh({ auth_time: undefined })],
  ];
  it.each(cases)("refuses %s", async (_name, claims) => {
    await expectRefused(await signWithRealKey(claims()));
  });

  it("refuses typ JWT (an ID token or other JWT is not an access token)", async () => {
    await expectRefused(await signWithRealKey(fresh(), { typ: "JWT" }));
  });

  it("refuses a token with an unknown critical header extension", async () => {
    // Control: the raw signer makes tokens the Worker accepts.
    expect((await call("GET", "/v1/me", { token: await signRawWithRealKey(genuineHeader(), fresh()) })).status).toBe(200);
    await expectRefused(await signRawWithRealKey({ ...genuineHeader(), crit: ["x-attacker"], "x-attacker": true }, fresh()));
  });

  it("refuses a token without typ", async () => {
    await expectRefused(await signWithRealKey(fresh(), { typ: undefined }));
  });
});

describe("algorithm attacks", () => {
  it.each(["none", "None", "NONE", "nOnE"])("refuses alg %s with an empty signature", async (alg) => {
    const unsigned = `${json({ ...genuineHeader(), alg })}.${json(fresh())}`;
    await expectRefused(`${unsigned}.`);
  });

  it("refuses alg none carrying the genuine token's signature", async () => {
    const signature = victim.access_token.split(".")[2];
    await expectRefused(`${json({ ...genuineHeader(), alg: "none" })}.${json(fresh())}.${signature}`);
  });

  it("refuses HS256 keyed with the public JWK's JSON", async () => {
    await expectRefused(await signHs256(new TextEncoder().encode(JSON.stringify(publicJwk()))));
  });

  it("refuses HS256 keyed with the JWKS document's key JSON", async () => {
    const served = (await (await call("GET", "/.well-known/jwks.json")).json()) as { keys: unknown[] };
    await expectRefused(await signHs256(new TextEncoder().encode(JSON.stringify(served.keys[0]))));
    await expectRefused(await signHs256(new TextEncoder().encode(JSON.stringify(served))));
  });

  it("refuses HS256 keyed with the public key's PEM", async () => {
    const pem = await publicKeyPem();
    await expectRefused(await signHs256(new TextEncoder().encode(pem)));
    await expectRefused(await signHs256(new TextEncoder().encode(pem.trim())));
  });

  it("refuses HS256 keyed with the raw public point and its coordinates", async () => {
    const { x, y } = publicJwk();
    const point = new Uint8Array([4, ...base64url.decode(x), ...base64url.decode(y)]);
    await expectRefused(await signHs256(point));
    await expectRefused(await signHs256(new TextEncoder().encode(x)));
  });

  it("refuses ES384 and RS256 tokens signed by an attacker under our kid", async () => {
    for (const alg of ["ES384", "RS256", "PS256", "EdDSA"]) {
      const attacker = await attackerKeys(alg);
      await expectRefused(await new SignJWT(fresh()).setProtectedHeader({ ...genuineHeader(), alg }).sign(attacker.privateKey));
    }
  });
});

describe("tampering", () => {
  function swapPayload(token: string, change: Record<string, unknown>) {
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload)));
    return `${header}.${json({ ...claims, ...change })}.${signature}`;
  }

  it("refuses a genuine token whose sub was changed", async () => {
    await expectRefused(swapPayload(victim.access_token, { sub: bystander.user.id, sid: claimsOf(bystander.access_token).sid }));
  });

  it("refuses a genuine token whose role was raised to admin", async () => {
    await expectRefused(swapPayload(victim.access_token, { role: "admin" }));
  });

  it("refuses a genuine token whose exp was extended", async () => {
    await expectRefused(swapPayload(victim.access_token, { exp: genuine.exp + 86_400 }));
  });

  it("refuses a stripped signature", async () => {
    const [header, payload] = victim.access_token.split(".");
    await expectRefused(`${header}.${payload}.`);
    await expectRefused(`${header}.${payload}`);
  });

  it("refuses a truncated signature", async () => {
    await expectRefused(victim.access_token.slice(0, -10));
    await expectRefused(victim.access_token.slice(0, -1));
  });

  it("refuses a signature taken from another genuine token", async () => {
    const [header, payload] = victim.access_token.split(".");
    await expectRefused(`${header}.${payload}.${bystander.access_token.split(".")[2]}`);
  });

  it("refuses garbage in every shape", async () => {
    for (const token of ["a.b.c", "not-a-jwt", "x", `${victim.access_token}.extra.parts`, "e30.e30.e30", "....."]) {
      await expectRefused(token);
    }
  });

  it("refuses a header that is not JSON and a payload that is not JSON", async () => {
    const [header, payload, signature] = victim.access_token.split(".") as [string, string, string];
    await expectRefused(`${base64url.encode("{not json")}.${payload}.${signature}`);
    await expectRefused(`${header}.${base64url.encode("[1,2")}.${signature}`);
  });

  it("refuses the genuine token under another scheme or a malformed header", async () => {
    for (const authorization of [
      `Basic ${victim.access_token}`,
      `Bearer`,
      `Bearer `,
      `Bearer  ${victim.access_token} x`,
      victim.access_token,
    ]) {
      const response = await call("GET", "/v1/me", { headers: { Authorization: authorization } });
      await expectProblem(response, 401, "unauthorized");
    }
  });
});

describe("key selection", () => {
  it("refuses an unknown kid", async () => {
    await expectRefused(await signWithRealKey(fresh(), { kid: "some-other-key" }));
  });

  it("refuses a token without kid", async () => {
    await expectRefused(await signWithRealKey(fresh(), { kid: undefined }));
  });

  it.each([
    ["a path traversal", "../../etc/passwd"],
    ["an absolute path", "/dev/null"],
    ["SQL", "' OR 1=1 --"],
    ["SQL with a quote and union", `x" UNION SELECT d FROM keys --`],
    ["a prototype name", "__proto__"],
    ["a null byte", "dev\u0000"],
    ["a URL", "https://attacker.example/key.json"],
    ["a 10 kB string", "k".repeat(10_240)],
  ])("refuses a hostile kid: %s", async (_name, kid) => {
    await expectRefused(await signWithRealKey(fresh(), { kid }));
  });

  it.each([
    ["a number", 1],
    ["an object", { $ne: null }],
    ["an array", [signingJwk().kid]],
  ])("refuses a kid that is %s", async (_name, kid) => {
    await expectRefused(await signWithRealKey(fresh(), { kid }));
  });

  it("refuses an attacker's key that claims our kid", async () => {
    const attacker = await attackerKeys();
    await expectRefused(await new SignJWT(fresh()).setProtectedHeader(genuineHeader()).sign(attacker.privateKey));
  });

  it("refuses an embedded jwk header with the attacker's key", async () => {
    const attacker = await attackerKeys();
    const withOwnKid = await new SignJWT(fresh())
      .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: "attacker-key", jwk: attacker.publicJwk })
      .sign(attacker.privateKey);
    await expectRefused(withOwnKid);
    const withOurKid = await new SignJWT(fresh())
      .setProtectedHeader({ ...genuineHeader(), jwk: { ...attacker.publicJwk, kid: signingJwk().kid } })
      .sign(attacker.privateKey);
    await expectRefused(withOurKid);
    const withoutKid = await new SignJWT(fresh())
      .setProtectedHeader({ alg: "ES256", typ: "at+jwt", jwk: attacker.publicJwk })
      .sign(attacker.privateKey);
    await expectRefused(withoutKid);
  });

  it("refuses jku, x5u and x5c headers pointing to or carrying the attacker's key, without fetching them", async () => {
    const attacker = await attackerKeys();
    const jwksUrl = "https://attacker.example/.well-known/jwks.json";
    const fetchSpy = vi
      .spyOn(globalThis, "fetch")
      .mockImplementation(async () => Response.json({ keys: [attacker.publicJwk, { ...attacker.publicJwk, kid: signingJwk().kid }] }));
    for (const header of [
      { alg: "ES256", typ: "at+jwt", kid: "attacker-key", jku: jwksUrl },
      { ...genuineHeader(), jku: jwksUrl },
      { alg: "ES256", typ: "at+jwt", kid: "attacker-key", x5u: "https://attacker.example/cert.pem" },
      { alg: "ES256", typ: "at+jwt", kid: "attacker-key", x5c: ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"] },
    ]) {
      await expectRefused(await new SignJWT(fresh()).setProtectedHeader(header).sign(attacker.privateKey));
    }
    expect(fetchSpy.mock.calls.map(([input]) => String(input instanceof Request ? input.url : input))).not.toContainEqual(
      expect.stringContaining("attacker.example"),
    );
  });
});

describe("forged tokens elsewhere", () => {
  it("cannot log every session out through POST /v1/auth/logout", async () => {
    const forged = `${json({ ...genuineHeader(), alg: "none" })}.${json(fresh())}.`;
    await expectProblem(await call("POST", "/v1/auth/logout", { token: forged, body: { all: true } }), 401, "unauthorized");
    const tampered = await signWithRealKey(fresh(), { kid: "../../etc/passwd" });
    await expectProblem(await call("POST", "/v1/auth/logout", { token: tampered, body: { all: true } }), 401, "unauthorized");
    const live = await row<{ n: number }>("SELECT count(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL", victim.user.id);
    expect(live?.n).toBe(1);
  });

  it("cannot list, revoke sessions or edit the profile", async () => {
    const forged = await signHs256(new TextEncoder().encode(JSON.stringify(publicJwk())));
    await expectProblem(await call("GET", "/v1/me/sessions", { token: forged }), 401, "unauthorized");
    await expectProblem(await call("DELETE", `/v1/me/sessions/${genuine.sid}`, { token: forged }), 401, "unauthorized");
    await expectProblem(await call("PATCH", "/v1/me", { token: forged, body: { first_name: "Mallory" } }), 401, "unauthorized");
    await expectProblem(await call("DELETE", "/v1/me", { token: forged }), 401, "unauthorized");
    expect(await row("SELECT first_name FROM users WHERE id = ?", victim.user.id)).toEqual({ first_name: null });
    expect((await call("GET", "/v1/me", { token: victim.access_token })).status).toBe(200);
  });
});

describe("key rotation", () => {
  /** A fresh ES256 private JWK for JWT_PRIVATE_KEYS. */
  async function newPrivateJwk(kid: string) {
    const pair = await generateKeyPair("ES256", { extractable: true });
    const { kty, crv, x, y, d } = await exportJWK(pair.privateKey);
    return { kty, crv, x, y, d, kid, alg: "ES256" };
  }

  function fetchWith(keys: unknown[]) {
    const variant = { ...env, JWT_PRIVATE_KEYS: JSON.stringify({ keys }) } as typeof env;
    return (path: string, token?: string) =>
      worker.fetch(
        new Request(`http://api.test${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} }),
        variant,
        createExecutionContext(),
      );
  }

  it("signs with the first key, still verifies the old one until it is removed, then refuses it", async () => {
    const current = JSON.parse(env.JWT_PRIVATE_KEYS).keys[0];
    const next = await newPrivateJwk("rotated-next");
    // Step 1: the new key is added in front; the old one stays for verification.
    const both = fetchWith([next, current]);
    const published = (await (await both("/.well-known/jwks.json")).json()) as { keys: { kid: string; d?: string }[] };
    expect(published.keys.map((key) => key.kid)).toEqual(["rotated-next", current.kid]);
    expect(published.keys.every((key) => key.d === undefined)).toBe(true);
    // A token issued before the rotation (old kid) still works.
    expect((await both("/v1/me", victim.access_token)).status).toBe(200);
    // New tokens carry the new kid.
    const refreshed = await worker.fetch(
      new Request("http://api.test/v1/auth/token", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: bystander.refresh_token }),
      }),
      { ...env, JWT_PRIVATE_KEYS: JSON.stringify({ keys: [next, current] }) } as typeof env,
      createExecutionContext(),
    );
    const rotated = (await refreshed.json()) as TokenBody;
    expect(decodeProtectedHeader(rotated.access_token).kid).toBe("rotated-next");
    // Step 2: the old key is removed; its tokens are refused, the new key's still pass.
    const onlyNext = fetchWith([next]);
    await expectProblem(await onlyNext("/v1/me", victim.access_token), 401, "unauthorized");
    expect((await onlyNext("/v1/me", rotated.access_token)).status).toBe(200);
  });
});
