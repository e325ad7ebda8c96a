import type { Context } from "hono";
import { randomToken } from "../crypto";
import { all } from "../db/client";
import { sql } from "../db/sql";
import type { AppEnv } from "../http/context";
import { deps, kvOf } from "../http/deps";
import { orThrow } from "../http/errors";
import { clientIp, unauthorized } from "../http/middleware";
import type { z } from "../http/openapi";
import { ApiError, type Failure, fail } from "../http/problem";
import { spendIpWindow } from "../limits/ip";
import { sendIpLimit } from "../limits/sliding";
import { updateProfile } from "../me/service";
import { requestCode, signInRequest } from "../otp/requests";
import { changePasswordRequest, passwordLoginRequest } from "../passwords/requests";
import { phoneFromInput } from "../phone";
import type { AccessClaims } from "../tokens/jwt";
import { type CompatRoute, compatHandler } from "./http";
import { recordFailure, refuseWhileIpLocked, refuseWhilePhoneLocked } from "./lockout";
import { compatRouter } from "./openapi";
import { NextStep, RegisterBody, RegisterStarted, SessionCodeBody, SessionPasswordBody, TokenPair, UserInfoBody } from "./schemas";
import { claimsOf, simpleJwtPair } from "./tokens";

// `register`: the multi-step Django flow. A `session_id` in KV (COMPAT_SESSION_TTL_SECONDS) carries
// the number from step to step; each step is the core's: send, verify, set password, profile,
// password login. KV reads its own writes at the location that wrote them, where a client's next
// step almost always lands; elsewhere a step may see "session expired" and the client starts over.

const route: CompatRoute = { dialect: "drf", fields: { phone: "mobile_number" } };

type Step = "otp" | "password" | "set_password" | "user_info";
type Flow = { phone: string; step: Step; claims?: AccessClaims; refresh?: string };

const flowKey = (id: string) => `compat:register:session:${id}`;
// The number a request of this flow is about, once known: its failures count against it too.
const phoneOf = new WeakMap<Request, string>();

async function saveFlow(c: Context<AppEnv>, id: string, flow: Flow) {
  await kvOf(c).put(flowKey(id), JSON.stringify(flow), { expirationTtl: c.get("config").COMPAT_SESSION_TTL_SECONDS });
}

const expired = () =>
  new ApiError(
    fail("validation_failed", {
      detail: "Invalid or expired session.",
      errors: [{ path: "session_id", message: "Invalid or expired session." }],
    }),
  );

/** Loads the flow at `step`, checking the IP and phone locks first. */
async function loadFlow(c: Context<AppEnv>, id: string, step: Step): Promise<Flow> {
  // The flow is only read here, so it is fetched alongside the IP lock: a locked IP still wins.
  const [, flow] = await Promise.all([refuseWhileIpLocked(c), kvOf(c).get<Flow>(flowKey(id), "json")]);
  if (!flow || flow.step !== step) throw expired();
  await refuseWhilePhoneLocked(c, flow.phone);
  phoneOf.set(c.req.raw, flow.phone);
  return flow;
}

/** Every refusal in this flow counts toward the three-failure lock (a lock refusal itself does not). */
async function countFailure(c: Context<AppEnv>, failure: Failure) {
  if (failure.lock) return;
  await recordFailure(c, phoneOf.get(c.req.raw));
}

/** A step after the first: runs with the body's flow loaded at step `at`; its refusals count too. */
function flowStep<S extends z.ZodType<{ session_id: string }>>(
  schema: S,
  at: Step,
  run: (c: Context<AppEnv>, input: z.output<S>, flow: Flow) => Promise<Response>,
) {
  return compatHandler(route, schema, async (c, input) => run(c, input, await loadFlow(c, input.session_id, at)), countFailure);
}

const register = compatHandler(
  route,
  RegisterBody,
  async (c, input) => {
    await refuseWhileIpLocked(c);
    const config = c.get("config");
    const phone = orThrow(phoneFromInput(config, input.mobile_number));
    phoneOf.set(c.req.raw, phone.e164);
    await refuseWhilePhoneLocked(c, phone.e164);
    const { db } = deps(c);
    const [user] = await all<{ password_hash: string | null }>(db, sql`SELECT password_hash FROM users WHERE phone = ${phone.e164}`);
    const id = randomToken(32);
    if (user?.password_hash) {
      // This answer tells that the number has a password (the old flow's design), so it counts
      // against the same IP windows as a send: probing numbers is as limited as sending codes.
      const spent = orThrow(await spendIpWindow(deps(c), sendIpLimit(config, clientIp(c)), "send_ip"));
      for (const [name, value] of Object.entries(spent)) c.header(name, value);
      await saveFlow(c, id, { phone: phone.e164, step: "password" });
      return c.json({ next_step: "password", session_id: id });
    }
    const sent = await requestCode(c, { phone: phone.e164, purpose: "login", captchaExempt: true, channel: "sms" });
    await saveFlow(c, id, { phone: phone.e164, step: "otp" });
    c.header("Cache-Control", "no-store");
    return c.json({
      next_step: "otp",
      session_id: id,
      ...(sent.dev_code ? { dev_code: sent.dev_code } : {}),
    } satisfies z.input<typeof RegisterStarted>);
  },
  countFailure,
);

const verifyOtp = flowStep(SessionCodeBody, "otp", async (c, input, flow) => {
  const tokens = await signInRequest(c, { phone: flow.phone, code: input.code });
  await saveFlow(c, input.session_id, {
    phone: flow.phone,
    step: "set_password",
    claims: claimsOf(tokens.access_token),
    refresh: tokens.refresh_token,
  });
  return c.json({ next_step: "set_password" });
});

const setPassword = flowStep(SessionPasswordBody, "set_password", async (c, input, flow) => {
  await changePasswordRequest(deps(c), flow.claims as AccessClaims, { newPassword: input.password });
  await saveFlow(c, input.session_id, { ...flow, step: "user_info" });
  return c.json({ next_step: "user_info" });
});

const userInfo = flowStep(UserInfoBody, "user_info", async (c, input, flow) => {
  const services = deps(c);
  const { config, db, now } = services;
  const claims = flow.claims as AccessClaims;
  const { session_id: _id, ...patch } = input;
  if (!(await updateProfile(db, config, claims, patch, now))) throw unauthorized();
  // The refresh token from the verified code never left the Worker: rotate it for the client.
  const pair = orThrow(await simpleJwtPair(services, flow.refresh as string));
  await kvOf(c).delete(flowKey(input.session_id));
  c.header("Cache-Control", "no-store");
  return c.json(pair satisfies z.input<typeof TokenPair>);
});

const login = flowStep(SessionPasswordBody, "password", async (c, input, flow) => {
  const tokens = await passwordLoginRequest(c, { phone: flow.phone, password: input.password });
  await kvOf(c).delete(flowKey(input.session_id));
  c.header("Cache-Control", "no-store");
  return c.json({ access: tokens.access_token, refresh: tokens.refresh_token } satisfies z.input<typeof TokenPair>);
});

const { app: registerApi, serve } = compatRouter("register");
// Every step can meet the three-failure lock (429) and a failing D1 or KV (503).
const STEP = [400, 403, 415, 429, 503];
serve("post", "/api/register/", register, {
  summary: "Start: a code is sent, or the number has a password",
  ok: RegisterStarted,
  errors: [...STEP, 502],
});
serve("post", "/api/verify-otp/", verifyOtp, { summary: "Verify the code", ok: NextStep, errors: STEP });
serve("post", "/api/set-password/", setPassword, { summary: "Set the password", ok: NextStep, errors: STEP });
serve("post", "/api/user-info/", userInfo, { summary: "Name and email; the tokens", ok: TokenPair, errors: [...STEP, 401] });
serve("post", "/api/login/", login, { summary: "Password sign-in", ok: TokenPair, errors: [...STEP, 401] });

export { registerApi };
