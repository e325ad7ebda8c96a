import { eventSql } from "../audit/events";
import type { Config } from "../config";
import { randomToken, sha256Hex } from "../crypto";
import { all, batch } from "../db/client";
import { sql } from "../db/sql";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import { type ProfileRow, profileColumns } from "../users/profile";
import { webhookSql } from "../webhooks/outbox";
import type { Role } from "./jwt";

/** Where a sign-in came from, kept on the session for the owner's session list. */
export type ClientInfo = { userAgent: string | null; country: string | null };

/** SQL condition: session `s` (aliased table) is live at `now`. */
export function liveSessionSql(config: Config, now: number) {
  const idleSince = now - config.SESSION_IDLE_SECONDS * 1000;
  return sql`s.revoked_at IS NULL AND s.expires_at > ${now} AND s.last_used_at > ${idleSince}`;
}

/**
 * A refresh token: 256 random bits, with a prefix so it can never be mistaken for a JWT.
 * Only its SHA-256 is stored (a high-entropy secret needs no slow or keyed hash).
 */
export async function newRefreshToken(): Promise<{ token: string; hash: string }> {
  const token = `rt_${randomToken(32)}`;
  return { token, hash: await sha256Hex(token) };
}

/**
 * Statements that open a session for the user with `phone`, only if that user is active and
 * `guard` (an SQL condition evaluated in the same batch) holds. Returns the new session's id.
 */
export function openSessionStatements(
  config: Config,
  input: { sessionId: string; phone: string; refreshHash: string; now: number; client: ClientInfo; guard: ReturnType<typeof sql> },
) {
  const { sessionId, phone, refreshHash, now, client, guard } = input;
  const expiresAt = now + config.REFRESH_TOKEN_TTL_SECONDS * 1000;
  return [
    sql`INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, auth_time, user_agent, country)
      SELECT ${sessionId}, u.id, ${now}, ${now}, ${expiresAt}, ${now}, ${client.userAgent}, ${client.country}
      FROM users u WHERE u.phone = ${phone} AND u.is_active = 1 AND (${guard})`,
    sql`INSERT INTO refresh_tokens (token_hash, session_id, created_at)
      SELECT ${refreshHash}, id, ${now} FROM sessions WHERE id = ${sessionId}`,
  ] as const;
}

/** SQL condition: the session `sessionId` was opened (earlier in the same batch). */
export function sessionOpenedSql(sessionId: string) {
  return sql`EXISTS (SELECT 1 FROM sessions WHERE id = ${sessionId})`;
}

export type Rotated = {
  refreshToken: string;
  session: { id: string; userId: string; role: Role; authTime: number; expiresAt: number };
  profile: ProfileRow;
};

/**
 * Rotates a refresh token (OAuth 2.0 Security BCP, RFC 9700 §4.14.2). One batch: the old token
 * is marked rotated only if it is current and its session and user are live — the conditional
 * UPDATE is the race gate, so of parallel refreshes with one token at most one wins. A rotated
 * token seen again after the grace period is reuse: the whole session (family) is revoked.
 */
export async function rotateRefreshToken(deps: Deps, token: string): Promise<Rotated | Failure> {
  const { config, db, now } = deps;
  const oldHash = await sha256Hex(token);
  const next = await newRefreshToken();
  const [, , , won, state, profiles] = await batch<
    [
      unknown[],
      unknown[],
      unknown[],
      { id: string; user_id: string; role: Role; auth_time: number; expires_at: number }[],
      { session_id: string; rotated_at: number | null; user_id: string | null; phone: string | null }[],
      ProfileRow[],
    ]
  >(db, [
    sql`UPDATE refresh_tokens SET rotated_at = ${now}, replaced_by = ${next.hash}
      WHERE token_hash = ${oldHash} AND rotated_at IS NULL AND session_id IN (
        SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE u.is_active = 1 AND ${liveSessionSql(config, now)})`,
    sql`INSERT INTO refresh_tokens (token_hash, session_id, created_at)
      SELECT ${next.hash}, session_id, ${now} FROM refresh_tokens WHERE token_hash = ${oldHash} AND replaced_by = ${next.hash}`,
    sql`UPDATE sessions SET last_used_at = ${now}
      WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = ${next.hash})`,
    sql`SELECT s.id, s.user_id, u.role, s.auth_time, s.expires_at FROM refresh_tokens t
        JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id WHERE t.token_hash = ${next.hash}`,
    sql`SELECT t.session_id, t.rotated_at, s.user_id, u.phone FROM refresh_tokens t
      LEFT JOIN sessions s ON s.id = t.session_id LEFT JOIN users u ON u.id = s.user_id WHERE t.token_hash = ${oldHash}`,
    sql`SELECT ${profileColumns} FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
      JOIN users u ON u.id = s.user_id WHERE t.token_hash = ${next.hash}`,
  ]);
  const session = won[0];
  const profile = profiles[0];
  if (session && profile) {
    return {
      refreshToken: next.token,
      session: { id: session.id, userId: session.user_id, role: session.role, authTime: session.auth_time, expiresAt: session.expires_at },
      profile,
    };
  }
  const previous = state[0];
  const rotatedAt = previous?.rotated_at;
  // Unknown token, dead session, or a rotation that lost a race just now (two tabs): no revocation.
  if (!previous || rotatedAt == null || now - rotatedAt <= config.REFRESH_REUSE_GRACE_SECONDS * 1000) {
    return fail("invalid_token", { detail: "The refresh token is invalid or expired." });
  }
  const [revoked] = await batch<[{ id: string }[], unknown[]]>(db, [
    sql`UPDATE sessions SET revoked_at = ${now} WHERE id = ${previous.session_id} AND revoked_at IS NULL RETURNING id`,
    await eventSql(
      deps,
      {
        type: "refresh_reused",
        userId: previous.user_id,
        phone: previous.phone,
        detail: { session_id: previous.session_id },
      },
      sql`EXISTS (SELECT 1 FROM sessions WHERE id = ${previous.session_id} AND revoked_at = ${now})`,
    ),
    webhookSql({
      type: "session.revoked",
      data: { user_id: previous.user_id, session_id: previous.session_id, reason: "refresh_reused" },
      now,
      when: sql`EXISTS (SELECT 1 FROM sessions WHERE id = ${previous.session_id} AND revoked_at = ${now})`,
    }),
  ]);
  if (revoked.length === 0) return fail("invalid_token", { detail: "The refresh token is invalid or expired." });
  return fail("token_reused", { detail: "This refresh token was already used; the session has been revoked." });
}

/** Seconds a freshly used session has left: the smaller of its absolute and idle limits. */
export function refreshExpiresIn(config: Config, expiresAt: number, now: number): number {
  return Math.max(0, Math.min(Math.floor((expiresAt - now) / 1000), config.SESSION_IDLE_SECONDS));
}

/** Revokes the session a refresh token belongs to (any token of its family). Idempotent. */
export async function revokeByRefreshToken(deps: Deps, token: string): Promise<void> {
  const { db, now } = deps;
  const [owner] = await all<{ session_id: string; user_id: string; phone: string }>(
    db,
    sql`SELECT s.id AS session_id, s.user_id, u.phone FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
      JOIN users u ON u.id = s.user_id WHERE t.token_hash = ${await sha256Hex(token)} AND s.revoked_at IS NULL`,
  );
  if (!owner) return;
  // The events come before the UPDATE, guarded by the session still being live: of parallel
  // logouts of one session, only the batch that revokes it records them.
  const live = sql`EXISTS (SELECT 1 FROM sessions WHERE id = ${owner.session_id} AND revoked_at IS NULL)`;
  await batch(db, [
    await eventSql(deps, { type: "session_revoked", userId: owner.user_id, phone: owner.phone, detail: { reason: "logout" } }, live),
    webhookSql({
      type: "session.revoked",
      data: { user_id: owner.user_id, session_id: owner.session_id, reason: "logout" },
      now,
      when: live,
    }),
    sql`UPDATE sessions SET revoked_at = ${now} WHERE id = ${owner.session_id} AND revoked_at IS NULL`,
  ]);
}

/** Revokes every live session of a user (logout everywhere); the caller was checked live. */
export async function revokeUserSessions(deps: Deps, caller: { id: string; phone: string }): Promise<void> {
  const { id: userId, phone } = caller;
  // As above: only a batch that finds a live session to revoke records the events.
  const anyLive = sql`EXISTS (SELECT 1 FROM sessions WHERE user_id = ${userId} AND revoked_at IS NULL)`;
  await batch(deps.db, [
    await eventSql(deps, { type: "session_revoked", userId, phone, detail: { reason: "logout_all" } }, anyLive),
    webhookSql({
      type: "session.revoked",
      data: { user_id: userId, session_id: null, reason: "logout_all" },
      now: deps.now,
      when: anyLive,
    }),
    sql`UPDATE sessions SET revoked_at = ${deps.now} WHERE user_id = ${userId} AND revoked_at IS NULL`,
  ]);
}
