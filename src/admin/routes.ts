import { createRoute } from "@hono/zod-openapi";
import { EVENT_TYPES } from "../audit/events";
import { cursorParam } from "../db/cursor";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { requireAccessToken } from "../http/middleware";
import { bearerSecurity, createRouter, problemResponses, z } from "../http/openapi";
import { UserSchema } from "../users/schemas";
import { getUser, listEvents, listUsers, stats, updateUser } from "./service";

const limit = z.coerce.number().int().min(1).max(100).default(20);
const cursor = z.string().max(200).optional();

const AdminUser = UserSchema.extend({ is_active: z.boolean() }).openapi("AdminUser");
const AdminUserDetail = AdminUser.extend({
  invited_by: z.object({ id: z.string(), phone: z.string().nullable() }).nullable(),
  sessions: z.number().int().openapi({ description: "Live sessions" }),
}).openapi("AdminUserDetail");
const AuditEvent = z
  .object({
    id: z.string(),
    type: z.enum(EVENT_TYPES),
    created_at: z.string(),
    user_id: z.string().nullable(),
    phone: z.string().nullable().openapi({ description: "Masked" }),
    phone_hash: z
      .string()
      .nullable()
      .openapi({ description: "Keyed hash of the phone (HMAC under a subkey of PASSWORD_PEPPER): the same for every event of one phone" }),
    ip: z.string().nullable(),
    country: z.string().nullable(),
    request_id: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi("AuditEvent");

const admin = { tags: ["Admin"], security: bearerSecurity, middleware: requireAccessToken };
const idParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { description: "The user's id.", example: "5d7c1e2a-9b4f-4a61-8e3d-2f0a6b9c4d17" } }),
});
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });

const usersRoute = createRoute({
  ...admin,
  method: "get",
  path: "/v1/admin/users",
  summary: "Search users by phone prefix (any formatting) or invite code",
  operationId: "adminListUsers",
  description:
    "Searches users by phone prefix (any formatting) or invite code, newest first, with full phones. Recorded as an `admin_viewed` audit event.",
  request: { query: z.object({ q: z.string().max(64).optional(), limit, cursor }) },
  responses: {
    200: json(z.object({ items: z.array(AdminUser), next_cursor: z.string().nullable() }), "A page of users"),
    ...problemResponses(400, 401, 403, 503),
  },
});

const userRoute = createRoute({
  ...admin,
  method: "get",
  path: "/v1/admin/users/{id}",
  summary: "One user, with inviter and live session count",
  operationId: "adminGetUser",
  description: "One user with `is_active`, the inviter and the number of live sessions. Recorded as an `admin_viewed` audit event.",
  request: { params: idParam },
  responses: { 200: json(AdminUserDetail, "The user"), ...problemResponses(400, 401, 403, 404, 503) },
});

const patchRoute = createRoute({
  ...admin,
  method: "patch",
  path: "/v1/admin/users/{id}",
  summary: "Activate/deactivate a user or change the role",
  operationId: "adminUpdateUser",
  description:
    "Activates or deactivates a user (deactivating revokes every session) or changes the role. An admin cannot deactivate or demote themselves (409 `self_lockout`).",
  request: {
    params: idParam,
    body: {
      content: {
        "application/json": {
          schema: z.object({ is_active: z.boolean().optional(), role: z.enum(["user", "admin"]).optional() }).openapi("AdminUserChange"),
        },
      },
      required: true,
    },
  },
  responses: { 200: json(AdminUserDetail, "The user after the change"), ...problemResponses(400, 401, 403, 404, 409, 413, 415, 503) },
});

const eventsRoute = createRoute({
  ...admin,
  method: "get",
  path: "/v1/admin/events",
  summary: "The audit trail, newest first",
  operationId: "adminListEvents",
  description:
    "The audit trail, newest first, filtered by `type`, `phone` (matched through its keyed hash) or `user_id`. No codes, tokens or full phones in it.",
  request: {
    query: z.object({
      type: z.enum(EVENT_TYPES).optional(),
      phone: z.string().max(64).optional(),
      user_id: z.string().max(64).optional(),
      limit,
      cursor,
    }),
  },
  responses: {
    200: json(z.object({ items: z.array(AuditEvent), next_cursor: z.string().nullable() }), "A page of events"),
    ...problemResponses(400, 401, 403, 503),
  },
});

const statsRoute = createRoute({
  ...admin,
  method: "get",
  path: "/v1/admin/stats",
  summary: "Users, sign-ups and codes today, verify success ratio",
  operationId: "adminGetStats",
  description: "Users in total, sign-ups, codes sent and verified today, and the verify success ratio.",
  responses: {
    200: json(
      z.object({
        users_total: z.number().int(),
        signups_today: z.number().int(),
        codes_sent_today: z.number().int(),
        codes_verified_today: z.number().int(),
        verify_success_ratio: z.number(),
      }),
      "Counters",
    ),
    ...problemResponses(401, 403, 503),
  },
});

const parseCursor = (raw: string | undefined) => orThrow(cursorParam(raw));

export const adminRoutes = createRouter()
  .openapi(usersRoute, async (c) => {
    const query = c.req.valid("query");
    return c.json(
      orThrow(await listUsers(deps(c), c.get("auth"), { q: query.q, limit: query.limit, cursor: parseCursor(query.cursor) })),
      200,
    );
  })
  .openapi(userRoute, async (c) => c.json(orThrow(await getUser(deps(c), c.get("auth"), c.req.valid("param").id)), 200))
  .openapi(patchRoute, async (c) =>
    c.json(orThrow(await updateUser(deps(c), c.get("auth"), c.req.valid("param").id, c.req.valid("json"))), 200),
  )
  .openapi(eventsRoute, async (c) => {
    const query = c.req.valid("query");
    const page = await listEvents(deps(c), c.get("auth"), {
      type: query.type,
      phone: query.phone,
      userId: query.user_id,
      limit: query.limit,
      cursor: parseCursor(query.cursor),
    });
    return c.json(orThrow(page), 200);
  })
  .openapi(statsRoute, async (c) => c.json(orThrow(await stats(deps(c), c.get("auth"))), 200));
