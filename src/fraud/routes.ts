import { createRoute } from "@hono/zod-openapi";
import { cursorParam } from "../db/cursor";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { requireAccessToken } from "../http/middleware";
import { bearerSecurity, createRouter, problemResponses, z } from "../http/openapi";
import { ApiError, fail } from "../http/problem";
import { analyticsReport, GROUPINGS } from "./analytics";
import { BLOCK_SECONDS, blockDestination, COUNTRY_PATTERN, liftBlock, listBlocks, PREFIX_PATTERN, REASON_MAX } from "./blocks";
import { ANALYTICS_DAYS } from "./rollups";

const admin = { tags: ["Fraud guard"], security: bearerSecurity, middleware: requireAccessToken };
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });

const Block = z
  .object({
    id: z.string(),
    scope: z.enum(["prefix", "country"]),
    value: z.string().openapi({ description: "The prefix (E.164 without its last 4 digits) or the ISO country code" }),
    reason: z.string().nullable(),
    source: z.string().openapi({ description: "`manual` (an admin) or `auto` (the fraud guard)" }),
    created_at: z.string(),
    until: z.string(),
    lifted_at: z.string().nullable(),
    active: z.boolean(),
    tripped: z
      .object({
        sends: z.number().int().openapi({ description: "Codes sent to the destination in FRAUD_WINDOW_SECONDS" }),
        judged: z.number().int().openapi({ description: "Of those, the verified ones and those older than FRAUD_GRACE_SECONDS" }),
        verified: z.number().int(),
      })
      .nullable()
      .openapi({ description: "For an automatic block, the numbers that tripped it; null for a manual one" }),
  })
  .openapi("FraudBlock");

const NewBlock = z
  .object({
    prefix: z
      .string()
      .regex(PREFIX_PATTERN, "must be + and 4 to 14 digits (a number without its last digits)")
      .optional()
      .openapi({ example: "+88213" }),
    country: z.string().regex(COUNTRY_PATTERN, "must be an ISO 3166-1 alpha-2 code").optional().openapi({ example: "KP" }),
    seconds: z
      .number()
      .int()
      .min(BLOCK_SECONDS.min)
      .max(BLOCK_SECONDS.max)
      .optional()
      .openapi({ description: "Default FRAUD_BLOCK_SECONDS (43200)" }),
    reason: z.string().max(REASON_MAX).optional(),
  })
  .openapi("FraudBlockNew");

const listRoute = createRoute({
  ...admin,
  method: "get",
  path: "/v1/admin/fraud/blocks",
  operationId: "adminListFraudBlocks",
  summary: "Active and recent blocks",
  description: "Blocks of a number prefix or a country, newest first, active or not.",
  request: {
    query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20), cursor: z.string().max(200).optional() }),
  },
  responses: {
    200: json(z.object({ items: z.array(Block), next_cursor: z.string().nullable() }), "A page of blocks"),
    ...problemResponses(400, 401, 403, 503),
  },
});

const createRouteDef = createRoute({
  ...admin,
  method: "post",
  path: "/v1/admin/fraud/blocks",
  operationId: "adminCreateFraudBlock",
  summary: "Block a prefix or a country",
  description:
    "Codes to the destination answer 403 `destination_blocked` until the block ends or is lifted. Give exactly one of `prefix` and `country`. Audited, and a `destination.blocked` webhook event.",
  request: { body: { content: { "application/json": { schema: NewBlock } }, required: true } },
  responses: { 201: json(Block, "The block"), ...problemResponses(400, 401, 403, 413, 415, 503) },
});

const liftRoute = createRoute({
  ...admin,
  method: "delete",
  path: "/v1/admin/fraud/blocks/{id}",
  operationId: "adminLiftFraudBlock",
  summary: "Lift a block",
  description: "Ends an active block at once. Audited, and a `destination.unblocked` webhook event.",
  request: { params: z.object({ id: z.string().min(1).max(64).openapi({ example: "3f1c2a9e-5b7d-4c11-9e2f-0a6b8c7d9e10" }) }) },
  responses: { 204: { description: "Lifted" }, ...problemResponses(401, 403, 404, 503) },
});

const AnalyticsItem = z
  .object({
    key: z.string().openapi({ description: "The group: an ISO time (day, hour), a country, a prefix, a channel or a provider" }),
    attempts: z.number().int().openapi({ description: "Provider calls, failovers included" }),
    sent: z.number().int().openapi({ description: "Codes a provider accepted" }),
    delivered: z.number().int().openapi({ description: "Attempts a receipt reported delivered" }),
    failed: z.number().int().openapi({ description: "Attempts that failed at the provider or by receipt" }),
    verified: z.number().int().openapi({ description: "Codes verified (counted in the hour they were sent)" }),
    conversion: z.number().nullable().openapi({ description: "verified ÷ sent; null with nothing sent", example: 0.82 }),
    p50_seconds_to_verify: z.number().nullable().openapi({ example: 24.5 }),
    p90_seconds_to_verify: z.number().nullable().openapi({ example: 71 }),
    cost: z.number().openapi({ description: "DELIVERY_PRICES of every attempt, in the operator's currency unit" }),
  })
  .openapi("AnalyticsItem");

const isoTime = z.iso.datetime({ offset: true, error: "must be an ISO-8601 date-time" });

const analyticsRoute = createRoute({
  ...admin,
  method: "get",
  path: "/v1/admin/analytics",
  operationId: "adminAnalytics",
  summary: "Delivery and verification analytics",
  description:
    "Codes sent, delivered, failed and verified, conversion, time to verify (p50/p90, estimated from a histogram) and cost, from the hourly counters, for the hours starting in [`from`, `to`) grouped by `group_by`. Defaults: the last 7 days, by day.",
  request: {
    query: z.object({
      from: isoTime.optional().openapi({ example: "2026-12-01T00:00:00Z" }),
      to: isoTime.optional().openapi({ example: "2026-12-08T00:00:00Z" }),
      group_by: z.enum(GROUPINGS).optional().openapi({ description: "Default `day`" }),
      limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({
        description: "The most groups for country, prefix, channel and provider (most codes sent first); day and hour answer every bucket",
      }),
    }),
  },
  responses: {
    200: json(z.object({ items: z.array(AnalyticsItem) }), "The groups"),
    ...problemResponses(400, 401, 403, 503),
  },
});

export const fraudRoutes = createRouter()
  .openapi(analyticsRoute, async (c) => {
    const query = c.req.valid("query");
    const services = deps(c);
    const to = query.to ? Date.parse(query.to) : services.now;
    const from = query.from ? Date.parse(query.from) : to - 7 * 86_400_000;
    if (!(from < to) || to - from > ANALYTICS_DAYS * 86_400_000) {
      const message = `from must be before to, at most ${ANALYTICS_DAYS} days apart`;
      throw new ApiError(fail("validation_failed", { detail: message, errors: [{ path: "from", message }] }));
    }
    c.header("Cache-Control", "no-store");
    const report = await analyticsReport(services, c.get("auth"), { from, to, groupBy: query.group_by ?? "day", limit: query.limit });
    return c.json(orThrow(report), 200);
  })
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const cursor = orThrow(cursorParam(query.cursor));
    c.header("Cache-Control", "no-store");
    return c.json(orThrow(await listBlocks(deps(c), c.get("auth"), { limit: query.limit, cursor })), 200);
  })
  .openapi(createRouteDef, async (c) => {
    const body = c.req.valid("json");
    if ((body.prefix === undefined) === (body.country === undefined)) {
      const message = "give exactly one of prefix and country";
      throw new ApiError(fail("validation_failed", { detail: message, errors: [{ path: "prefix", message }] }));
    }
    const scope = body.prefix !== undefined ? "prefix" : "country";
    const value = body.prefix ?? (body.country as string).toUpperCase();
    const block = orThrow(await blockDestination(deps(c), c.get("auth"), { scope, value, seconds: body.seconds, reason: body.reason }));
    return c.json(block, 201);
  })
  .openapi(liftRoute, async (c) => {
    orThrow(await liftBlock(deps(c), c.get("auth"), c.req.valid("param").id));
    return c.body(null, 204);
  });
