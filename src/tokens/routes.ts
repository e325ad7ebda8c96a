import { createRoute } from "@hono/zod-openapi";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { bearerToken, unauthorized } from "../http/middleware";
import { bearerSecurity, createRouter, problemResponses, z } from "../http/openapi";
import { ApiError, fail } from "../http/problem";
import { readCaller } from "../me/service";
import { TokenResponse } from "../otp/schemas";
import { toUser } from "../users/profile";
import { verifyAccessToken } from "./jwt";
import { tokenResponse } from "./response";
import { revokeByRefreshToken, revokeUserSessions, rotateRefreshToken } from "./sessions";

const refreshField = z.string().min(1).max(512);

const refreshRoute = createRoute({
  method: "post",
  path: "/v1/auth/token",
  tags: ["Tokens"],
  summary: "Rotate a refresh token for a new token pair",
  operationId: "refreshTokens",
  description:
    "Rotates the refresh token: answers a new pair and retires the one sent. A rotated token presented again (after a short grace for racing tabs) answers `token_reused` and revokes the whole session family.",
  request: {
    body: {
      content: { "application/json": { schema: z.object({ refresh_token: refreshField }).openapi("RefreshRequest") } },
      required: true,
    },
  },
  responses: {
    200: { description: "New token pair", content: { "application/json": { schema: TokenResponse } } },
    ...problemResponses(400, 401, 413, 415, 503),
  },
});

const logoutRoute = createRoute({
  method: "post",
  path: "/v1/auth/logout",
  tags: ["Tokens"],
  summary: "Revoke the session of a refresh token, or (with a bearer token and `all`) every session",
  operationId: "logout",
  description:
    "With `refresh_token`: revokes that session (an unknown or already revoked token is not an error). With a bearer token and `all: true`: revokes every session of the user.",
  security: [...bearerSecurity, {}],
  request: {
    body: {
      content: {
        "application/json": {
          schema: z
            .object({ refresh_token: refreshField.optional(), all: z.boolean().optional() })
            .refine((body) => body.refresh_token !== undefined || body.all === true, {
              message: "send refresh_token, or all: true with a bearer token",
              path: ["refresh_token"],
            })
            .openapi("LogoutRequest"),
        },
      },
      required: true,
    },
  },
  responses: { 204: { description: "Revoked" }, ...problemResponses(400, 401, 413, 415, 503) },
});

export const tokenRoutes = createRouter()
  .openapi(refreshRoute, async (c) => {
    const services = deps(c);
    const { config, now } = services;
    const rotated = orThrow(await rotateRefreshToken(services, c.req.valid("json").refresh_token));
    c.header("Cache-Control", "no-store");
    const body = await tokenResponse(
      config,
      { session: rotated.session, refreshToken: rotated.refreshToken, isNewUser: false, user: toUser(rotated.profile) },
      now,
    );
    return c.json(body, 200);
  })
  .openapi(logoutRoute, async (c) => {
    const services = deps(c);
    const { config } = services;
    const body = c.req.valid("json");
    if (body.all) {
      const token = bearerToken(c);
      const claims = token ? await verifyAccessToken(config, token) : null;
      if (!claims) throw unauthorized();
      // The token's own session must still be live: a revoked session's token cannot do this.
      const caller = await readCaller(services, claims);
      if ("error" in caller) throw unauthorized();
      await revokeUserSessions(services, caller);
    } else if (body.refresh_token) {
      // Like RFC 7009: an unknown or already revoked token is not an error.
      await revokeByRefreshToken(services, body.refresh_token);
    } else {
      throw new ApiError(fail("validation_failed", { detail: "Send refresh_token." }));
    }
    return c.body(null, 204);
  });
