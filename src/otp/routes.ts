import { createRoute } from "@hono/zod-openapi";
import { type SQL, sql } from "../db/sql";
import { bearerToken, unauthorized } from "../http/middleware";
import { createRouter, problemResponses } from "../http/openapi";
import { callerSql } from "../me/service";
import { verifyAccessToken } from "../tokens/jwt";
import { requestCode, signInRequest } from "./requests";
import { SendCodeRequest, SendCodeResponse, TokenResponse, VerifyCodeRequest } from "./schemas";

const sendCodeRoute = createRoute({
  method: "post",
  path: "/v1/auth/otp",
  tags: ["Sign-in"],
  summary: "Send a one-time code (SMS, WhatsApp, Telegram or a call)",
  request: { body: { content: { "application/json": { schema: SendCodeRequest } }, required: true } },
  operationId: "sendCode",
  description:
    "Sends a fresh one-time code to the phone (any earlier code for the same phone and purpose stops working). `purpose` defaults to `login`; `change_phone` needs a bearer token. Answers the same for known and unknown phones. Limits: 1 per resend cooldown, 5 per hour and 10 per day per phone; 5 per minute and 50 per day per client IP. In the development sandbox the answer has `dev_code`.",
  responses: {
    200: { description: "Code sent", content: { "application/json": { schema: SendCodeResponse } } },
    ...problemResponses(400, 401, 403, 409, 413, 415, 429, 502, 503),
  },
});

const verifyCodeRoute = createRoute({
  method: "post",
  path: "/v1/auth/otp/verify",
  tags: ["Sign-in"],
  summary: "Verify a code and receive tokens (creates the user on first sign-in)",
  operationId: "verifyCode",
  description:
    "Checks the code and answers a token pair. The first verification of a phone creates the user (`is_new_user: true`), with an optional `invite_code`. A wrong code answers `invalid_code` with `attempts_left`; too many wrong guesses burn the code or lock the phone (429 `too_many_attempts`).",
  request: { body: { content: { "application/json": { schema: VerifyCodeRequest } }, required: true } },
  responses: {
    200: { description: "Signed in", content: { "application/json": { schema: TokenResponse } } },
    ...problemResponses(400, 403, 404, 409, 413, 415, 429, 503),
  },
});

export const otpRoutes = createRouter()
  .openapi(sendCodeRoute, async (c) => {
    const body = c.req.valid("json");
    let caller: { userId: string; live: SQL } | undefined;
    if (body.purpose === "change_phone") {
      const token = bearerToken(c);
      const claims = token ? await verifyAccessToken(c.get("config"), token) : null;
      if (!claims) throw unauthorized();
      // The token's session must be live: checked inside the send's own batch (one D1 round trip).
      caller = { userId: claims.sub, live: sql`EXISTS (SELECT 1 FROM users u WHERE ${callerSql(c.get("config"), claims, Date.now())})` };
    }
    const sent = await requestCode(c, {
      phone: body.phone,
      region: body.region,
      purpose: body.purpose ?? "login",
      caller,
      turnstileToken: body.turnstile_token,
      channel: body.channel,
      locale: body.locale,
    });
    c.header("Cache-Control", "no-store");
    return c.json(sent, 200);
  })
  .openapi(verifyCodeRoute, async (c) => {
    const body = c.req.valid("json");
    const tokens = await signInRequest(c, {
      phone: body.phone,
      region: body.region,
      code: body.code,
      inviteCode: body.invite_code,
      turnstileToken: body.turnstile_token ?? "",
    });
    c.header("Cache-Control", "no-store");
    return c.json(tokens, 200);
  });
