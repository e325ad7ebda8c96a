import { type CryptoKey, importJWK, type JWK, type JWTPayload, jwtVerify, SignJWT } from "jose";
import type { Config } from "../config";
import { randomToken } from "../crypto";

export type Role = "user" | "admin";

/** The claims of an access token (RFC 9068 profile; `typ: at+jwt`). */
export type AccessClaims = {
  sub: string;
  sid: string;
  role: Role;
  /** Seconds since the epoch. */
  auth_time: number;
  jti: string;
  iat: number;
  exp: number;
};

type KeySet = {
  signing: { kid: string; key: CryptoKey };
  verifying: Map<string, CryptoKey>;
  jwks: { keys: JWK[] };
};

const keySets = new WeakMap<Config, Promise<KeySet>>();

/** Imports the signing keys once per isolate: the first key signs, every key verifies. */
function keySet(config: Config): Promise<KeySet> {
  let pending = keySets.get(config);
  if (!pending) {
    pending = importKeySet(config);
    keySets.set(config, pending);
  }
  return pending;
}

async function importKeySet(config: Config): Promise<KeySet> {
  const verifying = new Map<string, CryptoKey>();
  const publicKeys: JWK[] = [];
  let signing: KeySet["signing"] | undefined;
  for (const jwk of config.JWT_PRIVATE_KEYS.keys) {
    const { d: _private, ...rest } = jwk;
    const publicJwk: JWK = { kty: rest.kty, crv: rest.crv, x: rest.x, y: rest.y, kid: rest.kid, alg: "ES256", use: "sig" };
    verifying.set(jwk.kid, (await importJWK(publicJwk, "ES256")) as CryptoKey);
    publicKeys.push(publicJwk);
    signing ??= { kid: jwk.kid, key: (await importJWK({ ...publicJwk, d: jwk.d }, "ES256")) as CryptoKey };
  }
  if (!signing) throw new Error("JWT_PRIVATE_KEYS holds no key");
  return { signing, verifying, jwks: { keys: publicKeys } };
}

/** The public JWK Set served at `/.well-known/jwks.json`. */
export async function publicJwks(config: Config): Promise<{ keys: JWK[] }> {
  return (await keySet(config)).jwks;
}

/**
 * Signs an access token. `audience` and `ttlSeconds` default to the API's; the compatibility
 * APIs sign their long-lived tokens for an audience of their own, so /v1 never accepts them.
 */
export async function signAccessToken(
  config: Config,
  claims: { sub: string; sid: string; role: Role; authTimeMs: number },
  nowMs: number,
  options: { audience?: string; ttlSeconds?: number } = {},
): Promise<string> {
  const { signing } = await keySet(config);
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({ sid: claims.sid, role: claims.role, auth_time: Math.floor(claims.authTimeMs / 1000) })
    .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: signing.kid })
    .setIssuer(config.JWT_ISSUER)
    .setAudience(options.audience ?? config.JWT_AUDIENCE)
    .setSubject(claims.sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.ttlSeconds ?? config.ACCESS_TOKEN_TTL_SECONDS))
    .setJti(randomToken())
    .sign(signing.key);
}

// A compact ES256 JWT with our claims is ~600 characters; anything far larger is hostile.
const MAX_TOKEN_LENGTH = 4096;

/**
 * Verifies an access token statelessly: ES256 only (so `alg: none` and HS256-with-the-public-key
 * fail), our `iss`, `aud` and `typ`, `exp` required, and the key chosen only by `kid` among our
 * own keys — embedded `jwk`/`jku`/`x5u` headers are never consulted. Any failure is `null`.
 */
export async function verifyAccessToken(config: Config, token: string, audience = config.JWT_AUDIENCE): Promise<AccessClaims | null> {
  if (token.length > MAX_TOKEN_LENGTH) return null;
  const { verifying } = await keySet(config);
  try {
    const { payload } = await jwtVerify(
      token,
      (header) => {
        const key = typeof header.kid === "string" ? verifying.get(header.kid) : undefined;
        if (!key) throw new Error("unknown kid");
        return key;
      },
      {
        algorithms: ["ES256"],
        issuer: config.JWT_ISSUER,
        audience,
        typ: "at+jwt",
        requiredClaims: ["exp", "iat", "sub", "jti"],
      },
    );
    return asAccessClaims(payload);
  } catch {
    return null;
  }
}

function asAccessClaims(payload: JWTPayload): AccessClaims | null {
  const { sub, sid, role, auth_time, jti, iat, exp } = payload as Record<string, unknown>;
  if (typeof sub !== "string" || typeof sid !== "string" || typeof jti !== "string") return null;
  if (role !== "user" && role !== "admin") return null;
  if (typeof auth_time !== "number" || typeof iat !== "number" || typeof exp !== "number") return null;
  return { sub, sid, role, auth_time, jti, iat, exp };
}
