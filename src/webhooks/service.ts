import { asAdmin, callerIsAdmin } from "../admin/service";
import { eventSql } from "../audit/events";
import { type Cursor, encodeCursor } from "../db/cursor";
import { sql } from "../db/sql";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import type { AccessClaims } from "../tokens/jwt";
import { newWebhookSecret, sealSecret } from "./signing";
import { refuseEndpointUrl } from "./ssrf";

// The admin API for webhook endpoints (spec: Webhooks). Every change is one batch behind the
// admin check, with its `webhook_changed` audit event.

const ROTATION_OVERLAP_MS = 24 * 3_600_000;

type EndpointRow = {
  id: string;
  url: string;
  description: string | null;
  event_types: string;
  enabled: number;
  previous_secret_until: number | null;
  created_at: number;
  updated_at: number;
};

const iso = (ms: number) => new Date(ms).toISOString();

function endpointOut(row: EndpointRow, now: number) {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    event_types: JSON.parse(row.event_types) as string[],
    enabled: Boolean(row.enabled),
    previous_secret_expires_at: row.previous_secret_until && row.previous_secret_until > now ? iso(row.previous_secret_until) : null,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

export type Endpoint = ReturnType<typeof endpointOut>;

const endpointColumns = sql`id, url, description, event_types, enabled, previous_secret_until, created_at, updated_at`;

async function vetUrl(deps: Deps, url: string, fetcher: typeof fetch): Promise<Failure | null> {
  const refused = await refuseEndpointUrl(deps.config, url, fetcher);
  return refused ? fail("validation_failed", { detail: `url: ${refused}`, errors: [{ path: "url", message: refused }] }) : null;
}

const changedEvent = (deps: Deps, claims: AccessClaims, endpointId: string, action: string) =>
  eventSql(
    deps,
    { type: "webhook_changed", userId: claims.sub, detail: { by: claims.sub, endpoint_id: endpointId, action } },
    // Only once the change happened: the endpoint exists after its statement in the batch.
    sql`${callerIsAdmin(deps, claims)} AND EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ${endpointId})`,
  );

/** `POST /v1/admin/webhooks`: the endpoint, with its secret shown this once. */
export async function createEndpoint(
  deps: Deps,
  claims: AccessClaims,
  input: { url: string; event_types: string[]; description?: string },
  fetcher: typeof fetch,
): Promise<(Endpoint & { secret: string }) | Failure> {
  const refused = await vetUrl(deps, input.url, fetcher);
  if (refused) return refused;
  const { now } = deps;
  const id = crypto.randomUUID();
  const secret = newWebhookSecret();
  const results = await asAdmin(deps, claims, [
    sql`INSERT INTO webhook_endpoints (id, url, description, event_types, enabled, secret, created_at, updated_at)
      SELECT ${id}, ${input.url}, ${input.description ?? null}, ${JSON.stringify([...new Set(input.event_types)])}, 1,
        ${await sealSecret(deps.config.PASSWORD_PEPPER, secret)}, ${now}, ${now}
      WHERE ${callerIsAdmin(deps, claims)}`,
    await changedEvent(deps, claims, id, "created"),
    sql`SELECT ${endpointColumns} FROM webhook_endpoints WHERE id = ${id}`,
  ]);
  if ("error" in results) return results;
  return { ...endpointOut((results.at(-1) as EndpointRow[])[0] as EndpointRow, now), secret };
}

export async function listEndpoints(deps: Deps, claims: AccessClaims) {
  const results = await asAdmin(deps, claims, [sql`SELECT ${endpointColumns} FROM webhook_endpoints ORDER BY created_at DESC, id DESC`]);
  if ("error" in results) return results;
  // One page: endpoints are few (an operator's own systems); `next_cursor` keeps the lists' shape.
  return { items: (results[0] as EndpointRow[]).map((row) => endpointOut(row, deps.now)), next_cursor: null };
}

const notFound = () => fail("not_found", { detail: "No such webhook endpoint." });

/** `PATCH /v1/admin/webhooks/{id}`: `enabled`, `event_types`, `url` (vetted like a new one). */
export async function updateEndpoint(
  deps: Deps,
  claims: AccessClaims,
  id: string,
  change: { enabled?: boolean; event_types?: string[]; url?: string },
  fetcher: typeof fetch,
): Promise<Endpoint | Failure> {
  if (change.url !== undefined) {
    const refused = await vetUrl(deps, change.url, fetcher);
    if (refused) return refused;
  }
  const assignments = [sql`updated_at = ${deps.now}`];
  if (change.enabled !== undefined) assignments.push(sql`enabled = ${change.enabled ? 1 : 0}`);
  if (change.event_types !== undefined) assignments.push(sql`event_types = ${JSON.stringify([...new Set(change.event_types)])}`);
  if (change.url !== undefined) assignments.push(sql`url = ${change.url}`);
  const results = await asAdmin(deps, claims, [
    sql`UPDATE webhook_endpoints SET ${sql.join(assignments, sql`, `)} WHERE id = ${id} AND ${callerIsAdmin(deps, claims)}`,
    await changedEvent(deps, claims, id, "updated"),
    sql`SELECT ${endpointColumns} FROM webhook_endpoints WHERE id = ${id}`,
  ]);
  if ("error" in results) return results;
  const row = (results.at(-1) as EndpointRow[])[0];
  return row ? endpointOut(row, deps.now) : notFound();
}

/** `POST /v1/admin/webhooks/{id}/rotate-secret`: a new secret; the old one keeps signing beside it for 24 h. */
export async function rotateSecret(deps: Deps, claims: AccessClaims, id: string): Promise<(Endpoint & { secret: string }) | Failure> {
  const secret = newWebhookSecret();
  const { now } = deps;
  const results = await asAdmin(deps, claims, [
    sql`UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = ${now + ROTATION_OVERLAP_MS},
        secret = ${await sealSecret(deps.config.PASSWORD_PEPPER, secret)}, updated_at = ${now}
      WHERE id = ${id} AND ${callerIsAdmin(deps, claims)}`,
    await changedEvent(deps, claims, id, "rotated_secret"),
    sql`SELECT ${endpointColumns} FROM webhook_endpoints WHERE id = ${id}`,
  ]);
  if ("error" in results) return results;
  const row = (results.at(-1) as EndpointRow[])[0];
  return row ? { ...endpointOut(row, now), secret } : notFound();
}

/** `DELETE /v1/admin/webhooks/{id}`: the endpoint and its deliveries. */
export async function deleteEndpoint(deps: Deps, claims: AccessClaims, id: string): Promise<"deleted" | Failure> {
  const exists = sql`EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ${id})`;
  const results = await asAdmin(deps, claims, [
    await eventSql(
      deps,
      { type: "webhook_changed", userId: claims.sub, detail: { by: claims.sub, endpoint_id: id, action: "deleted" } },
      sql`${callerIsAdmin(deps, claims)} AND ${exists}`,
    ),
    sql`DELETE FROM webhook_deliveries WHERE endpoint_id = ${id} AND ${callerIsAdmin(deps, claims)}`,
    sql`DELETE FROM webhook_endpoints WHERE id = ${id} AND ${callerIsAdmin(deps, claims)} RETURNING id`,
  ]);
  if ("error" in results) return results;
  return (results.at(-1) as unknown[]).length > 0 ? "deleted" : notFound();
}

type DeliveryRow = {
  id: string;
  event_id: string;
  event_type: string;
  status: "pending" | "delivered" | "dead";
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: number;
  delivered_at: number | null;
  created_at: number;
};

function deliveryOut(row: DeliveryRow) {
  return {
    id: row.id,
    event_id: row.event_id,
    event_type: row.event_type,
    status: row.status,
    attempts: row.attempts,
    last_status: row.last_status,
    last_error: row.last_error,
    next_attempt_at: row.status === "pending" ? iso(row.next_attempt_at) : null,
    delivered_at: row.delivered_at ? iso(row.delivered_at) : null,
    created_at: iso(row.created_at),
  };
}

const deliveryColumns = sql`d.id, d.event_id, ev.type AS event_type, d.status, d.attempts, d.last_status, d.last_error,
  d.next_attempt_at, d.delivered_at, d.created_at`;

/** `GET /v1/admin/webhooks/{id}/deliveries`: newest first, keyset-paged, optionally by status. */
export async function listDeliveries(
  deps: Deps,
  claims: AccessClaims,
  id: string,
  query: { status?: string; limit: number; cursor?: Cursor },
) {
  const after = query.cursor
    ? sql`AND (d.created_at < ${query.cursor.createdAt} OR (d.created_at = ${query.cursor.createdAt} AND d.id < ${query.cursor.id}))`
    : sql``;
  const results = await asAdmin(deps, claims, [
    sql`SELECT 1 FROM webhook_endpoints WHERE id = ${id}`,
    sql`SELECT ${deliveryColumns} FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
      WHERE d.endpoint_id = ${id} ${query.status ? sql`AND d.status = ${query.status}` : sql``} ${after}
      ORDER BY d.created_at DESC, d.id DESC LIMIT ${query.limit + 1}`,
  ]);
  if ("error" in results) return results;
  if ((results[0] as unknown[]).length === 0) return notFound();
  const rows = results[1] as DeliveryRow[];
  const items = rows.slice(0, query.limit);
  const last = items.at(-1);
  return {
    items: items.map(deliveryOut),
    next_cursor: rows.length > query.limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null,
  };
}

/** `POST /v1/admin/webhooks/deliveries/{id}/replay`: due again now, attempts from zero, same `webhook-id`. */
export async function replayDelivery(deps: Deps, claims: AccessClaims, id: string) {
  const results = await asAdmin(deps, claims, [
    sql`UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ${deps.now}, claim = NULL, claimed_until = NULL,
        last_error = NULL WHERE id = ${id} AND status <> 'pending' AND ${callerIsAdmin(deps, claims)}`,
    await eventSql(
      deps,
      { type: "webhook_changed", userId: claims.sub, detail: { by: claims.sub, delivery_id: id, action: "replayed" } },
      sql`${callerIsAdmin(deps, claims)} AND EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ${id})`,
    ),
    sql`SELECT ${deliveryColumns} FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id WHERE d.id = ${id}`,
  ]);
  if ("error" in results) return results;
  const row = (results.at(-1) as DeliveryRow[])[0];
  return row ? deliveryOut(row) : fail("not_found", { detail: "No such delivery." });
}

export type Delivery = ReturnType<typeof deliveryOut>;
