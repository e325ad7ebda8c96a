import { createRoute } from "@hono/zod-openapi";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { clientInfo, requireAccessToken } from "../http/middleware";
import { bearerSecurity, createRouter, problemResponses, z } from "../http/openapi";
import { withLimitHeaders } from "../otp/requests";
import { codeField, requireCodeLength, TokenResponse } from "../otp/schemas";
import { phoneFromInput } from "../phone";
import { limitPerUser } from "../ratelimit/user";
import { MAX_PASSWORD_LENGTH } from "./policy";
import { changePasswordRequest, passwordLoginRequest } from "./requests";
import { resetPassword } from "./service";

// Bounded far above the policy's 128 code points so the policy (not the schema) names the rule.
const passwordField = z
  .string()
  .min(1)
  .max(MAX_PASSWORD_LENGTH * 8)
  .openapi({ description: "Any Unicode, spaces allowed; compared after NFKC normalisation.", format: "password" });
const phoneField = z.string().trim().min(1).max(64).openapi({ example: "+375291234567" });
const regionField = z
  .string()
  .regex(/^[A-Za-z]{2}$/, "must be an ISO 3166-1 alpha-2 code")
  .optional();

const loginRoute = createRoute({
  method: "post",
  path: "/v1/auth/password/login",
  tags: ["Passwords"],
  summary: "Sign in with phone and password",
  operationId: "passwordLogin",
  description:
    "Signs in with phone and password. The same `invalid_credentials` for an unknown phone, no password and a wrong one. 5 failures per phone in 15 minutes lock password sign-in for that phone (429 `too_many_attempts`).",
  request: {
    body: {
      content: {
        "application/json": {
          schema: z.object({ phone: phoneField, password: passwordField, region: regionField }).openapi("PasswordLogin"),
        },
      },
      required: true,
    },
  },
  responses: {
    200: { description: "Signed in", content: { "application/json": { schema: TokenResponse } } },
    ...problemResponses(400, 401, 403, 413, 415, 429, 503),
  },
});

const resetRoute = createRoute({
  method: "post",
  path: "/v1/auth/password/reset",
  tags: ["Passwords"],
  summary: "Set a new password with a reset_password code",
  operationId: "resetPassword",
  description:
    "Sets a new password with a `reset_password` code and signs in; every other session of the user is revoked. Wrong codes count exactly as on `verifyCode`.",
  request: {
    body: {
      content: {
        "application/json": {
          schema: z
            .object({ phone: phoneField, code: codeField, new_password: passwordField, region: regionField })
            .openapi("PasswordReset"),
        },
      },
      required: true,
    },
  },
  responses: {
    200: { description: "Password set; signed in", content: { "application/json": { schema: TokenResponse } } },
    ...problemResponses(400, 403, 413, 415, 429, 503),
  },
});

const changeRoute = createRoute({
  method: "put",
  path: "/v1/me/password",
  tags: ["Passwords"],
  summary: "Set the first password (recent sign-in) or change it (current_password)",
  operationId: "setPassword",
  description:
    "Sets the first password (needs a sign-in within 300 s) or changes it (`current_password` required). Every other session is revoked and the phone gets a notice. Refused passwords answer `weak_password` with the `rule`.",
  security: bearerSecurity,
  middleware: [requireAccessToken, limitPerUser("ME_LIMITER")],
  request: {
    body: {
      content: {
        "application/json": {
          schema: z.object({ new_password: passwordField, current_password: passwordField.optional() }).openapi("PasswordChange"),
        },
      },
      required: true,
    },
  },
  responses: { 204: { description: "Changed" }, ...problemResponses(400, 401, 403, 413, 415, 429, 503) },
});

export const passwordRoutes = createRouter()
  .openapi(loginRoute, async (c) => {
    const body = c.req.valid("json");
    const tokens = await passwordLoginRequest(c, body);
    c.header("Cache-Control", "no-store");
    return c.json(tokens, 200);
  })
  .openapi(resetRoute, async (c) => {
    const config = c.get("config");
    const body = c.req.valid("json");
    requireCodeLength(config, body.code);
    const phone = orThrow(phoneFromInput(config, body.phone, body.region));
    const tokens = withLimitHeaders(
      c,
      orThrow(await resetPassword(deps(c), { phone, code: body.code, newPassword: body.new_password, client: clientInfo(c) })),
    );
    c.header("Cache-Control", "no-store");
    return c.json(tokens, 200);
  })
  .openapi(changeRoute, async (c) => {
    const body = c.req.valid("json");
    await changePasswordRequest(deps(c), c.get("auth"), { newPassword: body.new_password, currentPassword: body.current_password });
    return c.body(null, 204);
  });
