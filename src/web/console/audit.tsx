import { Hono } from "hono";
import { listEvents } from "../../admin/service";
import { EVENT_TYPES, type EventType } from "../../audit/events";
import { decodeCursor } from "../../db/cursor";
import type { WebEnv } from "../context";
import { AuditPage } from "../views/console/audit";
import { consoleRequest, queryText, refusedPage } from "./page";

// `/admin/audit`: the audit trail through the service of /v1/admin/events, filtered by type (and
// by user, from a user's page), paged by its keyset cursor. A filter the page does not know is
// dropped with a note; a cursor it did not issue starts from the newest events.

const PAGE_SIZE = 50;

const isEventType = (value: string): value is EventType => (EVENT_TYPES as readonly string[]).includes(value);

export const auditPages = new Hono<WebEnv>().get("/admin/audit", async (c) => {
  const { page, services, claims } = consoleRequest(c, "/admin/audit");
  const asked = queryText(c, "type", 40);
  const type = isEventType(asked) ? asked : undefined;
  const userId = queryText(c, "user", 64) || undefined;
  const cursor = decodeCursor(queryText(c, "cursor", 200));
  const events = await listEvents(services, claims, { type, userId, limit: PAGE_SIZE, cursor });
  if ("error" in events) return refusedPage(c, page, events);
  return c.html(
    <AuditPage
      page={page}
      view={{
        events: events.items,
        next: events.next_cursor,
        type,
        userId,
        paged: cursor !== undefined,
        unknownType: asked && !type ? asked : undefined,
        types: EVENT_TYPES,
      }}
    />,
  );
});
