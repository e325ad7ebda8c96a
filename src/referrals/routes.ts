import { createRoute } from "@hono/zod-openapi";
import { cursorParam } from "../db/cursor";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { requireAccessToken, unauthorized } from "../http/middleware";
import { bearerSecurity, createRouter, problemResponses, z } from "../http/openapi";
import { callerSql } from "../me/service";
import { limitPerUser } from "../ratelimit/user";
import { listReferrals } from "./list";
import { activateInvite } from "./service";

const ActivateRequest = z
  .object({
    invite_code: z.string().min(1).max(32).openapi({ description: "Case-insensitive; surrounding spaces ignored.", example: "K7M2QX" }),
  })
  .openapi("ActivateInviteRequest");

const ActivateResponse = z
  .object({
    activated_invite_code: z.string(),
    inviter: z.object({ phone: z.string().openapi({ example: "+37529*****67" }), joined_at: z.string() }),
    referral_bonus: z.object({ points: z.number().int(), level: z.literal(1) }),
  })
  .openapi("ActivateInviteResponse");

const ReferralList = z
  .object({
    items: z.array(
      z
        .object({ phone: z.string().nullable(), joined_at: z.string(), status: z.enum(["active", "inactive", "deleted"]) })
        .openapi("Referral"),
    ),
    next_cursor: z.string().nullable(),
  })
  .openapi("ReferralList");

const activateRoute = createRoute({
  method: "post",
  path: "/v1/me/invite",
  tags: ["Referrals"],
  summary: "Activate someone's invite code (once per account)",
  operationId: "activateInvite",
  description:
    "Activates someone else's invite code, once per account; the inviter earns the referral bonus. Refusals: `invite_not_found`, `own_invite_code`, `invite_already_activated`, `invite_inactive`, `invite_cycle`.",
  security: bearerSecurity,
  middleware: [requireAccessToken, limitPerUser("ME_LIMITER"), limitPerUser("INVITE_LIMITER")],
  request: { body: { content: { "application/json": { schema: ActivateRequest } }, required: true } },
  responses: {
    200: { description: "Activated", content: { "application/json": { schema: ActivateResponse } } },
    ...problemResponses(400, 401, 404, 409, 413, 415, 429, 503),
  },
});

const listRoute = createRoute({
  method: "get",
  path: "/v1/me/referrals",
  tags: ["Referrals"],
  summary: "Direct referrals, newest first (keyset pagination)",
  operationId: "listReferrals",
  description: "The user's direct referrals, newest first, with masked phones. Pass `next_cursor` back as `cursor` for the next page.",
  security: bearerSecurity,
  middleware: [requireAccessToken, limitPerUser("ME_LIMITER")],
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    200: { description: "A page", content: { "application/json": { schema: ReferralList } } },
    ...problemResponses(400, 401, 429, 503),
  },
});

export const referralRoutes = createRouter()
  .openapi(activateRoute, async (c) => {
    const services = deps(c);
    const { config, now } = services;
    const claims = c.get("auth");
    const result = await activateInvite(services, {
      callerId: claims.sub,
      callerGuard: callerSql(config, claims, now),
      rawCode: c.req.valid("json").invite_code,
    });
    if (result === null) throw unauthorized();
    return c.json(orThrow(result), 200);
  })
  .openapi(listRoute, async (c) => {
    const { config, db, now } = deps(c);
    const claims = c.get("auth");
    const query = c.req.valid("query");
    const cursor = orThrow(cursorParam(query.cursor));
    const page = await listReferrals(db, { callerId: claims.sub, callerGuard: callerSql(config, claims, now), limit: query.limit, cursor });
    if (!page) throw unauthorized();
    return c.json(page, 200);
  });
