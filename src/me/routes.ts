import { createRoute } from "@hono/zod-openapi";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { requireAccessToken, unauthorized } from "../http/middleware";
import { bearerSecurity, createRouter, problemResponses, z } from "../http/openapi";
import { ApiError, fail } from "../http/problem";
import { withLimitHeaders } from "../otp/requests";
import { codeField, requireCodeLength } from "../otp/schemas";
import { reauthenticate } from "../passwords/service";
import { phoneFromInput } from "../phone";
import { limitPerUser } from "../ratelimit/user";
import { toUser } from "../users/profile";
import { ProfilePatchSchema, UserSchema } from "../users/schemas";
import { changePhone } from "./phone";
import { callerSql, deleteAccount, listSessions, readCaller, readProfile, revokeOwnSession, updateProfile } from "./service";

const SESSION_ID = "0b8f5d0e-3c1a-4f5e-9d2b-7a6c4e1f2a3b";

const SessionSchema = z
  .object({
    id: z.string().openapi({ example: SESSION_ID }),
    created_at: z.string(),
    last_used_at: z.string(),
    user_agent: z.string().nullable(),
    country: z.string().nullable(),
    current: z.boolean(),
  })
  .openapi("Session");

const authed = { security: bearerSecurity, middleware: [requireAccessToken, limitPerUser("ME_LIMITER")] };
const userResponse = { description: "The caller's profile", content: { "application/json": { schema: UserSchema } } };

const getMe = createRoute({
  method: "get",
  path: "/v1/me",
  tags: ["Profile"],
  summary: "Read the profile",
  operationId: "getMe",
  description: "The signed-in user, with referral counts. Checks in the same D1 read that the session is live and the user active.",
  ...authed,
  responses: { 200: userResponse, ...problemResponses(401, 429, 503) },
});

const patchMe = createRoute({
  method: "patch",
  path: "/v1/me",
  tags: ["Profile"],
  summary: "Edit names and email (null clears)",
  operationId: "updateMe",
  description: "Changes any of `first_name`, `last_name`, `email`; `null` clears a field. Answers the updated user.",
  ...authed,
  request: { body: { content: { "application/json": { schema: ProfilePatchSchema } }, required: true } },
  responses: { 200: userResponse, ...problemResponses(400, 401, 413, 415, 429, 503) },
});

const changePhoneRoute = createRoute({
  method: "post",
  path: "/v1/me/phone",
  tags: ["Profile"],
  summary: "Move the account to a new number (change_phone code sent to it)",
  operationId: "changePhone",
  description:
    "Moves the account to a new number, proven by a `change_phone` code sent to it. Needs a sign-in within 300 s or `current_password`. 409 `phone_taken` when the number belongs to another account.",
  ...authed,
  request: {
    body: {
      content: {
        "application/json": {
          schema: z
            .object({
              phone: z.string().trim().min(1).max(64),
              code: codeField,
              region: z
                .string()
                .regex(/^[A-Za-z]{2}$/, "must be an ISO 3166-1 alpha-2 code")
                .optional(),
              current_password: z.string().min(1).max(1024).optional(),
            })
            .openapi("PhoneChange"),
        },
      },
      required: true,
    },
  },
  responses: { 200: userResponse, ...problemResponses(400, 401, 403, 409, 413, 415, 429, 503) },
});

const deleteMe = createRoute({
  method: "delete",
  path: "/v1/me",
  tags: ["Profile"],
  summary: "Delete the account (needs a sign-in within 300 s, or current_password)",
  operationId: "deleteMe",
  description:
    "Deletes the account and every session. Needs a sign-in within 300 s or `current_password` (403 `reauthentication_required`).",
  ...authed,
  request: {
    body: {
      content: {
        "application/json": { schema: z.object({ current_password: z.string().min(1).max(1024).optional() }).openapi("AccountDeletion") },
      },
      required: false,
    },
  },
  responses: { 204: { description: "Deleted" }, ...problemResponses(401, 403, 413, 415, 429, 503) },
});

const getSessions = createRoute({
  method: "get",
  path: "/v1/me/sessions",
  tags: ["Sessions"],
  summary: "List live sessions",
  operationId: "listSessions",
  description: "The live sessions of the user, one per sign-in; `current` marks the one of this token.",
  ...authed,
  responses: {
    200: { description: "Sessions", content: { "application/json": { schema: z.object({ items: z.array(SessionSchema) }) } } },
    ...problemResponses(401, 429, 503),
  },
});

const deleteSession = createRoute({
  method: "delete",
  path: "/v1/me/sessions/{id}",
  tags: ["Sessions"],
  summary: "Revoke one session",
  operationId: "revokeSession",
  description:
    "Revokes one of the user's sessions (its refresh token stops working at once). 404 for an id that is not one of the user's live sessions.",
  ...authed,
  request: {
    params: z.object({
      id: z
        .string()
        .min(1)
        .max(64)
        .openapi({ param: { description: "The session's id (`id` in the list, `sid` in its access tokens).", example: SESSION_ID } }),
    }),
  },
  responses: { 204: { description: "Revoked" }, ...problemResponses(400, 401, 404, 429, 503) },
});

const iso = (ms: number) => new Date(ms).toISOString();

export const meRoutes = createRouter()
  .openapi(getMe, async (c) => {
    const { config, db, now } = deps(c);
    const row = await readProfile(db, config, c.get("auth"), now);
    if (!row) throw unauthorized();
    return c.json(toUser(row), 200);
  })
  .openapi(patchMe, async (c) => {
    const { config, db, now } = deps(c);
    const row = await updateProfile(db, config, c.get("auth"), c.req.valid("json"), now);
    if (!row) throw unauthorized();
    return c.json(toUser(row), 200);
  })
  .openapi(deleteMe, async (c) => {
    const services = deps(c);
    const claims = c.get("auth");
    const caller = orThrow(await readCaller(services, claims));
    const body = c.req.header("Content-Type") ? c.req.valid("json") : {};
    const proven = orThrow(await reauthenticate(services, claims, caller, body.current_password));
    if (!(await deleteAccount(services, claims, caller.phone, proven.refund))) throw unauthorized();
    return c.body(null, 204);
  })
  .openapi(changePhoneRoute, async (c) => {
    const services = deps(c);
    const { config, now } = services;
    const claims = c.get("auth");
    const body = c.req.valid("json");
    requireCodeLength(config, body.code);
    const caller = orThrow(await readCaller(services, claims));
    const phone = orThrow(phoneFromInput(config, body.phone, body.region));
    const { row } = withLimitHeaders(
      c,
      orThrow(
        await changePhone(services, {
          claims,
          caller,
          callerGuard: callerSql(config, claims, now),
          phone,
          code: body.code,
          currentPassword: body.current_password,
        }),
      ),
    );
    return c.json(toUser(row), 200);
  })
  .openapi(getSessions, async (c) => {
    const { config, db, now } = deps(c);
    const claims = c.get("auth");
    const rows = await listSessions(db, config, claims, now);
    if (!rows) throw unauthorized();
    const items = rows.map((row) => ({
      id: row.id,
      created_at: iso(row.created_at),
      last_used_at: iso(row.last_used_at),
      user_agent: row.user_agent,
      country: row.country,
      current: row.id === claims.sid,
    }));
    return c.json({ items }, 200);
  })
  .openapi(deleteSession, async (c) => {
    const outcome = await revokeOwnSession(deps(c), c.get("auth"), c.req.valid("param").id);
    if (outcome === "unauthorized") throw unauthorized();
    if (outcome === "not_found") throw new ApiError(fail("not_found", { detail: "No such session." }));
    return c.body(null, 204);
  });
