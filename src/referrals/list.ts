import { type SQL, sql } from "drizzle-orm";
import { base64url } from "../crypto";
import { batch, type Db } from "../db/client";
import { maskPhone } from "../phone";

export type ReferralItem = { phone: string | null; joined_at: string; status: "active" | "inactive" | "deleted" };

type Cursor = { createdAt: number; id: string };

/** Opaque keyset cursor: base64url of `<created_at>.<id>` of the last item served. */
export function encodeCursor(cursor: Cursor): string {
  return base64url(new TextEncoder().encode(`${cursor.createdAt}.${cursor.id}`));
}

/** `undefined` for a cursor this API did not issue. */
export function decodeCursor(raw: string): Cursor | undefined {
  try {
    const text = atob(raw.replace(/-/g, "+").replace(/_/g, "/"));
    const match = /^(\d{1,15})\.([0-9a-f-]{36})$/.exec(text);
    return match ? { createdAt: Number(match[1]), id: match[2] as string } : undefined;
  } catch {
    return undefined;
  }
}

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
