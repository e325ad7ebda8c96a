import { batch, type Db } from "../db/client";
import { type Cursor, encodeCursor } from "../db/cursor";
import { type SQL, sql } from "../db/sql";
import { maskPhone } from "../phone";

export type ReferralItem = { phone: string | null; joined_at: string; status: "active" | "inactive" | "deleted" };

type Row = { id: string; created_at: number; phone: string | null; is_active: number | null };

/**
 * A page of the caller's direct referrals, newest first, by keyset over the
 * `referrals(inviter_id, created_at, id)` index: no OFFSET, so deep pages cost what the first
 * does. Deleted invitees stay in the list with `phone: null`. `null` when the caller is not live.
 */
export async function listReferrals(db: Db, input: { callerId: string; callerGuard: SQL; limit: number; cursor?: Cursor }) {
  const after = input.cursor
    ? sql`AND (r.created_at < ${input.cursor.createdAt} OR (r.created_at = ${input.cursor.createdAt} AND r.id < ${input.cursor.id}))`
    : sql``;
  const [callers, rows] = await batch<[{ id: string }[], Row[]]>(db, [
    sql`SELECT u.id FROM users u WHERE u.id = ${input.callerId} AND ${input.callerGuard}`,
    sql`SELECT r.id, r.created_at, v.phone, v.is_active FROM referrals r LEFT JOIN users v ON v.id = r.invitee_id
      WHERE r.inviter_id = ${input.callerId} ${after} ORDER BY r.created_at DESC, r.id DESC LIMIT ${input.limit + 1}`,
  ]);
  if (callers.length === 0) return null;
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  const items: ReferralItem[] = page.map((row) => ({
    phone: row.phone == null ? null : maskPhone(row.phone),
    joined_at: new Date(row.created_at).toISOString(),
    status: row.phone == null ? "deleted" : row.is_active ? "active" : "inactive",
  }));
  const nextCursor = rows.length > input.limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null;
  return { items, next_cursor: nextCursor };
}
