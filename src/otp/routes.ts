import { createRoute } from "@hono/zod-openapi";
import { checkTurnstile } from "../abuse/turnstile";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { bearerToken, clientInfo, clientIp, unauthorized } from "../http/middleware";
import { createRouter, problemResponses } from "../http/openapi";
import { ApiError, type Failure, fail } from "../http/problem";
import { parsePhone, phoneFromInput } from "../phone";
import { limitByIp } from "../ratelimit/ip";
import { verifyAccessToken } from "../tokens/jwt";
import { SendCodeRequest, SendCodeResponse, TokenResponse, VerifyCodeRequest } from "./schemas";
import { refuseSend, sendCode } from "./service";
import { signInWithCode } from "./signin";

const sendCodeRoute = createRoute({
  method: "post",
  path: "/v1/auth/otp",
  tags: ["Sign-in"],
  summary: "Send a one-time code by SMS",
  request: { body: { content: { "application/json": { schema: SendCodeRequest } }, required: true } },
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
  request: { body: { content: { "application/json": { schema: VerifyCodeRequest } }, required: true } },
  responses: {
    200: { description: "Signed in", content: { "application/json": { schema: TokenResponse } } },
    ...problemResponses(400, 403, 404, 409, 413, 415, 429, 503),
  },
});

export const otpRoutes = createRouter()
  .openapi(sendCodeRoute, async (c) => {
    const config = c.get("config");
    const body = c.req.valid("json");
    let userId: string | undefined;
    if (body.purpose === "change_phone") {
      const token = bearerToken(c);
      const claims = token ? await verifyAccessToken(config, token) : null;
      if (!claims) throw unauthorized();
      userId = claims.sub;
    }
    const services = deps(c);
    const parsed = phoneFromInput(config, body.phone, body.region);
    if ("error" in parsed && parsed.error === "country_not_allowed") {
      // The number parsed (only its country is refused): record whose send it was.
      const refused = parsePhone(body.phone, body.region?.toUpperCase() ?? config.DEFAULT_REGION);
      if (refused) refuseSend(services, { phone: refused.e164, purpose: body.purpose }, parsed);
    }
    const phone = orThrow(parsed);
    const refuse = (failure: Failure) => refuseSend(services, { phone: phone.e164, purpose: body.purpose }, failure);
    const captcha = await checkTurnstile(config, body.turnstile_token, clientIp(c), (input, init) => fetch(input, init));
    if (captcha) throw new ApiError(refuse(captcha));
    try {
      await limitByIp(c, "otp", [
        { limit: config.OTP_IP_PER_MINUTE, seconds: 60 },
        { limit: config.OTP_IP_PER_DAY, seconds: 86_400 },
      ]);
    } catch (error) {
      if (error instanceof ApiError) refuse(error.failure);
      throw error;
    }
    const sent = orThrow(await sendCode(services, { phone, purpose: body.purpose, userId }));
    c.header("Cache-Control", "no-store");
    return c.json(sent, 200);
  })
  .openapi(verifyCodeRoute, async (c) => {
    const config = c.get("config");
    const body = c.req.valid("json");
    if (body.code.length !== config.OTP_LENGTH) {
      const message = `must be ${config.OTP_LENGTH} digits`;
      throw new ApiError(fail("validation_failed", { detail: `code: ${message}`, errors: [{ path: "code", message }] }));
    }
    const phone = orThrow(phoneFromInput(config, body.phone, body.region));
    await limitByIp(c, "verify", [{ limit: config.VERIFY_IP_PER_MINUTE, seconds: 60 }]);
    const tokens = orThrow(
      await signInWithCode(deps(c), { phone: phone.e164, code: body.code, client: clientInfo(c), inviteCode: body.invite_code }),
    );
    c.header("Cache-Control", "no-store");
    return c.json(tokens, 200);
  });
