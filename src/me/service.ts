import { eventSql, phoneOfUser } from "../audit/events";
import type { Config } from "../config";
import { all, batch, type Db } from "../db/client";
import { type SQL, sql } from "../db/sql";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import type { Caller } from "../passwords/service";
import type { AccessClaims } from "../tokens/jwt";
import { liveSessionSql } from "../tokens/sessions";
import { type ProfileRow, profileColumns } from "../users/profile";
import { webhookSql } from "../webhooks/outbox";

// Routes that read D1 anyway check in that same statement that the token's session is live and
// its user active, so logout, deletion and deactivation bite at once (spec: Revocation).

/** SQL condition over `users u`: `u` is the caller, active, holding the live session `sid`. */
export function callerSql(config: Config, claims: AccessClaims, now: number): SQL {
  return sql`u.id = ${claims.sub} AND u.is_active = 1 AND EXISTS (
    SELECT 1 FROM sessions s WHERE s.id = ${claims.sid} AND s.user_id = u.id AND ${liveSessionSql(config, now)})`;
}

/** Who the caller is, for re-authentication; `unauthorized` when the token's session is dead. */
export async function readCaller(deps: Deps, claims: AccessClaims): Promise<Caller | Failure> {
  const { config, db, now } = deps;
  const rows = await all<Caller>(db, sql`SELECT u.id, u.phone, u.password_hash FROM users u WHERE ${callerSql(config, claims, now)}`);
  return rows[0] ?? fail("unauthorized", { detail: "A valid access token is required." });
}

/** The caller's profile in one D1 round trip, or undefined when the token's session is dead. */
export async function readProfile(db: Db, config: Config, claims: AccessClaims, now: number) {
  const rows = await all<ProfileRow>(db, sql`SELECT ${profileColumns} FROM users u WHERE ${callerSql(config, claims, now)}`);
  return rows[0];
}

export type ProfilePatch = { first_name?: string | null; last_name?: string | null; email?: string | null };

/** Applies only the whitelisted fields; one batch writes and reads back. */
export async function updateProfile(db: Db, config: Config, claims: AccessClaims, patch: ProfilePatch, now: number) {
  const assignments = (["first_name", "last_name", "email"] as const)
    .filter((field) => patch[field] !== undefined)
    .map((field) => sql`${sql.identifier(field)} = ${patch[field]}`);
  if (assignments.length === 0) return readProfile(db, config, claims, now);
  const changed = (["first_name", "last_name", "email"] as const).filter((field) => patch[field] !== undefined);
  const [, rows] = await batch<[unknown[], ProfileRow[]]>(db, [
    sql`UPDATE users AS u SET ${sql.join(assignments, sql`, `)} WHERE ${callerSql(config, claims, now)} RETURNING id`,
    sql`SELECT ${profileColumns} FROM users u WHERE ${callerSql(config, claims, now)}`,
    webhookSql({
      type: "user.updated",
      data: { user_id: claims.sub, fields: changed.join(",") },
      now,
      when: sql`EXISTS (SELECT 1 FROM users u WHERE ${callerSql(config, claims, now)})`,
    }),
  ]);
  return rows[0];
}

/**
 * Deletes the account with its sessions, refresh tokens and codes, atomically. Per-phone guards
 * (windows, lockouts) stay, so deleting and signing up again resets no limit.
 */
export async function deleteAccount(deps: Deps, claims: AccessClaims, phone: string, refund: SQL[] = []): Promise<boolean> {
  const { config, db, now } = deps;
  const caller = callerSql(config, claims, now);
  const live = sql`EXISTS (SELECT 1 FROM users u WHERE ${caller})`;
  const results = await batch(db, [
    // A right current_password's reservation is given back in the same round trip (reauthenticate).
    ...refund,
    await eventSql(deps, { type: "account_deleted", phone, userId: claims.sub }, live),
    webhookSql({ type: "user.deleted", data: { user_id: claims.sub, phone }, now, when: live }),
    sql`DELETE FROM otp_challenges WHERE phone = (SELECT u.phone FROM users u WHERE ${caller})`,
    sql`DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = ${claims.sub}) AND ${live}`,
    // The account's own referral list goes; rows where it is the invitee stay in its inviter's list.
    sql`DELETE FROM referrals WHERE inviter_id = ${claims.sub} AND ${live}`,
    sql`DELETE FROM users AS u WHERE ${caller} RETURNING id`,
    sql`DELETE FROM sessions WHERE user_id = ${claims.sub} AND NOT EXISTS (SELECT 1 FROM users WHERE id = ${claims.sub})`,
  ]);
  return (results.at(-2) ?? []).length > 0;
}

export type SessionRow = {
  id: string;
  created_at: number;
  last_used_at: number;
  user_agent: string | null;
  country: string | null;
};

/** The caller's live sessions, newest first; `null` when the caller's own session is dead. */
export async function listSessions(db: Db, config: Config, claims: AccessClaims, now: number) {
  const [callers, sessions] = await batch<[{ id: string }[], SessionRow[]]>(db, [
    sql`SELECT u.id FROM users u WHERE ${callerSql(config, claims, now)}`,
    sql`SELECT s.id, s.created_at, s.last_used_at, s.user_agent, s.country FROM sessions s
      WHERE s.user_id = ${claims.sub} AND ${liveSessionSql(config, now)} ORDER BY s.created_at DESC LIMIT 100`,
  ]);
  return callers.length > 0 ? sessions : null;
}

/** Revokes one of the caller's sessions: "revoked", "not_found", or "unauthorized". */
export async function revokeOwnSession(deps: Deps, claims: AccessClaims, sessionId: string) {
  const { config, db, now } = deps;
  const phone = await phoneOfUser(db, claims.sub);
  const caller = callerSql(config, claims, now);
  const [callers, revoked] = await batch<[{ id: string }[], { id: string }[], unknown[]]>(db, [
    sql`SELECT u.id FROM users u WHERE ${caller}`,
    sql`UPDATE sessions SET revoked_at = ${now}
      WHERE id = ${sessionId} AND user_id = ${claims.sub} AND revoked_at IS NULL
        AND EXISTS (SELECT 1 FROM users u WHERE ${caller}) RETURNING id`,
    await eventSql(
      deps,
      { type: "session_revoked", userId: claims.sub, phone, detail: { reason: "revoked_by_owner", session_id: sessionId } },
      sql`EXISTS (SELECT 1 FROM sessions WHERE id = ${sessionId} AND user_id = ${claims.sub} AND revoked_at = ${now})`,
    ),
    webhookSql({
      type: "session.revoked",
      data: { user_id: claims.sub, session_id: sessionId, reason: "revoked_by_owner" },
      now,
      when: sql`EXISTS (SELECT 1 FROM sessions WHERE id = ${sessionId} AND user_id = ${claims.sub} AND revoked_at = ${now})`,
    }),
  ]);
  if (callers.length === 0) return "unauthorized" as const;
  return revoked.length > 0 ? ("revoked" as const) : ("not_found" as const);
}
