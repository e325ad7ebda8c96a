// Bench-only: what the hand-written Workers (baseline-worker.ts, floor-worker.ts) share: the
// defaults of src/config.ts they use, the phone check, code and refresh-token hashing, ES256 access
// tokens (RFC 9068 `at+jwt`) with raw WebCrypto and the HMAC-signed SMS webhook call of src/sms's
// webhook provider. Keys are imported once per isolate.
import { base64url, keyedHasher, randomToken, sha256Hex } from "../../src/crypto";

// The defaults of src/config.ts (the bench runs wrangler.toml's vars, which leave these unset).
export const ACCESS_TTL = 900;
export const REFRESH_TTL = 2_592_000;
export const IDLE_SECONDS = 1_209_600;
export const OTP_LENGTH = 6;
export const OTP_TTL = 300;
export const OTP_RESEND = 60;
export const OTP_MAX_ATTEMPTS = 5;
export const INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/** E.164 without libphonenumber (the bench only sends valid numbers). */
export const validPhone = (value: unknown): value is string => typeof value === "string" && /^\+[1-9]\d{6,14}$/.test(value);

/** The code's keyed hash, as src/otp/service.ts computes it (HMAC under the `otp-code` subkey). */
export const hashCode = (pepper: string, codeId: string, code: string) => keyedHasher(pepper, "otp-code")(`${codeId}:${code}`);

/** A refresh token and its SHA-256, as src/tokens/sessions.ts makes them. */
export async function newRefresh() {
  const token = `rt_${randomToken(32)}`;
  return { token, hash: await sha256Hex(token) };
}

type Env = { JWT_PRIVATE_KEYS: string; JWT_ISSUER: string; JWT_AUDIENCE: string; SMS_WEBHOOK_URL: string; SMS_WEBHOOK_SECRET: string };
type Keys = { kid: string; sign: CryptoKey; verify: Map<string, CryptoKey> };

/** The claims the bench Workers sign and read back. */
export type Claims = { sub: string; sid: string; role: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const curve = { name: "ECDSA", namedCurve: "P-256" };
const ecdsa = { name: "ECDSA", hash: "SHA-256" };
let keys: Promise<Keys> | undefined;

function loadKeys(env: Env): Promise<Keys> {
  keys ??= (async () => {
    const set = JSON.parse(env.JWT_PRIVATE_KEYS) as { keys: (JsonWebKey & { kid: string })[] };
    const first = set.keys[0] as JsonWebKey & { kid: string };
    const verify = new Map<string, CryptoKey>();
    for (const jwk of set.keys) {
      const { d: _private, ...publicJwk } = jwk;
      verify.set(jwk.kid, await crypto.subtle.importKey("jwk", publicJwk, curve, false, ["verify"]));
    }
    return { kid: first.kid, sign: await crypto.subtle.importKey("jwk", first, curve, false, ["sign"]), verify };
  })();
  return keys;
}

const b64json = (value: unknown) => base64url(encoder.encode(JSON.stringify(value)));
const fromB64 = (text: string) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

/** A signed access token for `claims`, valid `ttl` seconds from `now` (ms). */
export async function signAccessToken(env: Env, claims: Claims & { authTimeMs: number }, now: number, ttl: number) {
  const { kid, sign } = await loadKeys(env);
  const iat = Math.floor(now / 1000);
  const head = b64json({ alg: "ES256", typ: "at+jwt", kid });
  const body = b64json({
    sid: claims.sid,
    role: claims.role,
    auth_time: Math.floor(claims.authTimeMs / 1000),
    iss: env.JWT_ISSUER,
    aud: env.JWT_AUDIENCE,
    sub: claims.sub,
    iat,
    exp: iat + ttl,
    jti: randomToken(),
  });
  const signature = await crypto.subtle.sign(ecdsa, sign, encoder.encode(`${head}.${body}`));
  return `${head}.${body}.${base64url(new Uint8Array(signature))}`;
}

/** The claims of the request's Bearer token, or null when it is missing, forged, expired or not ours. */
export async function verifyAccessToken(env: Env, request: Request, now: number): Promise<Claims | null> {
  const token = /^Bearer +(\S+)$/i.exec(request.headers.get("Authorization") ?? "")?.[1];
  if (!token || token.length > 4096) return null;
  const [head, body, signature] = token.split(".");
  if (!head || !body || !signature) return null;
  try {
    const header = JSON.parse(decoder.decode(fromB64(head))) as { alg?: string; typ?: string; kid?: string };
    const key = header.alg === "ES256" && header.typ === "at+jwt" && header.kid ? (await loadKeys(env)).verify.get(header.kid) : undefined;
    if (!key || !(await crypto.subtle.verify(ecdsa, key, fromB64(signature), encoder.encode(`${head}.${body}`)))) return null;
    const claims = JSON.parse(decoder.decode(fromB64(body))) as Claims & { iss: string; aud: string; exp: number; jti: string };
    if (claims.iss !== env.JWT_ISSUER || claims.aud !== env.JWT_AUDIENCE || !(claims.exp > now / 1000) || !claims.jti) return null;
    return claims;
  } catch {
    return null;
  }
}

let webhookKey: Promise<CryptoKey> | undefined;

/** POSTs a code to the SMS webhook provider, signed as src/sms's webhook provider signs it; true on 2xx. */
export async function postSmsWebhook(env: Env, message: { to: string; body: string; code: string; purpose: string }) {
  webhookKey ??= crypto.subtle.importKey("raw", encoder.encode(env.SMS_WEBHOOK_SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const raw = JSON.stringify(message);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = await crypto.subtle.sign("HMAC", await webhookKey, encoder.encode(`${timestamp}.${raw}`));
  const delivered = await fetch(env.SMS_WEBHOOK_URL, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-Webhook-Timestamp": timestamp,
      "X-Webhook-Signature": `sha256=${[...new Uint8Array(signature)].map((b) => b.toString(16).padStart(2, "0")).join("")}`,
    },
    body: raw,
    signal: AbortSignal.timeout(5000),
  });
  return delivered.ok;
}
