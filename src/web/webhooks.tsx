import type { Context } from "hono";
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { deps } from "../http/deps";
import type { Failure } from "../http/problem";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/outbox";
import { enqueueWebhooks } from "../webhooks/queue";
import {
  createEndpoint,
  deleteEndpoint,
  listDeliveries,
  listEndpoints,
  replayDelivery,
  rotateSecret,
  updateEndpoint,
} from "../webhooks/service";
import { consoleRequest, refusedPage } from "./console/page";
import { asApi, type WebEnv } from "./context";
import { formErrors, readForm } from "./forms";
import { pageContext } from "./middleware";
import { type WebhookEndpointView, WebhooksPage, type WebhooksView } from "./views/webhooks";

// `/admin/webhooks`: the operator's page for webhook endpoints and their deliveries, through the
// same services as `/v1/admin/webhooks` (the admin check, the URL vetting, the audit events).
// Every change is a form post: a redirect back (POST/redirect/GET), except the two that show a
// new secret, which must be shown once and so are answered with the page itself.

const PATH = "/admin/webhooks";
const RECENT_DELIVERIES = 10;
const fetcher: typeof fetch = (input, init) => fetch(input, init);

/** The endpoints with their recent deliveries; a refusal (not an admin) as a failure. */
async function readView(c: Context<WebEnv>): Promise<Pick<WebhooksView, "endpoints"> | Failure> {
  const { services, claims } = consoleRequest(c, PATH);
  const listed = await listEndpoints(services, claims);
  if ("error" in listed) return listed;
  const endpoints: WebhookEndpointView[] = await Promise.all(
    listed.items.map(async (endpoint) => {
      const page = await listDeliveries(services, claims, endpoint.id, { limit: RECENT_DELIVERIES });
      const deliveries = "error" in page ? [] : page.items;
      return {
        ...endpoint,
        deliveries: deliveries.map((delivery) => ({
          ...delivery,
          result: delivery.last_status != null ? `HTTP ${delivery.last_status}` : (delivery.last_error ?? "—"),
        })),
      };
    }),
  );
  return { endpoints };
}

async function render(c: Context<WebEnv>, extra: Omit<WebhooksView, "endpoints" | "eventTypes"> = {}, status: ContentfulStatusCode = 200) {
  const page = pageContext(c, PATH, true);
  const view = await readView(c);
  if ("error" in view) return refusedPage(c, page, view);
  return c.html(<WebhooksPage page={page} view={{ ...view, eventTypes: WEBHOOK_EVENT_TYPES, ...extra }} />, status);
}

/** Not an admin (or a session gone): the console's error page, with the contract's status. */
const refused = (c: Context<WebEnv>, failure: Failure) => refusedPage(c, pageContext(c, PATH, true), failure);

const back = (c: Context<WebEnv>, note?: string) => c.redirect(`/admin/webhooks${note ? "?saved=1" : ""}`, 303);

export const webhookPages = new Hono<WebEnv>()
  .get("/admin/webhooks", (c) => render(c, { notice: c.req.query("saved") ? c.get("t").webhooks.saved : undefined }))
  .post("/admin/webhooks", async (c) => {
    const body = await c.req.parseBody({ all: true });
    const text = (name: string) => (typeof body[name] === "string" ? (body[name] as string).trim() : "");
    const picked = ([] as unknown[]).concat(body.event_types ?? []).filter((value): value is string => typeof value === "string");
    const known = new Set<string>(["*", ...WEBHOOK_EVENT_TYPES]);
    const eventTypes = picked.includes("*") || picked.length === 0 ? ["*"] : picked.filter((type) => known.has(type));
    const form = { url: text("url"), description: text("description") };
    const created = await createEndpoint(
      deps(asApi(c)),
      c.get("auth"),
      { url: form.url, event_types: eventTypes, description: form.description || undefined },
      fetcher,
    );
    if ("error" in created) {
      if (created.error !== "validation_failed") return refused(c, created);
      // The URL's refusal says why (https, a private address…): operators need the reason itself.
      const reason = created.errors?.find((error) => error.path === "url")?.message;
      const errors = formErrors(c, created, ["url"], reason ? { url: `${c.get("t").webhooks.url}: ${reason}` } : {});
      return render(c, { errors, form }, 422);
    }
    return render(c, { secret: { endpointUrl: created.url, value: created.secret }, notice: c.get("t").webhooks.saved }, 201);
  })
  .post("/admin/webhooks/:id/enabled", async (c) => {
    const field = await readForm(c);
    const changed = await updateEndpoint(deps(asApi(c)), c.get("auth"), c.req.param("id"), { enabled: field("enabled") === "1" }, fetcher);
    return "error" in changed ? refused(c, changed) : back(c, "saved");
  })
  .post("/admin/webhooks/:id/rotate", async (c) => {
    const rotated = await rotateSecret(deps(asApi(c)), c.get("auth"), c.req.param("id"));
    if ("error" in rotated) return refused(c, rotated);
    return render(c, { secret: { endpointUrl: rotated.url, value: rotated.secret } });
  })
  .post("/admin/webhooks/:id/delete", async (c) => {
    const removed = await deleteEndpoint(deps(asApi(c)), c.get("auth"), c.req.param("id"));
    return typeof removed !== "string" ? refused(c, removed) : back(c, "saved");
  })
  .post("/admin/webhooks/deliveries/:id/replay", async (c) => {
    const services = deps(asApi(c));
    const delivery = await replayDelivery(services, c.get("auth"), c.req.param("id"));
    if ("error" in delivery) return refused(c, delivery);
    services.request.defer(enqueueWebhooks(c.env.WEBHOOK_QUEUE, [delivery.event_id]));
    return back(c, "saved");
  });
