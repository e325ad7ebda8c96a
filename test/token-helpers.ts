import { env, exports } from "cloudflare:workers";
import { base64url, decodeJwt, decodeProtectedHeader, importJWK, type JWK, SignJWT } from "jose";
import { expect, vi } from "vitest";
import { call, freshIp, freshPhone, sendCode, type TokenBody } from "./helpers";

/** The claims the contract puts in an access token. */
export type AccessPayload = {
  iss: string;
  aud: string | string[];
  sub: string;
  iat: number;
  exp: number;
  jti: string;
  sid: string;
  role: string;
  auth_time: number;
  [claim: string]: unknown;
};

export const claimsOf = (token: string) => decodeJwt(token) as AccessPayload;
export const headerOf = (token: string) => decodeProtectedHeader(token);

type PrivateJwk = JWK & { kid: string; d: string; x: string; y: string };

/** The Worker's own signing key (the first of JWT_PRIVATE_KEYS), as the test config generated it. */
export function signingJwk(): PrivateJwk {
  const set = JSON.parse((env as unknown as { JWT_PRIVATE_KEYS: string }).JWT_PRIVATE_KEYS) as { keys: PrivateJwk[] };
  const first = set.keys[0];
  if (!first) throw new Error("JWT_PRIVATE_KEYS holds no key");
  return first;
}

/** The public half of the signing key, as the JWKS publishes it. */
export function publicJwk(): JWK & { kid: string; x: string; y: string } {
  const { kty, crv, x, y, kid } = signingJwk();
  return { kty, crv, x, y, kid };
}

let realKey: Promise<CryptoKey> | undefined;

/**
 * Signs `payload` with the Worker's real private key: a token only the claims or the header
 * make wrong. `header` overrides the genuine `{ alg: ES256, typ: at+jwt, kid }`; `undefined`
 * values drop a member.
 */
export async function signWithRealKey(payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const jwk = signingJwk();
  realKey ??= importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d }, "ES256") as Promise<CryptoKey>;
  const protectedHeader = { alg: "ES256", typ: "at+jwt", kid: jwk.kid, ...header } as { alg: string };
  return new SignJWT(payload).setProtectedHeader(protectedHeader).sign(await realKey);
}

/**
 * Signs any header with the real key through WebCrypto directly (ES256 = raw r||s), for headers
 * jose itself refuses to produce, such as an unknown `crit` extension.
 */
export async function signRawWithRealKey(header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> {
  const jwk = signingJwk();
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, d: jwk.d },
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}`;
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, new TextEncoder().encode(input));
  return `${input}.${base64url.encode(new Uint8Array(signature))}`;
}

/** POST /v1/auth/token with a refresh token. */
export function refresh(refreshToken: string, headers: Record<string, string> = {}): Promise<Response> {
  return call("POST", "/v1/auth/token", { body: { refresh_token: refreshToken }, headers });
}

/** Refreshes and expects success; returns the new token pair. */
export async function refreshOk(refreshToken: string): Promise<TokenBody> {
  const response = await refresh(refreshToken);
  const body = (await response.json()) as TokenBody;
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body;
}

/**
 * Signs in with a chosen User-Agent and (workerd's `request.cf`) country, so the session row
 * records them. Returns the raw response too, for header assertions.
 */
export async function signInAs(
  phone = freshPhone(),
  client: { userAgent?: string; country?: string } = {},
): Promise<{ body: TokenBody; response: Response }> {
  const code = await sendCode(phone);
  const headers: Record<string, string> = { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() };
  if (client.userAgent) headers["User-Agent"] = client.userAgent;
  const init = {
    method: "POST",
    headers,
    body: JSON.stringify({ phone, code }),
    cf: client.country ? { country: client.country } : undefined,
  };
  const response = await exports.default.fetch(new Request("http://api.test/v1/auth/otp/verify", init as RequestInit));
  const body = (await response.clone().json()) as TokenBody;
  expect(response.status, JSON.stringify(body)).toBe(200);
  return { body, response };
}

/** Moves the clock the Worker reads (Date.now) forward; the test's afterEach restores real time. */
export function advance(ms: number): void {
  if (!vi.isFakeTimers()) vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + ms);
}

export async function sha256Hex(value: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export const SECOND = 1000;
export const DAY = 86_400 * SECOND;
