import { randomToken } from "../crypto";
import { type JsonField, jsonObjectSql } from "../db/json";
import { type SQL, sql } from "../db/sql";

/** The event catalogue (spec: Webhooks). */
export const WEBHOOK_EVENT_TYPES = [
  "user.created",
  "user.signed_in",
  "user.updated",
  "user.deleted",
  "user.deactivated",
  "user.reactivated",
  "phone.changed",
  "password.changed",
  "session.revoked",
  "passkey.added",
  "referral.activated",
  "destination.blocked",
  "destination.unblocked",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Statements that wrote outbox rows (`RETURNING id`): `batch` hands their ids to the Queue after commit. */
export const OUTBOX_STATEMENTS = new WeakSet<SQL>();

/** SQL condition on endpoint `e`: enabled and subscribed to `type` (trigger webhook_events_fan_out, migration 0018, writes the same condition). */
const subscribedSql = (type: string) =>
  sql`e.enabled = 1 AND EXISTS (SELECT 1 FROM json_each(e.event_types) WHERE value IN ('*', ${type}))`;

type WebhookEvent = { type: WebhookEventType; data: Record<string, JsonField>; now: number; when?: SQL };

/**
 * The outbox row of one event, for the batch of the change it describes (so the change and its
 * event are written together, or not at all): the event, only `when` it holds and some endpoint
 * subscribes. Its deliveries, one per subscribed endpoint, are made by the `webhook_events_fan_out`
 * trigger (migration 0018) in the same statement. `data` values may be SQL of the batch.
 */
export function webhookSql(event: WebhookEvent): SQL {
  return webhooksSql([event]);
}

/** The outbox rows of several events of one change, in one statement (each row as `webhookSql` writes it), in order. */
export function webhooksSql(events: WebhookEvent[]): SQL {
  if (events.length === 0) throw new Error("webhooksSql: no events");
  const rows = events.map((input) => {
    const payload = sql`json_object('type', ${input.type}, 'timestamp', ${new Date(input.now).toISOString()},
      'data', json(${jsonObjectSql(input.data)}))`;
    return sql`SELECT ${`msg_${randomToken()}`}, ${input.type}, ${payload}, ${input.now}
      WHERE ${input.when ?? sql`1`} AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE ${subscribedSql(input.type)})`;
  });
  const statement = sql`INSERT INTO webhook_events (id, type, payload, created_at) ${sql.join(rows, sql` UNION ALL `)} RETURNING id`;
  OUTBOX_STATEMENTS.add(statement);
  return statement;
}

/** A Queue message: the outbox event to deliver. */
export type WebhookMessage = { event_id: string };
