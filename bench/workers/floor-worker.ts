// Bench-only: the floor that `npm run bench` measures our sign-in flow against (issue #15). A
// hand-written fetch handler that makes only the storage calls the contract cannot do without, on
// the same D1 schema (migrations/) and KV:
//   POST /v1/auth/otp         1 KV read (the edge copy of a filled IP window), 1 D1 write (the
//                             challenge), 1 KV write (the code's keyed hash, TTL), then the SMS webhook
//   POST /v1/auth/otp/verify  1 KV read (the code hash), 1 atomic D1 update (count the guess,
//                             consume on a right code), 1 D1 batch (user, session, refresh token, row)
//   GET /v1/me                1 D1 read (user and live session)
// It signs and verifies ES256 tokens and hashes codes and refresh tokens like the baseline; there is
// no framework, validation library, audit trail, rate limit or lockout. Only the happy paths the
// bench drives are implemented; anything else is a bare 4xx.
import { randomDigits, randomFromAlphabet, randomToken, timingSafeEqual } from "../../src/crypto";
import { countingHandler } from "./counting";
import {
  ACCESS_TTL,
  hashCode,
  IDLE_SECONDS,
  INVITE_ALPHABET,
  newRefresh,
  OTP_LENGTH,
  OTP_MAX_ATTEMPTS,
  OTP_RESEND,
  OTP_TTL,
  postSmsWebhook,
  REFRESH_TTL,
  signAccessToken,
  validPhone,
  verifyAccessToken,
} from "./handwritten";

type Env = {
  DB: D1Database;
  KV: KVNamespace;
  APP_NAME: string;
  PASSWORD_PEPPER: string;
  JWT_PRIVATE_KEYS: string;
  JWT_ISSUER: string;
  JWT_AUDIENCE: string;
  SMS_WEBHOOK_URL: string;
  SMS_WEBHOOK_SECRET: string;
};

const answer = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", "Cache-Control": "no-store" } });
const refuse = (status: number, code: string) => answer({ code }, status);
const codeKey = (phone: string) => `otp:login:${phone}`;
const codeHash = (env: Env, codeId: string, code: string) => hashCode(env.PASSWORD_PEPPER, codeId, code);

async function sendCode(env: Env, ip: string, body: { phone?: unknown }, now: number) {
  const phone = body.phone;
  if (!validPhone(phone)) return refuse(400, "invalid_phone");
  if ((await env.KV.get(`edge:otp:ip:${ip}`)) !== null) return refuse(429, "rate_limited");
  const code = randomDigits(OTP_LENGTH);
  const codeId = randomToken();
  await env.DB.prepare(
    `INSERT INTO otp_challenges (phone, purpose, code_id, attempts, expires_at) VALUES (?, 'login', ?, 0, ?)
     ON CONFLICT (phone, purpose) DO UPDATE SET code_id = excluded.code_id, attempts = 0,
       expires_at = excluded.expires_at, consumed_at = NULL, consume_marker = NULL`,
  )
    .bind(phone, codeId, now + OTP_TTL * 1000)
    .run();
  await env.KV.put(codeKey(phone), `${codeId}:${await codeHash(env, codeId, code)}`, { expirationTtl: OTP_TTL });
  if (!(await postSmsWebhook(env, { to: phone, body: `Your ${env.APP_NAME} code is ${code}`, code, purpose: "login" })))
    return refuse(502, "sms_delivery_failed");
  return answer({ phone, purpose: "login", channel: "sms", expires_in: OTP_TTL, resend_in: OTP_RESEND, code_length: OTP_LENGTH });
}

type UserRow = { id: string; phone: string; role: string; invite_code: string; created_at: number; is_new: number };

async function verifyCode(env: Env, request: Request, body: { phone?: unknown; code?: unknown }, now: number) {
  const { phone, code } = body;
  if (!validPhone(phone) || typeof code !== "string") return refuse(400, "validation_failed");
  const stored = await env.KV.get(codeKey(phone));
  const [codeId = "", hash = ""] = stored?.split(":") ?? [];
  const right = stored !== null && timingSafeEqual(hash, await codeHash(env, codeId, code));
  // The guess counts only against a live code; a right one consumes it in the same statement.
  const gate = await env.DB.prepare(
    `UPDATE otp_challenges SET attempts = attempts + 1, consumed_at = CASE WHEN ?1 THEN ?2 END
     WHERE phone = ?3 AND purpose = 'login' AND code_id = ?4 AND consumed_at IS NULL AND expires_at > ?2 AND attempts < ?5
     RETURNING consumed_at`,
  )
    .bind(right ? 1 : 0, now, phone, codeId, OTP_MAX_ATTEMPTS)
    .first<{ consumed_at: number | null }>();
  if (!gate) return refuse(400, "code_expired");
  if (!right) return refuse(400, "invalid_code");
  const sessionId = crypto.randomUUID();
  const refresh = await newRefresh();
  const results = await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO users (id, phone, invite_code, created_at, last_login_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (phone) DO UPDATE SET last_login_at = excluded.last_login_at`,
    ).bind(crypto.randomUUID(), phone, randomFromAlphabet(INVITE_ALPHABET, 8), now, now),
    env.DB.prepare(
      `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, auth_time, user_agent)
       SELECT ?, id, ?, ?, ?, ?, ? FROM users WHERE phone = ?`,
    ).bind(sessionId, now, now, now + REFRESH_TTL * 1000, now, request.headers.get("User-Agent")?.slice(0, 256) ?? null, phone),
    env.DB.prepare("INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)").bind(refresh.hash, sessionId, now),
    env.DB.prepare("SELECT id, phone, role, invite_code, created_at, created_at = ? AS is_new FROM users WHERE phone = ?").bind(now, phone),
  ]);
  const user = results[3]?.results[0] as UserRow | undefined;
  if (!user) return refuse(403, "account_disabled");
  return answer({
    access_token: await signAccessToken(env, { sub: user.id, sid: sessionId, role: user.role, authTimeMs: now }, now, ACCESS_TTL),
    token_type: "Bearer",
    expires_in: ACCESS_TTL,
    refresh_token: refresh.token,
    refresh_expires_in: REFRESH_TTL,
    is_new_user: Boolean(user.is_new),
    user: { id: user.id, phone: user.phone, role: user.role, invite_code: user.invite_code },
  });
}

async function me(env: Env, request: Request, now: number) {
  const claims = await verifyAccessToken(env, request, now);
  if (!claims) return refuse(401, "unauthorized");
  const user = await env.DB.prepare(
    `SELECT u.id, u.phone, u.role, u.invite_code, u.points, u.referrals_count, u.created_at FROM users u
     JOIN sessions s ON s.id = ? AND s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > ? AND s.last_used_at > ?
     WHERE u.id = ? AND u.is_active = 1`,
  )
    .bind(claims.sid, now, now - IDLE_SECONDS * 1000, claims.sub)
    .first();
  return user ? answer(user) : refuse(401, "unauthorized");
}

async function floor(request: Request, env: Env): Promise<Response> {
  const now = Date.now();
  const route = `${request.method} ${new URL(request.url).pathname}`;
  if (route === "GET /v1/me") return me(env, request, now);
  const body = (await request.json().catch(() => ({}))) as Record<string, unknown>;
  if (route === "POST /v1/auth/otp") return sendCode(env, request.headers.get("CF-Connecting-IP") ?? "unknown", body, now);
  if (route === "POST /v1/auth/otp/verify") return verifyCode(env, request, body, now);
  return refuse(404, "not_found");
}

export default countingHandler((request, env) => floor(request, env));
