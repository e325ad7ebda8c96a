import { all, type Db } from "../db/client";
import { type JsonField, jsonObjectSql } from "../db/json";
import { type SQL, sql } from "../db/sql";
import type { Deps } from "../deps";
import { maskPhone, phoneKey } from "../phone";

/** The fixed, documented list of audit event types (spec: Admin). */
export const EVENT_TYPES = [
  "code_sent",
  "code_refused",
  "code_verified",
  "code_failed",
  "code_burned",
  "phone_locked",
  "password_login",
  "password_login_failed",
  "password_locked",
  "password_changed",
  "refresh_reused",
  "session_revoked",
  "invite_activated",
  "phone_changed",
  "account_deleted",
  "admin_changed_user",
  "admin_viewed",
  "webhook_changed",
  "destination_blocked",
  "destination_unblocked",
  "guess_storm",
  "passkey_added",
  "passkey_removed",
  "passkey_login",
  "passkey_login_failed",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export type AuditEvent = {
  type: EventType;
  /** E.164; stored only masked and as a keyed hash. */
  phone?: string | null;
  /** A user id, or SQL that yields it inside the batch (e.g. the user a phone belongs to). */
  userId?: string | SQL | null;
  /** Small facts: a reason, a purpose, who changed what (or SQL that yields it in the batch). Never a code, token or password. */
  detail?: Record<string, JsonField>;
};

/**
 * The INSERT for one event, to run inside the batch of the change it records; with `when`, it is
 * written only if that condition holds at that point of the batch (e.g. the race was won).
 */
export async function eventSql(deps: Deps, event: AuditEvent, when: SQL = sql`1`): Promise<SQL> {
  const { request, now, config } = deps;
  const phone = event.phone ?? null;
  const key = phone ? await phoneKey(config, phone) : null;
  const detail = event.detail ? jsonObjectSql(event.detail) : null;
  return sql`INSERT INTO audit_events (id, type, user_id, phone_masked, phone_key, ip, country, request_id, detail, created_at)
    SELECT ${crypto.randomUUID()}, ${event.type}, ${event.userId ?? null}, ${phone ? maskPhone(phone) : null}, ${key},
      ${request.ip}, ${request.country}, ${request.requestId}, ${detail}, ${now}
    WHERE ${when}`;
}

/**
 * Records an event that has no batch to ride in (a refusal), after the response. A failed write
 * is logged; it never fails the request.
 */
export function recordEvent(deps: Deps, event: AuditEvent): void {
  deps.request.defer(
    eventSql(deps, event)
      .then((statement) => all(deps.db, statement))
      .catch((error) => console.error(`audit write failed (${event.type}): ${error instanceof Error ? error.message : "unknown"}`)),
  );
}

/** The phone of a user, so events about an account carry it (masked and keyed) for `?phone=`. */
export async function phoneOfUser(db: Db, userId: string): Promise<string | null> {
  return (await all<{ phone: string }>(db, sql`SELECT phone FROM users WHERE id = ${userId}`))[0]?.phone ?? null;
}

/** SQL yielding the id of the user who holds `phone` (null if none), for events inside batches. */
export function userOfPhone(phone: string): SQL {
  return sql`(SELECT id FROM users WHERE phone = ${phone})`;
}
