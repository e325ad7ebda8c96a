import { type EventType, eventSql, phoneOfUser } from "../audit/events";
import { batch } from "../db/client";
import { type Cursor, encodeCursor } from "../db/cursor";
import { type SQL, sql } from "../db/sql";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import { callerSql } from "../me/service";
import { maskPhone, parsePhone, phoneKey } from "../phone";
import { normaliseInviteCode } from "../referrals/service";
import type { AccessClaims } from "../tokens/jwt";
import { liveSessionSql } from "../tokens/sessions";
import { type ProfileRow, profileColumns, toUser } from "../users/profile";
import { effectiveAdminSql } from "../users/roles";
import { webhookSql } from "../webhooks/outbox";

// Admin routes read the caller's role from D1 in the same batch as their query, never from the
// token (spec: Admin), so a demotion or deactivation bites at once.

/** SQL condition: the token's user is live, active, and an admin in D1. */
export function callerIsAdmin(deps: Deps, claims: AccessClaims): SQL {
  return sql`EXISTS (SELECT 1 FROM users u WHERE ${callerSql(deps.config, claims, deps.now)} AND ${effectiveAdminSql(deps.config)})`;
}

/**
 * Runs `statements` in one batch behind the admin check; `unauthorized` when the token's session
 * is dead, `forbidden` when the caller is not an admin.
 */
export async function asAdmin(deps: Deps, claims: AccessClaims, statements: SQL[]): Promise<unknown[][] | Failure> {
  const [callers, ...results] = await batch(deps.db, [
    sql`SELECT ${effectiveAdminSql(deps.config)} AS admin FROM users u WHERE ${callerSql(deps.config, claims, deps.now)}`,
    ...statements,
  ]);
  const caller = callers?.[0] as { admin: number } | undefined;
  if (!caller) return fail("unauthorized", { detail: "A valid access token is required." });
  if (!caller.admin) return fail("forbidden", { detail: "This needs the admin role." });
  return results;
}

type AdminRow = ProfileRow & { inviter_id: string | null; inviter_phone: string | null; sessions: number };

/**
 * A user as admins see it: the User shape plus `is_active`, with the full phone (support work
 * needs it, and a prefix search would reveal it anyway); every answer that shows one records an
 * `admin_viewed` event (`viewedSql`).
 */
function adminUser(row: ProfileRow) {
  return { ...toUser(row), is_active: Boolean(row.is_active) };
}

function adminUserDetail(row: AdminRow) {
  return {
    ...adminUser(row),
    invited_by: row.inviter_id ? { id: row.inviter_id, phone: row.inviter_phone } : null,
    sessions: row.sessions,
  };
}

export type AdminUserDetail = ReturnType<typeof adminUserDetail>;

const detailSql = (deps: Deps, id: string) =>
  sql`SELECT ${profileColumns}, u.invited_by AS inviter_id, (SELECT i.phone FROM users i WHERE i.id = u.invited_by) AS inviter_phone,
      (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND ${liveSessionSql(deps.config, deps.now)}) AS sessions
    FROM users u WHERE u.id = ${id}`;

const keysetAfter = (table: string, cursor?: Cursor) =>
  cursor
    ? sql`AND (${sql.raw(table)}.created_at < ${cursor.createdAt} OR (${sql.raw(table)}.created_at = ${cursor.createdAt} AND ${sql.raw(table)}.id < ${cursor.id}))`
    : sql``;

function page<T extends { id: string; created_at: number }>(rows: T[], limit: number) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next_cursor: rows.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null };
}

/**
 * The search a `q` means: a phone prefix in any formatting (normalised to E.164 digits, matched
 * as an index range on `users.phone`) and/or an invite code (case-insensitive).
 */
function userSearch(deps: Deps, q: string | undefined): SQL {
  const text = q?.trim() ?? "";
  if (!text) return sql`1`;
  const conditions: SQL[] = [];
  let compact = text.replace(/[\s().-]/g, "");
  if (compact.startsWith("00")) compact = `+${compact.slice(2)}`;
  if (/^\+?\d{1,15}$/.test(compact)) {
    const whole = compact.startsWith("+") ? undefined : parsePhone(compact, deps.config.DEFAULT_REGION);
    const prefix = whole ? whole.e164 : compact.startsWith("+") ? compact : `+${compact}`;
    // ':' sorts right after '9', so [prefix, prefix + ':') is every phone starting with prefix.
    conditions.push(sql`(u.phone >= ${prefix} AND u.phone < ${`${prefix}:`})`);
  }
  const code = normaliseInviteCode(text);
  if (code) conditions.push(sql`u.invite_code = ${code}`);
  return conditions.length > 0 ? sql`(${sql.join(conditions, sql` OR `)})` : sql`0`;
}

/**
 * The `admin_viewed` event of an answer that shows full phones: who looked (`by`), at whom
 * (`userId`) or which search (a phone in it masked, as the audit trail never holds a full phone).
 */
function viewedSql(
  deps: Deps,
  claims: AccessClaims,
  seen: { userId?: string; phone?: string | null; search?: string },
  when: SQL = sql`1`,
) {
  const digits = seen.search?.replace(/\D/g, "") ?? "";
  const search = seen.search === undefined ? undefined : digits.length >= 6 ? maskPhone(`+${digits}`) : seen.search;
  return eventSql(
    deps,
    {
      type: "admin_viewed",
      userId: seen.userId ?? null,
      phone: seen.phone ?? null,
      detail: { by: claims.sub, ...(search === undefined ? {} : { search }) },
    },
    sql`${callerIsAdmin(deps, claims)} AND ${when}`,
  );
}

export async function listUsers(deps: Deps, claims: AccessClaims, query: { q?: string; limit: number; cursor?: Cursor }) {
  const results = await asAdmin(deps, claims, [
    await viewedSql(deps, claims, { search: query.q?.trim() ?? "" }),
    sql`SELECT ${profileColumns} FROM users u WHERE ${userSearch(deps, query.q)} ${keysetAfter("u", query.cursor)}
      ORDER BY u.created_at DESC, u.id DESC LIMIT ${query.limit + 1}`,
  ]);
  if ("error" in results) return results;
  const { items, next_cursor } = page(results[1] as ProfileRow[], query.limit);
  return { items: items.map(adminUser), next_cursor };
}

export async function getUser(deps: Deps, claims: AccessClaims, id: string): Promise<AdminUserDetail | Failure> {
  const exists = sql`EXISTS (SELECT 1 FROM users WHERE id = ${id})`;
  const results = await asAdmin(deps, claims, [await viewedSql(deps, claims, { userId: id }, exists), detailSql(deps, id)]);
  if ("error" in results) return results;
  const row = (results[1] as AdminRow[])[0];
  return row ? adminUserDetail(row) : fail("not_found", { detail: "No such user." });
}

type UserChange = { is_active?: boolean; role?: "user" | "admin" };

/**
 * `PATCH /v1/admin/users/{id}`: one batch changes the user, revokes every session on
 * deactivation, and records who changed what. An admin cannot lock themselves out.
 */
export async function updateUser(deps: Deps, claims: AccessClaims, id: string, change: UserChange): Promise<AdminUserDetail | Failure>;
/** `answer` false (the console, which redirects to the user's page): no detail is read, so none is shown or recorded as viewed. */
export async function updateUser(deps: Deps, claims: AccessClaims, id: string, change: UserChange, answer: false): Promise<Failure | null>;
export async function updateUser(
  deps: Deps,
  claims: AccessClaims,
  id: string,
  change: UserChange,
  answer = true,
): Promise<AdminUserDetail | Failure | null> {
  // Only an admin learns that a change would lock them out; anyone else hears 401/403 first.
  const selfLockout = id === claims.sub && (change.is_active === false || change.role === "user");
  const admin = callerIsAdmin(deps, claims);
  const phone = selfLockout ? null : await phoneOfUser(deps.db, id);
  const assignments: SQL[] = [];
  if (change.is_active !== undefined) assignments.push(sql`is_active = ${change.is_active ? 1 : 0}`);
  // A role set by an admin is theirs to keep or take away, not the ADMIN_PHONES var's.
  if (change.role !== undefined) assignments.push(sql`role = ${change.role}, admin_source = ${change.role === "admin" ? "granted" : null}`);
  const exists = sql`EXISTS (SELECT 1 FROM users WHERE id = ${id})`;
  const wasActive = sql`EXISTS (SELECT 1 FROM users WHERE id = ${id} AND is_active = 1)`;
  const activation =
    change.is_active === undefined
      ? []
      : [
          webhookSql({
            type: change.is_active ? "user.reactivated" : "user.deactivated",
            data: { user_id: id, phone, by: claims.sub },
            now: deps.now,
            // Written before the update, so it fires only for a real change of state.
            when: sql`${admin} AND ${change.is_active ? sql`NOT ${wasActive} AND ${exists}` : wasActive}`,
          }),
        ];
  const changes = [
    ...activation,
    ...(assignments.length > 0 ? [sql`UPDATE users SET ${sql.join(assignments, sql`, `)} WHERE id = ${id} AND ${admin}`] : []),
    ...(change.is_active === false
      ? [
          await eventSql(
            deps,
            { type: "session_revoked", userId: id, phone, detail: { reason: "deactivated", by: claims.sub } },
            sql`${admin} AND EXISTS (SELECT 1 FROM sessions WHERE user_id = ${id} AND revoked_at IS NULL)`,
          ),
          webhookSql({
            type: "session.revoked",
            data: { user_id: id, session_id: null, reason: "deactivated" },
            now: deps.now,
            when: sql`${admin} AND EXISTS (SELECT 1 FROM sessions WHERE user_id = ${id} AND revoked_at IS NULL)`,
          }),
          sql`UPDATE sessions SET revoked_at = ${deps.now} WHERE user_id = ${id} AND revoked_at IS NULL AND ${admin}`,
        ]
      : []),
    await eventSql(
      deps,
      {
        type: "admin_changed_user",
        userId: id,
        phone,
        detail: { by: claims.sub, is_active: change.is_active ?? null, role: change.role ?? null },
      },
      sql`${admin} AND ${exists}`,
    ),
  ];
  const shown = answer ? [await viewedSql(deps, claims, { userId: id, phone }, exists), detailSql(deps, id)] : [];
  const results = await asAdmin(deps, claims, [...(selfLockout ? [] : changes), ...shown]);
  if ("error" in results) return results;
  if (selfLockout) return fail("self_lockout", { detail: "You cannot deactivate or demote yourself; ask another admin." });
  if (!answer) return null;
  const row = (results.at(-1) as AdminRow[])[0];
  return row ? adminUserDetail(row) : fail("not_found", { detail: "No such user." });
}

type EventRow = {
  id: string;
  type: EventType;
  created_at: number;
  user_id: string | null;
  phone_masked: string | null;
  phone_key: string | null;
  ip: string | null;
  country: string | null;
  request_id: string | null;
  detail: string | null;
};

export async function listEvents(
  deps: Deps,
  claims: AccessClaims,
  query: { type?: EventType; phone?: string; userId?: string; limit: number; cursor?: Cursor },
) {
  const filters: SQL[] = [];
  if (query.type) filters.push(sql`e.type = ${query.type}`);
  if (query.userId) filters.push(sql`e.user_id = ${query.userId}`);
  if (query.phone !== undefined) {
    const phone = parsePhone(query.phone, deps.config.DEFAULT_REGION);
    if (!phone) return fail("invalid_phone", { detail: "The phone filter is not a valid mobile number." });
    filters.push(sql`e.phone_key = ${await phoneKey(deps.config, phone.e164)}`);
  }
  const where = filters.length > 0 ? sql.join(filters, sql` AND `) : sql`1`;
  const results = await asAdmin(deps, claims, [
    sql`SELECT e.id, e.type, e.created_at, e.user_id, e.phone_masked, e.phone_key, e.ip, e.country, e.request_id, e.detail
      FROM audit_events e WHERE ${where} ${keysetAfter("e", query.cursor)}
      ORDER BY e.created_at DESC, e.id DESC LIMIT ${query.limit + 1}`,
  ]);
  if ("error" in results) return results;
  const { items, next_cursor } = page(results[0] as EventRow[], query.limit);
  return {
    items: items.map((row) => ({
      id: row.id,
      type: row.type,
      created_at: new Date(row.created_at).toISOString(),
      user_id: row.user_id,
      phone: row.phone_masked,
      phone_hash: row.phone_key,
      ip: row.ip,
      country: row.country,
      request_id: row.request_id,
      detail: row.detail ? (JSON.parse(row.detail) as Record<string, unknown>) : null,
    })),
    next_cursor,
  };
}

/** One audit event as the admin API answers it. */
export type AdminAuditEvent = Exclude<Awaited<ReturnType<typeof listEvents>>, Failure>["items"][number];

/**
 * Cheap numbers: a maintained counter and index ranges over today's rows (users by created_at,
 * events by type and created_at) — never a full scan. Sent vs verified is the SMS-pumping signal.
 */
export async function stats(deps: Deps, claims: AccessClaims) {
  const dayStart = new Date(deps.now).setUTCHours(0, 0, 0, 0);
  // Sign-in codes really sent to real phones vs sign-ins by code: the SMS-pumping signal.
  const today = (type: EventType, extra: SQL = sql`1`) =>
    sql`SELECT count(*) AS n FROM audit_events WHERE type = ${type} AND created_at >= ${dayStart} AND ${extra}`;
  const results = await asAdmin(deps, claims, [
    sql`SELECT COALESCE((SELECT value FROM counters WHERE name = 'users_total'), 0) AS n`,
    sql`SELECT count(*) AS n FROM users WHERE created_at >= ${dayStart}`,
    today("code_sent", sql`json_extract(detail, '$.purpose') = 'login' AND json_extract(detail, '$.test_phone') = 0`),
    today("code_verified"),
  ]);
  if ("error" in results) return results;
  const [usersTotal, signups, sent, verified] = results.map((rows) => (rows as { n: number }[])[0]?.n ?? 0);
  return {
    users_total: usersTotal ?? 0,
    signups_today: signups ?? 0,
    codes_sent_today: sent ?? 0,
    codes_verified_today: verified ?? 0,
    verify_success_ratio: sent ? Math.round(((verified ?? 0) / sent) * 1000) / 1000 : 0,
  };
}
