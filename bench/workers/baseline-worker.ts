// Bench-only: the bare baseline that `npm run bench` measures our Worker against. A plain fetch
// handler, no framework, no validation library, no query builder, no JWT library. Per endpoint it
// makes the same storage calls as src/ (the same SQL texts in the same D1 round trips and batches,
// in a D1 session; the same KV reads and writes; the same Rate Limiting calls) and the same
// cryptography (ES256 JWT sign/verify with raw WebCrypto, SHA-256 of refresh tokens, HMAC code
// hashes and phone keys under HKDF subkeys, the HMAC-signed SMS webhook, and for password login
// the same PBKDF2 through src/passwords/hash.ts), and answers the same JSON and headers. It skips
// what a framework and a careful API add: routing tables, Zod schemas, libphonenumber, problem
// documents for every error, OpenAPI. The endpoints suite (bench/suites/endpoints.mjs) checks that both send the same SQL.
//
// Only the happy paths the bench drives are implemented; anything else is a bare 4xx.
import { keyedHasher, randomDigits, randomToken, sha256Hex, timingSafeEqual } from "../../src/crypto";
import { hashPassword, verifyPassword } from "../../src/passwords/hash";
import { countingHandler } from "./counting";
import { type Claims, postSmsWebhook, signAccessToken, verifyAccessToken } from "./handwritten";

type Env = {
  DB: D1Database;
  KV: KVNamespace;
  ME_LIMITER: RateLimit;
  INVITE_LIMITER: RateLimit;
  JWT_PRIVATE_KEYS: string;
  PASSWORD_PEPPER: string;
  JWT_ISSUER: string;
  JWT_AUDIENCE: string;
  APP_NAME: string;
  SMS_WEBHOOK_URL: string;
  SMS_WEBHOOK_SECRET: string;
};

// The defaults of src/config.ts.
const ACCESS_TTL = 900;
const REFRESH_TTL = 2_592_000;
const IDLE_SECONDS = 1_209_600;
const OTP_LENGTH = 6;
const OTP_TTL = 300;
const OTP_MAX_ATTEMPTS = 5;
const OTP_RESEND = 60;
const LOCKOUT_FAILURES = 10;
const LOCKOUT_MS = 3_600_000;
const HOURLY = 5;
const DAILY = 10;
const PW_FAILURES = 5;
const PW_LOCK_MS = 900_000;
const PW_MAX_STREAK = 100;
const BONUS = 100;
const INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

// ---- small helpers ----

type Ctx = { env: Env; request: Request; now: number; ip: string; requestId: string; headers: Headers };

const json = (ctx: Ctx, body: unknown, status = 200) => {
  ctx.headers.set("Content-Type", "application/json");
  return new Response(JSON.stringify(body), { status, headers: ctx.headers });
};
const refuse = (ctx: Ctx, status: number, code: string) => json(ctx, { code }, status);
const phoneKey = (env: Env, phone: string) => keyedHasher(env.PASSWORD_PEPPER, "phone")(phone);
// +375 29 1234567 → +37529*****67 (the bench only uses Belarusian numbers: 3-digit country code).
const maskPhone = (phone: string) => `${phone.slice(0, 6)}${"*".repeat(phone.length - 10)}${phone.slice(-2)}`;
const iso = (ms: number | null) => (ms == null ? null : new Date(ms).toISOString());

function session(ctx: Ctx, readOnly: boolean) {
  const bookmark = ctx.request.headers.get("X-D1-Bookmark");
  const anchor =
    bookmark && /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/.test(bookmark)
      ? bookmark
      : readOnly
        ? "first-unconstrained"
        : "first-primary";
  return ctx.env.DB.withSession(anchor);
}

function bookmark(ctx: Ctx, db: D1DatabaseSession) {
  const value = db.getBookmark();
  if (value) ctx.headers.set("X-D1-Bookmark", value);
}

/** The KV fixed window of src/ratelimit/kv-window.ts, one window per call as the bench's routes use. */
async function ipWindow(
  ctx: Ctx,
  scope: string,
  limit: number,
  seconds: number,
  windows: { limit: number; seconds: number }[] = [{ limit, seconds }],
) {
  const key = `rl:${scope}:ip:${ctx.ip}`;
  const stored = await ctx.env.KV.get<{ w: { start: number; count: number }[] }>(key, "json");
  const current = windows.map((window, i) => {
    const slot = stored?.w?.[i];
    return slot && slot.start + window.seconds * 1000 > ctx.now ? { ...slot } : { start: ctx.now, count: 0 };
  });
  if (windows.some((window, i) => (current[i]?.count ?? 0) >= window.limit)) return false;
  for (const slot of current) slot.count++;
  const ttl = Math.max(
    60,
    ...windows.map((window, i) => Math.ceil(((current[i]?.start ?? ctx.now) + window.seconds * 1000 - ctx.now) / 1000)),
  );
  await ctx.env.KV.put(key, JSON.stringify({ w: current }), { expirationTtl: ttl });
  const first = windows[0] as { limit: number; seconds: number };
  const slot = current[0] as { start: number; count: number };
  ctx.headers.set("RateLimit-Limit", String(first.limit));
  ctx.headers.set("RateLimit-Remaining", String(first.limit - slot.count));
  ctx.headers.set("RateLimit-Reset", String(Math.max(1, Math.ceil((slot.start + first.seconds * 1000 - ctx.now) / 1000))));
  return true;
}

// ---- SQL: the texts src/ sends (drizzle templates with their parameters as `?`) ----

const profileColumns = `u.id, u.phone, u.first_name, u.last_name, u.email, u.invite_code,
  u.activated_invite_code, u.password_hash, u.role, u.is_active, u.points, u.referrals_count,
  u.level2_count AS level_2,
  u.created_at, u.last_login_at`;
const live = "s.revoked_at IS NULL AND s.expires_at > ? AND s.last_used_at > ?";
const caller = `u.id = ? AND u.is_active = 1 AND EXISTS (
    SELECT 1 FROM sessions s WHERE s.id = ? AND s.user_id = u.id AND ${live})`;
const callerParams = (claims: Claims, now: number) => [claims.sub, claims.sid, now, now - IDLE_SECONDS * 1000];
const ensureGuard = "INSERT INTO phone_guards (phone) VALUES (?) ON CONFLICT (phone) DO NOTHING";
const userOfPhone = "(SELECT id FROM users WHERE phone = ?)";
const signInRole = `role = CASE WHEN ? = 1 THEN 'admin' WHEN role = 'admin' AND admin_source = 'config' THEN 'user' ELSE role END,
    admin_source = CASE
      WHEN ? = 1 THEN CASE WHEN role = 'admin' AND admin_source IS NOT 'config' THEN COALESCE(admin_source, 'granted') ELSE 'config' END
      WHEN role = 'admin' AND admin_source = 'config' THEN NULL
      ELSE admin_source END`;
const openSession = `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, auth_time, user_agent, country)
      SELECT ?, u.id, ?, ?, ?, ?, ?, ?
      FROM users u WHERE u.phone = ? AND u.is_active = 1 AND (`;
const insertRefresh = `INSERT INTO refresh_tokens (token_hash, session_id, created_at)
      SELECT ?, id, ? FROM sessions WHERE id = ?`;

/** An audit insert; `userSql` is `?` (a bound id) or a subquery. */
async function auditSql(
  ctx: Ctx,
  db: D1DatabaseSession,
  input: {
    type: string;
    phone: string;
    userSql: string;
    userParams: unknown[];
    detail: string | null;
    when: string;
    whenParams: unknown[];
  },
) {
  return db
    .prepare(`INSERT INTO audit_events (id, type, user_id, phone_masked, phone_key, ip, country, request_id, detail, created_at)
    SELECT ?, ?, ${input.userSql}, ?, ?, ?, ?, ?, ?, ?
    WHERE ${input.when}`)
    .bind(
      crypto.randomUUID(),
      input.type,
      ...input.userParams,
      maskPhone(input.phone),
      await phoneKey(ctx.env, input.phone),
      ctx.ip,
      null,
      ctx.requestId,
      input.detail,
      ctx.now,
      ...input.whenParams,
    );
}

type UserRow = {
  id: string;
  phone: string;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  invite_code: string;
  activated_invite_code: string | null;
  password_hash: string | null;
  role: string;
  points: number;
  referrals_count: number;
  level_2: number;
  created_at: number;
  last_login_at: number | null;
};

const toUser = (row: UserRow) => ({
  id: row.id,
  phone: row.phone,
  first_name: row.first_name,
  last_name: row.last_name,
  email: row.email,
  invite_code: row.invite_code,
  activated_invite_code: row.activated_invite_code,
  has_password: row.password_hash != null,
  role: row.role,
  created_at: iso(row.created_at),
  last_login_at: iso(row.last_login_at),
  points: row.points,
  referrals_count: row.referrals_count,
  referral_tree: { level_1: row.referrals_count, level_2: row.level_2, total_network: row.referrals_count + row.level_2 },
});

async function tokens(
  ctx: Ctx,
  grant: { sub: string; sid: string; role: string; authTime: number; expiresAt: number },
  refresh: string,
  isNew: boolean,
  user: UserRow,
) {
  ctx.headers.set("Cache-Control", "no-store");
  return json(ctx, {
    access_token: await signAccessToken(
      ctx.env,
      { sub: grant.sub, sid: grant.sid, role: grant.role, authTimeMs: grant.authTime },
      ctx.now,
      ACCESS_TTL,
    ),
    token_type: "Bearer",
    expires_in: ACCESS_TTL,
    refresh_token: refresh,
    refresh_expires_in: Math.max(0, Math.min(Math.floor((grant.expiresAt - ctx.now) / 1000), IDLE_SECONDS)),
    is_new_user: isNew,
    user: toUser(user),
  });
}

async function newRefresh() {
  const token = `rt_${randomToken(32)}`;
  return { token, hash: await sha256Hex(token) };
}

const validPhone = (value: unknown): value is string => typeof value === "string" && /^\+[1-9]\d{6,14}$/.test(value);
const issued = "EXISTS (SELECT 1 FROM otp_challenges WHERE phone = ? AND purpose = ? AND code_id = ?)";
const consumed = "EXISTS (SELECT 1 FROM otp_challenges WHERE phone = ? AND purpose = ? AND consume_marker = ?)";

// ---- POST /v1/auth/otp ----

async function sendCode(ctx: Ctx, body: { phone?: unknown }) {
  const phone = body.phone;
  if (!validPhone(phone)) return refuse(ctx, 400, "invalid_phone");
  if (
    !(await ipWindow(ctx, "otp", 5, 60, [
      { limit: 5, seconds: 60 },
      { limit: 50, seconds: 86_400 },
    ]))
  )
    return refuse(ctx, 429, "rate_limited");
  const { now } = ctx;
  const code = randomDigits(OTP_LENGTH);
  const codeId = randomToken();
  const marker = randomToken();
  const hourAgo = now - 3_600_000;
  const dayAgo = now - 86_400_000;
  const db = session(ctx, false);
  const event = await auditSql(ctx, db, {
    type: "code_sent",
    phone,
    userSql: userOfPhone,
    userParams: [phone],
    detail: JSON.stringify({ purpose: "login", test_phone: false }),
    when: issued,
    whenParams: [phone, "login", codeId],
  });
  const results = await db.batch([
    db.prepare(ensureGuard).bind(phone),
    db
      .prepare(`UPDATE phone_guards SET
        last_sent_at = ?,
        hour_count = CASE WHEN hour_start <= ? THEN 1 ELSE hour_count + 1 END,
        hour_start = CASE WHEN hour_start <= ? THEN ? ELSE hour_start END,
        day_count = CASE WHEN day_start <= ? THEN 1 ELSE day_count + 1 END,
        day_start = CASE WHEN day_start <= ? THEN ? ELSE day_start END,
        send_marker = ?
      WHERE phone = ?
        AND (locked_until IS NULL OR locked_until <= ?)
        AND (last_sent_at IS NULL OR last_sent_at <= ?)
        AND (hour_start <= ? OR hour_count < ?)
        AND (day_start <= ? OR day_count < ?)
        AND NOT 0 AND 1`)
      .bind(now, hourAgo, hourAgo, now, dayAgo, dayAgo, now, marker, phone, now, now - OTP_RESEND * 1000, hourAgo, HOURLY, dayAgo, DAILY),
    db
      .prepare(`INSERT INTO otp_challenges (phone, purpose, code_id, user_id, attempts, expires_at)
      SELECT ?, ?, ?, ?, 0, ?
      WHERE EXISTS (SELECT 1 FROM phone_guards WHERE phone = ? AND send_marker = ?) AND 1
      ON CONFLICT (phone, purpose) DO UPDATE SET code_id = excluded.code_id, user_id = excluded.user_id,
        attempts = 0, wrong_attempts = 0, expires_at = excluded.expires_at, consumed_at = NULL, consume_marker = NULL`)
      .bind(phone, "login", codeId, null, now + OTP_TTL * 1000, phone, marker),
    db
      .prepare(`SELECT g.last_sent_at, g.hour_start, g.hour_count, g.day_start, g.day_count,
        g.fail_start, g.fail_count, g.locked_until,
        g.send_marker = ? AS accepted,
        ${issued} AS issued, 0 AS taken, NOT 1 AS budget_exhausted
      FROM phone_guards g WHERE g.phone = ?`)
      .bind(marker, phone, "login", codeId, phone),
    event,
  ]);
  const state = results[3]?.results[0] as { accepted: number; issued: number } | undefined;
  if (!state?.accepted) return refuse(ctx, 429, "resend_too_soon");
  bookmark(ctx, db);
  await ctx.env.KV.put(`otp:${codeId}`, await keyedHasher(ctx.env.PASSWORD_PEPPER, "otp-code")(`${codeId}:${code}`), {
    expirationTtl: OTP_TTL,
  });
  const delivered = await postSmsWebhook(ctx.env, { to: phone, body: `Your ${ctx.env.APP_NAME} code is ${code}`, code, purpose: "login" });
  if (!delivered) return refuse(ctx, 502, "sms_delivery_failed");
  ctx.headers.set("Cache-Control", "no-store");
  return json(ctx, { phone, purpose: "login", expires_in: OTP_TTL, resend_in: OTP_RESEND, code_length: OTP_LENGTH });
}

// ---- POST /v1/auth/otp/verify ----

async function verifyCode(ctx: Ctx, body: { phone?: unknown; code?: unknown }) {
  const { phone, code } = body;
  if (!validPhone(phone) || typeof code !== "string" || code.length !== OTP_LENGTH) return refuse(ctx, 400, "validation_failed");
  if (!(await ipWindow(ctx, "verify", 10, 60))) return refuse(ctx, 429, "rate_limited");
  const { now, env } = ctx;
  const marker = randomToken();
  const windowAgo = now - LOCKOUT_MS;
  const db = session(ctx, false);
  const first = await db.batch([
    db
      .prepare(`UPDATE phone_guards SET
      "fail_count" = CASE WHEN "fail_start" <= ? THEN 1 ELSE "fail_count" + 1 END,
      "fail_start" = CASE WHEN "fail_start" <= ? THEN ? ELSE "fail_start" END,
      "verify_marker" = ?
    WHERE phone = ?
      AND ("locked_until" IS NULL OR "locked_until" <= ?)
      AND ("fail_start" <= ? OR "fail_count" < ?)
      AND EXISTS (SELECT 1 FROM otp_challenges c WHERE c.phone = ? AND c.purpose = ?
    AND c.consumed_at IS NULL AND c.expires_at > ? AND c.attempts < ? AND 1)`)
      .bind(windowAgo, windowAgo, now, marker, phone, now, windowAgo, LOCKOUT_FAILURES, phone, "login", now, OTP_MAX_ATTEMPTS),
    db
      .prepare(`UPDATE otp_challenges SET attempts = attempts + 1
      WHERE phone = ? AND purpose = ? AND EXISTS (SELECT 1 FROM phone_guards WHERE phone = ? AND "verify_marker" = ?)`)
      .bind(phone, "login", phone, marker),
    db
      .prepare(`SELECT g.last_sent_at, "fail_start" AS budget_start, "fail_count" AS budget_count, "locked_until" AS budget_locked_until,
    "verify_marker" = ? AS reserved, c.code_id, c.attempts, c.wrong_attempts,
      c.expires_at, c.consumed_at, c.user_id
    FROM phone_guards g LEFT JOIN otp_challenges c ON c.phone = g.phone AND c.purpose = ?
    WHERE g.phone = ?`)
      .bind(marker, "login", phone),
    db.prepare("SELECT id FROM users WHERE phone = ?").bind(phone),
    db.prepare("SELECT id, is_active FROM users WHERE invite_code = ?").bind(""),
  ]);
  const attempt = first[2]?.results[0] as { reserved: number; code_id: string; budget_start: number } | undefined;
  if (!attempt?.reserved) return refuse(ctx, 400, "code_expired");
  const stored = await env.KV.get(`otp:${attempt.code_id}`);
  const hash = await keyedHasher(env.PASSWORD_PEPPER, "otp-code")(`${attempt.code_id}:${code}`);
  if (stored === null || !timingSafeEqual(stored, hash)) return refuse(ctx, 400, "invalid_code");
  const refresh = await newRefresh();
  const sessionId = crypto.randomUUID();
  const userId = crypto.randomUUID();
  let inviteCode = "";
  for (const byte of crypto.getRandomValues(new Uint8Array(6))) inviteCode += INVITE_ALPHABET[byte % INVITE_ALPHABET.length];
  const wonParams = [phone, "login", marker];
  const second = await db.batch([
    db
      .prepare(`UPDATE otp_challenges SET consumed_at = ?, consume_marker = ?
    WHERE phone = ? AND purpose = ? AND code_id = ?
      AND consumed_at IS NULL AND expires_at > ?`)
      .bind(now, marker, phone, "login", attempt.code_id, now),
    db
      .prepare(`UPDATE phone_guards SET "fail_count" = MAX("fail_count" - 1, 0)
    WHERE phone = ? AND "fail_start" = ?`)
      .bind(phone, attempt.budget_start),
    db
      .prepare(`INSERT INTO users (id, phone, invite_code, role, admin_source, created_at, last_login_at)
          SELECT ?, ?, ?, ?, ?, ?, ? WHERE ${consumed}
          ON CONFLICT (phone) DO UPDATE SET last_login_at = excluded.last_login_at, ${signInRole}
          WHERE users.is_active = 1`)
      .bind(userId, phone, inviteCode, "user", null, now, now, ...wonParams, 0, 0),
    db
      .prepare(`${openSession}${consumed})`)
      .bind(
        sessionId,
        now,
        now,
        now + REFRESH_TTL * 1000,
        now,
        ctx.request.headers.get("User-Agent")?.slice(0, 256) ?? null,
        null,
        phone,
        ...wonParams,
      ),
    db.prepare(insertRefresh).bind(refresh.hash, now, sessionId),
    await auditSql(ctx, db, {
      type: "code_verified",
      phone,
      userSql: userOfPhone,
      userParams: [phone],
      detail: JSON.stringify({ purpose: "login" }),
      when: consumed,
      whenParams: wonParams,
    }),
    db
      .prepare(`INSERT INTO counters (name, value) SELECT 'users_total', 1 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?)
          ON CONFLICT (name) DO UPDATE SET value = value + 1`)
      .bind(userId),
    db
      .prepare(`SELECT ${profileColumns}, ${consumed} AS won, u.id = ? AS is_new,
            s.id AS session_id, s.expires_at AS session_expires_at
          FROM users u LEFT JOIN sessions s ON s.id = ? AND s.user_id = u.id
          WHERE u.phone = ?`)
      .bind(...wonParams, userId, sessionId, phone),
  ]);
  bookmark(ctx, db);
  const row = second[7]?.results[0] as
    | (UserRow & { won: number; is_new: number; session_id: string; session_expires_at: number })
    | undefined;
  if (!row?.won) return refuse(ctx, 400, "code_expired");
  return tokens(
    ctx,
    { sub: row.id, sid: row.session_id, role: row.role, authTime: now, expiresAt: row.session_expires_at },
    refresh.token,
    Boolean(row.is_new),
    row,
  );
}

// ---- GET /v1/me ----

async function me(ctx: Ctx) {
  const claims = await verifyAccessToken(ctx.env, ctx.request, ctx.now);
  if (!claims) return refuse(ctx, 401, "unauthorized");
  ctx.headers.set("RateLimit-Limit", "100");
  if (!(await ctx.env.ME_LIMITER.limit({ key: claims.sub })).success) return refuse(ctx, 429, "rate_limited");
  const db = session(ctx, true);
  const row = await db
    .prepare(`SELECT ${profileColumns} FROM users u WHERE ${caller}`)
    .bind(...callerParams(claims, ctx.now))
    .first<UserRow>();
  bookmark(ctx, db);
  return row ? json(ctx, toUser(row)) : refuse(ctx, 401, "unauthorized");
}

// ---- POST /v1/auth/token ----

async function refreshToken(ctx: Ctx, body: { refresh_token?: unknown }) {
  if (typeof body.refresh_token !== "string" || body.refresh_token.length > 512) return refuse(ctx, 400, "validation_failed");
  const { now } = ctx;
  const oldHash = await sha256Hex(body.refresh_token);
  const next = await newRefresh();
  const db = session(ctx, false);
  const results = await db.batch([
    db
      .prepare(`UPDATE refresh_tokens SET rotated_at = ?, replaced_by = ?
      WHERE token_hash = ? AND rotated_at IS NULL AND session_id IN (
        SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE u.is_active = 1 AND ${live})`)
      .bind(now, next.hash, oldHash, now, now - IDLE_SECONDS * 1000),
    db
      .prepare(`INSERT INTO refresh_tokens (token_hash, session_id, created_at)
      SELECT ?, session_id, ? FROM refresh_tokens WHERE token_hash = ? AND replaced_by = ?`)
      .bind(next.hash, now, oldHash, next.hash),
    db
      .prepare(`UPDATE sessions SET last_used_at = ?
      WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = ?)`)
      .bind(now, next.hash),
    db
      .prepare(`SELECT s.id, s.user_id, u.role, s.auth_time, s.expires_at FROM refresh_tokens t
        JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id WHERE t.token_hash = ?`)
      .bind(next.hash),
    db
      .prepare(`SELECT t.session_id, t.rotated_at, s.user_id, u.phone FROM refresh_tokens t
      LEFT JOIN sessions s ON s.id = t.session_id LEFT JOIN users u ON u.id = s.user_id WHERE t.token_hash = ?`)
      .bind(oldHash),
    db
      .prepare(`SELECT ${profileColumns} FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
      JOIN users u ON u.id = s.user_id WHERE t.token_hash = ?`)
      .bind(next.hash),
  ]);
  bookmark(ctx, db);
  const won = results[3]?.results[0] as { id: string; user_id: string; role: string; auth_time: number; expires_at: number } | undefined;
  const profile = results[5]?.results[0] as UserRow | undefined;
  if (!won || !profile) return refuse(ctx, 401, "invalid_token");
  return tokens(
    ctx,
    { sub: won.user_id, sid: won.id, role: won.role, authTime: won.auth_time, expiresAt: won.expires_at },
    next.token,
    false,
    profile,
  );
}

// ---- POST /v1/me/invite ----

const cycle = (inviter: string) => `EXISTS (WITH RECURSIVE chain(id, depth) AS (
      SELECT ${inviter}, 0
      UNION ALL
      SELECT u.invited_by, chain.depth + 1 FROM users u JOIN chain ON u.id = chain.id
      WHERE u.invited_by IS NOT NULL AND chain.depth < 100000)
    SELECT 1 FROM chain WHERE id = ?)`;

async function activateInvite(ctx: Ctx, body: { invite_code?: unknown }) {
  const claims = await verifyAccessToken(ctx.env, ctx.request, ctx.now);
  if (!claims) return refuse(ctx, 401, "unauthorized");
  ctx.headers.set("RateLimit-Limit", "100");
  if (!(await ctx.env.ME_LIMITER.limit({ key: claims.sub })).success) return refuse(ctx, 429, "rate_limited");
  ctx.headers.set("RateLimit-Limit", "20");
  if (!(await ctx.env.INVITE_LIMITER.limit({ key: claims.sub })).success) return refuse(ctx, 429, "rate_limited");
  if (typeof body.invite_code !== "string") return refuse(ctx, 400, "validation_failed");
  const code = body.invite_code.trim().toUpperCase();
  const { now, env } = ctx;
  const guard = callerParams(claims, now);
  const db = session(ctx, false);
  const [callers, inviters] = await db.batch([
    db
      .prepare(`SELECT u.id, u.invite_code, u.activated_invite_code, u.phone FROM users u WHERE u.id = ? AND ${caller}`)
      .bind(claims.sub, ...guard),
    db
      .prepare(`SELECT i.id, i.is_active, i.phone, i.created_at,
          ${cycle("(SELECT id FROM users WHERE invite_code = ?)")} AS cycle
        FROM users i WHERE i.invite_code = ?`)
      .bind(code, claims.sub, code),
  ]);
  const me = callers?.results[0] as { id: string; phone: string; activated_invite_code: string | null } | undefined;
  const inviter = inviters?.results[0] as { id: string; is_active: number; phone: string; created_at: number; cycle: number } | undefined;
  if (!me) return refuse(ctx, 401, "unauthorized");
  if (me.activated_invite_code) return refuse(ctx, 409, "invite_already_activated");
  if (!inviter) return refuse(ctx, 404, "invite_not_found");
  if (!inviter.is_active || inviter.cycle) return refuse(ctx, 409, "invite_inactive");
  const marker = randomToken();
  const referralId = crypto.randomUUID();
  const won = "EXISTS (SELECT 1 FROM users WHERE id = ? AND invite_marker = ?)";
  const fresh = "EXISTS (SELECT 1 FROM referrals WHERE id = ? AND created_marker = ?)";
  const results = await db.batch([
    db
      .prepare(`UPDATE users AS u SET activated_invite_code = ?, invited_by = ?, invite_marker = ?
      WHERE u.id = ? AND u.activated_invite_code IS NULL AND ${caller} AND ? <> ?
        AND EXISTS (SELECT 1 FROM users i WHERE i.id = ? AND i.is_active = 1)
        AND NOT ${cycle("?")}`)
      .bind(code, inviter.id, marker, me.id, ...guard, inviter.id, me.id, inviter.id, inviter.id, me.id),
    db
      .prepare(`INSERT INTO referrals (id, inviter_id, invitee_id, phone_key, bonus_points, created_at, created_marker)
      SELECT ?, ?, ?, ?, ?, ?, ? WHERE ${won}
      ON CONFLICT (inviter_id, phone_key) DO UPDATE SET invitee_id = excluded.invitee_id`)
      .bind(referralId, inviter.id, me.id, await phoneKey(env, me.phone), BONUS, now, marker, me.id, marker),
    db
      .prepare(`UPDATE users SET referrals_count = referrals_count + 1, points = points + ?
      WHERE id = ? AND ${fresh}`)
      .bind(BONUS, inviter.id, referralId, marker),
    db
      .prepare(`UPDATE users SET level2_count = level2_count + 1
      WHERE id = (SELECT invited_by FROM users WHERE id = ?) AND ${fresh}`)
      .bind(inviter.id, referralId, marker),
    db
      .prepare(`UPDATE users SET level2_count = level2_count + (SELECT referrals_count FROM users WHERE id = ?)
      WHERE id = ? AND ${won}`)
      .bind(me.id, inviter.id, me.id, marker),
    await auditSql(ctx, db, {
      type: "invite_activated",
      phone: me.phone,
      userSql: "?",
      userParams: [me.id],
      detail: JSON.stringify({ inviter_id: inviter.id }),
      when: won,
      whenParams: [me.id, marker],
    }),
    db
      .prepare(`SELECT ${won} AS won,
        ${fresh} AS fresh`)
      .bind(me.id, marker, referralId, marker),
  ]);
  bookmark(ctx, db);
  const outcome = results[6]?.results[0] as { won: number; fresh: number } | undefined;
  if (!outcome?.won) return refuse(ctx, 409, "invite_already_activated");
  return json(ctx, {
    activated_invite_code: code,
    inviter: { phone: maskPhone(inviter.phone), joined_at: iso(inviter.created_at) },
    referral_bonus: { points: outcome.fresh ? BONUS : 0, level: 1 },
  });
}

// ---- POST /v1/auth/password/login ----

const pwReserve = `UPDATE phone_guards SET
      "pw_fail_count" = CASE WHEN "pw_fail_start" <= ? THEN 1 ELSE "pw_fail_count" + 1 END,
      "pw_fail_start" = CASE WHEN "pw_fail_start" <= ? THEN ? ELSE "pw_fail_start" END,
      "pw_marker" = ?
    WHERE phone = ?
      AND ("pw_locked_until" IS NULL OR "pw_locked_until" <= ?)
      AND ("pw_fail_start" <= ? OR "pw_fail_count" < ?)
      AND pw_fail_streak < ?`;

async function passwordLogin(ctx: Ctx, body: { phone?: unknown; password?: unknown }) {
  const { phone, password } = body;
  if (!validPhone(phone) || typeof password !== "string") return refuse(ctx, 400, "validation_failed");
  if (!(await ipWindow(ctx, "password", 10, 60))) return refuse(ctx, 429, "too_many_attempts");
  const { now, env } = ctx;
  const marker = randomToken();
  const windowAgo = now - PW_LOCK_MS;
  const db = session(ctx, false);
  const first = await db.batch([
    db.prepare(ensureGuard).bind(phone),
    db.prepare(pwReserve).bind(windowAgo, windowAgo, now, marker, phone, now, windowAgo, PW_FAILURES, PW_MAX_STREAK),
    db
      .prepare(`SELECT "pw_fail_start" AS budget_start, "pw_fail_count" AS budget_count, "pw_locked_until" AS budget_locked_until,
    "pw_marker" = ? AS reserved, pw_fail_streak AS streak FROM phone_guards WHERE phone = ?`)
      .bind(marker, phone),
    db.prepare("SELECT (SELECT password_hash FROM users WHERE phone = ?) AS hash").bind(phone),
  ]);
  const state = first[2]?.results[0] as { reserved: number; budget_start: number } | undefined;
  if (!state?.reserved) return refuse(ctx, 429, "too_many_attempts");
  const stored = (first[3]?.results[0] as { hash: string | null } | undefined)?.hash ?? null;
  if (!(await verifyPassword(env.PASSWORD_PEPPER, password, stored))) return refuse(ctx, 401, "invalid_credentials");
  const refresh = await newRefresh();
  const sessionId = crypto.randomUUID();
  const results = await db.batch([
    db
      .prepare(`UPDATE phone_guards SET "pw_fail_count" = MAX("pw_fail_count" - 1, 0)
    WHERE phone = ? AND "pw_fail_start" = ?`)
      .bind(phone, state.budget_start),
    db.prepare("UPDATE phone_guards SET pw_fail_streak = 0 WHERE phone = ?").bind(phone),
    db.prepare(`UPDATE users SET last_login_at = ?, ${signInRole} WHERE phone = ? AND is_active = 1`).bind(now, 0, 0, phone),
    db
      .prepare(`${openSession}1)`)
      .bind(sessionId, now, now, now + REFRESH_TTL * 1000, now, ctx.request.headers.get("User-Agent")?.slice(0, 256) ?? null, null, phone),
    db.prepare(insertRefresh).bind(refresh.hash, now, sessionId),
    await auditSql(ctx, db, {
      type: "password_login",
      phone,
      userSql: userOfPhone,
      userParams: [phone],
      detail: null,
      when: "EXISTS (SELECT 1 FROM sessions WHERE id = ?)",
      whenParams: [sessionId],
    }),
    db
      .prepare(`SELECT ${profileColumns}, s.id AS session_id, s.expires_at AS session_expires_at, s.auth_time AS session_auth_time
      FROM users u LEFT JOIN sessions s ON s.id = ? AND s.user_id = u.id WHERE u.phone = ?`)
      .bind(sessionId, phone),
  ]);
  bookmark(ctx, db);
  const row = results.at(-1)?.results[0] as
    | (UserRow & { session_id: string | null; session_expires_at: number; session_auth_time: number })
    | undefined;
  if (!row?.session_id) return refuse(ctx, 403, "account_disabled");
  return tokens(
    ctx,
    { sub: row.id, sid: row.session_id, role: row.role, authTime: row.session_auth_time, expiresAt: row.session_expires_at },
    refresh.token,
    false,
    row,
  );
}

// ---- PUT /v1/me/password (bench setup only, not measured: gives the login users a password) ----

async function setPassword(ctx: Ctx, body: { new_password?: unknown }) {
  const claims = await verifyAccessToken(ctx.env, ctx.request, ctx.now);
  if (!claims || typeof body.new_password !== "string") return refuse(ctx, 401, "unauthorized");
  const hash = await hashPassword(ctx.env.PASSWORD_PEPPER, body.new_password);
  const db = session(ctx, false);
  await db
    .prepare(`UPDATE users AS u SET password_hash = ? WHERE ${caller}`)
    .bind(hash, ...callerParams(claims, ctx.now))
    .run();
  return new Response(null, { status: 204, headers: ctx.headers });
}

// ---- the handler ----

const routes: Record<string, (ctx: Ctx, body: Record<string, unknown>) => Promise<Response>> = {
  "POST /v1/auth/otp": sendCode,
  "POST /v1/auth/otp/verify": verifyCode,
  "GET /v1/me": (ctx) => me(ctx),
  "POST /v1/auth/token": refreshToken,
  "POST /v1/me/invite": activateInvite,
  "POST /v1/auth/password/login": passwordLogin,
  "PUT /v1/me/password": setPassword,
};

async function baseline(request: Request, env: Env): Promise<Response> {
  const requestId = crypto.randomUUID();
  const headers = new Headers({
    "X-Request-Id": requestId,
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Referrer-Policy": "no-referrer",
  });
  const ctx: Ctx = { env, request, now: Date.now(), ip: request.headers.get("CF-Connecting-IP") ?? "unknown", requestId, headers };
  const route = routes[`${request.method} ${new URL(request.url).pathname}`];
  if (!route) return refuse(ctx, 404, "not_found");
  let body: Record<string, unknown> = {};
  if (request.method !== "GET") {
    try {
      body = (await request.json()) as Record<string, unknown>;
    } catch {
      return refuse(ctx, 400, "malformed_request");
    }
  }
  return route(ctx, body);
}

export default countingHandler((request, env) => baseline(request, env));
