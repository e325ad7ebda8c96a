import { createRoute } from "@hono/zod-openapi";
import { cursorParam } from "../db/cursor";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { requireAccessToken } from "../http/middleware";
import { bearerSecurity, createRouter, problemResponses, z } from "../http/openapi";
import { WEBHOOK_EVENT_TYPES } from "./outbox";
import { enqueueWebhooks } from "./queue";
import { createEndpoint, deleteEndpoint, listDeliveries, listEndpoints, replayDelivery, rotateSecret, updateEndpoint } from "./service";

const admin = { tags: ["Webhooks"], security: bearerSecurity, middleware: requireAccessToken };
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const idParam = z.object({ id: z.string().min(1).max(64).openapi({ example: "3f1c2a9e-5b7d-4c11-9e2f-0a6b8c7d9e10" }) });

const EventTypes = z
  .array(z.enum(["*", ...WEBHOOK_EVENT_TYPES]))
  .min(1)
  .max(WEBHOOK_EVENT_TYPES.length + 1)
  .openapi({ description: 'Event types to receive; `["*"]` for all.', example: ["user.created", "referral.activated"] });
const Url = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .openapi({ example: "https://hooks.example.com/phone-auth" });

const Endpoint = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string().nullable(),
    event_types: z.array(z.string()),
    enabled: z.boolean(),
    previous_secret_expires_at: z
      .string()
      .nullable()
      .openapi({ description: "Until when the secret before the last rotation still signs" }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("WebhookEndpoint");
const EndpointWithSecret = Endpoint.extend({
  secret: z.string().openapi({ description: "The signing secret (`whsec_…`), shown only in this answer" }),
}).openapi("WebhookEndpointWithSecret");
const Delivery = z
  .object({
    id: z.string(),
    event_id: z.string().openapi({ description: "The `webhook-id` every attempt carries" }),
    event_type: z.string(),
    status: z.enum(["pending", "delivered", "dead"]),
    attempts: z.number().int(),
    last_status: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: z.string().nullable(),
    delivered_at: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi("WebhookDelivery");

const body = <T extends z.ZodType>(schema: T) => ({ body: { content: { "application/json": { schema } }, required: true } });

const createRouteDef = createRoute({
  ...admin,
  method: "post",
  operationId: "adminCreateWebhook",
  description:
    "Registers an operator endpoint for the listed event types (or `*`). The answer carries the `whsec_…` signing secret, shown only here. In production the URL must be https and must not be or resolve to a private, loopback or link-local address.",
  path: "/v1/admin/webhooks",
  summary: "Add a webhook endpoint (the secret is shown once)",
  request: body(z.object({ url: Url, event_types: EventTypes, description: z.string().max(200).optional() }).openapi("WebhookEndpointNew")),
  responses: { 201: json(EndpointWithSecret, "The endpoint and its secret"), ...problemResponses(400, 401, 403, 413, 415, 503) },
});
const listRoute = createRoute({
  ...admin,
  method: "get",
  operationId: "adminListWebhooks",
  description: "Every endpoint with its subscriptions and state; never the secrets.",
  path: "/v1/admin/webhooks",
  summary: "Webhook endpoints",
  responses: {
    200: json(z.object({ items: z.array(Endpoint), next_cursor: z.null() }), "The endpoints"),
    ...problemResponses(401, 403, 503),
  },
});
const patchRoute = createRoute({
  ...admin,
  method: "patch",
  operationId: "adminUpdateWebhook",
  description: "Changes `enabled`, `event_types` or `url` (a new URL is vetted like a new endpoint).",
  path: "/v1/admin/webhooks/{id}",
  summary: "Enable, disable, re-subscribe or move an endpoint",
  request: {
    params: idParam,
    ...body(
      z
        .object({ enabled: z.boolean().optional(), event_types: EventTypes.optional(), url: Url.optional() })
        .openapi("WebhookEndpointChange"),
    ),
  },
  responses: { 200: json(Endpoint, "The endpoint after the change"), ...problemResponses(400, 401, 403, 404, 413, 415, 503) },
});
const rotateRoute = createRoute({
  ...admin,
  method: "post",
  operationId: "adminRotateWebhookSecret",
  description:
    "Issues a new signing secret, shown only in this answer; deliveries carry signatures by both the new and the old secret for 24 hours.",
  path: "/v1/admin/webhooks/{id}/rotate-secret",
  summary: "Rotate the signing secret (the old one keeps signing beside it for 24 h)",
  request: { params: idParam },
  responses: { 200: json(EndpointWithSecret, "The endpoint and its new secret"), ...problemResponses(401, 403, 404, 503) },
});
const deleteRoute = createRoute({
  ...admin,
  method: "delete",
  operationId: "adminDeleteWebhook",
  description: "Removes the endpoint and its delivery records.",
  path: "/v1/admin/webhooks/{id}",
  summary: "Remove an endpoint and its deliveries",
  request: { params: idParam },
  responses: { 204: { description: "Removed" }, ...problemResponses(401, 403, 404, 503) },
});
const deliveriesRoute = createRoute({
  ...admin,
  method: "get",
  operationId: "adminListWebhookDeliveries",
  description: "An endpoint's deliveries newest first, optionally by status, with attempts and the last HTTP status or error.",
  path: "/v1/admin/webhooks/{id}/deliveries",
  summary: "An endpoint's deliveries, newest first",
  request: {
    params: idParam,
    query: z.object({
      status: z.enum(["pending", "delivered", "dead"]).optional(),
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    200: json(z.object({ items: z.array(Delivery), next_cursor: z.string().nullable() }), "A page of deliveries"),
    ...problemResponses(400, 401, 403, 404, 503),
  },
});
const replayRoute = createRoute({
  ...admin,
  method: "post",
  operationId: "adminReplayWebhookDelivery",
  description: "Makes a delivery due again with attempts from zero and the same `webhook-id`, and hands it to the Queue.",
  path: "/v1/admin/webhooks/deliveries/{id}/replay",
  summary: "Deliver a dead (or delivered) event again, with the same webhook-id",
  request: { params: idParam },
  responses: { 202: json(Delivery, "Queued again"), ...problemResponses(401, 403, 404, 503) },
});

const fetcher: typeof fetch = (input, init) => fetch(input, init);

export const webhookRoutes = createRouter()
  .openapi(createRouteDef, async (c) => {
    const created = orThrow(await createEndpoint(deps(c), c.get("auth"), c.req.valid("json"), fetcher));
    c.header("Cache-Control", "no-store");
    return c.json(created, 201);
  })
  .openapi(listRoute, async (c) => c.json(orThrow(await listEndpoints(deps(c), c.get("auth"))), 200))
  .openapi(patchRoute, async (c) =>
    c.json(orThrow(await updateEndpoint(deps(c), c.get("auth"), c.req.valid("param").id, c.req.valid("json"), fetcher)), 200),
  )
  .openapi(rotateRoute, async (c) => {
    const rotated = orThrow(await rotateSecret(deps(c), c.get("auth"), c.req.valid("param").id));
    c.header("Cache-Control", "no-store");
    return c.json(rotated, 200);
  })
  .openapi(deleteRoute, async (c) => {
    orThrow(await deleteEndpoint(deps(c), c.get("auth"), c.req.valid("param").id));
    return c.body(null, 204);
  })
  .openapi(deliveriesRoute, async (c) => {
    const query = c.req.valid("query");
    const cursor = orThrow(cursorParam(query.cursor));
    return c.json(orThrow(await listDeliveries(deps(c), c.get("auth"), c.req.valid("param").id, { ...query, cursor })), 200);
  })
  .openapi(replayRoute, async (c) => {
    const services = deps(c);
    const delivery = orThrow(await replayDelivery(services, c.get("auth"), c.req.valid("param").id));
    services.request.defer(enqueueWebhooks(c.env.WEBHOOK_QUEUE, [delivery.event_id]));
    return c.json(delivery, 202);
  });
