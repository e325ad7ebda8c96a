import { deps } from "../http/deps";
import type { z } from "../http/openapi";
import { ApiError, fail } from "../http/problem";
import { readProfile } from "../me/service";
import { requestCode, signInRequest } from "../otp/requests";
import { parsePhone } from "../phone";
import { limitUser } from "../ratelimit/user";
import { toUser, type User } from "../users/profile";
import { type CompatRoute, compatHandler } from "./http";
import { compatRouter } from "./openapi";
import {
  AuthProfile,
  AuthSent,
  AuthSignedIn,
  AuthVerifyBody,
  NoBody,
  PhoneNumberBody,
  RefreshBody,
  TokenPair,
  UsrSent,
  UsrSignedIn,
  UsrVerifyBody,
} from "./schemas";
import { compatClaims, simpleJwtPair } from "./tokens";

// `auth` and `usr`: two DRF + SimpleJWT apps with the same send/verify pair under different names,
// plus SimpleJWT's refresh endpoint (shared with `register`). Errors are DRF's `{ "detail" }` or
// `{ "<field>": ["…"] }`.

/** Django's user object: `username` is the phone, and blank text fields are "" rather than null. */
function djangoUser(user: Pick<User, "id" | "phone" | "first_name" | "last_name" | "email">) {
  return {
    id: user.id,
    phone_number: user.phone,
    username: user.phone,
    first_name: user.first_name ?? "",
    last_name: user.last_name ?? "",
    email: user.email ?? "",
  };
}

const authUser = (user: Pick<User, "id" | "phone" | "first_name" | "last_name" | "email" | "created_at">) => {
  const { email: _email, ...rest } = djangoUser(user);
  return { ...rest, is_phone_verified: true, date_joined: user.created_at };
};

// --- auth: /api/auth/send-otp/, /api/auth/verify-otp/, /api/auth/profile/

const authRoute: CompatRoute = { dialect: "drf", fields: { phone: "phone_number", code: "otp_code" } };

const authSend = compatHandler(authRoute, PhoneNumberBody, async (c, input) => {
  const sent = await requestCode(c, { phone: input.phone_number, purpose: "login", captchaExempt: true, channel: "sms" });
  c.header("Cache-Control", "no-store");
  return c.json({
    message: "OTP sent successfully",
    phone_number: sent.phone,
    expires_in_minutes: Math.ceil(sent.expires_in / 60),
    ...(sent.dev_code ? { dev_code: sent.dev_code } : {}),
  } satisfies z.input<typeof AuthSent>);
});

const authVerify = compatHandler(authRoute, AuthVerifyBody, async (c, input) => {
  const tokens = await signInRequest(c, { phone: input.phone_number, code: input.otp_code });
  c.header("Cache-Control", "no-store");
  return c.json({
    message: tokens.is_new_user ? "Registration successful" : "Login successful",
    user: tokens.user ? authUser(tokens.user) : null,
    tokens: { access: tokens.access_token, refresh: tokens.refresh_token },
    is_new_user: tokens.is_new_user,
  } satisfies z.input<typeof AuthSignedIn>);
});

const authProfile = compatHandler(authRoute, NoBody, async (c) => {
  const { config, db, now } = deps(c);
  const claims = await compatClaims(c, config.JWT_AUDIENCE, ["bearer"]);
  await limitUser(c, "ME_LIMITER");
  const row = await readProfile(db, config, claims, now);
  if (!row) throw new ApiError(fail("unauthorized", { detail: "User not found" }));
  return c.json({ user: authUser(toUser(row)) } satisfies z.input<typeof AuthProfile>);
});

// --- SimpleJWT's refresh, for `register` and `auth`

const refresh = compatHandler({ dialect: "drf" }, RefreshBody, async (c, input) => {
  const pair = await simpleJwtPair(deps(c), input.refresh);
  if ("error" in pair) return c.json({ detail: "Token is invalid or expired", code: "token_not_valid" }, 401);
  c.header("Cache-Control", "no-store");
  return c.json(pair satisfies z.input<typeof TokenPair>);
});

// --- usr: /api/v1/usr/otp, /api/v1/usr/otp/verify (tokens also as cookies)

const usrRoute: CompatRoute = { dialect: "drf", fields: { phone: "phone_number" } };

/** The `usr` app served Iran: a national `09…` number still reads as Iranian when DEFAULT_REGION says otherwise. */
function usrRegion(config: { DEFAULT_REGION?: string }, phone: string): string | undefined {
  if (parsePhone(phone, config.DEFAULT_REGION)) return undefined;
  return parsePhone(phone, "IR") ? "IR" : undefined;
}

const usrSend = compatHandler(usrRoute, PhoneNumberBody, async (c, input) => {
  const region = usrRegion(c.get("config"), input.phone_number);
  const sent = await requestCode(c, { phone: input.phone_number, region, purpose: "login", captchaExempt: true, channel: "sms" });
  c.header("Cache-Control", "no-store");
  return c.json({
    phone_number: sent.phone,
    message: "OTP sent successfully",
    expires_in: sent.expires_in,
    ...(sent.dev_code ? { dev_code: sent.dev_code } : {}),
  } satisfies z.input<typeof UsrSent>);
});

const usrVerify = compatHandler(usrRoute, UsrVerifyBody, async (c, input) => {
  const config = c.get("config");
  const region = usrRegion(config, input.phone_number);
  const tokens = await signInRequest(c, { phone: input.phone_number, region, code: input.code });
  const cookie = (name: string, value: string, maxAge: number) =>
    `${name}=${value}; Max-Age=${maxAge}; Path=/; HttpOnly; Secure; SameSite=Lax`;
  c.header("Set-Cookie", cookie("access_token", tokens.access_token, tokens.expires_in), { append: true });
  c.header("Set-Cookie", cookie("refresh_token", tokens.refresh_token, tokens.refresh_expires_in), { append: true });
  c.header("Cache-Control", "no-store");
  return c.json({
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    is_new_user: tokens.is_new_user,
    user: tokens.user ? djangoUser(tokens.user) : null,
  } satisfies z.input<typeof UsrSignedIn>);
});

const SEND = [400, 403, 415, 429, 502, 503];
const VERIFY = [400, 401, 403, 415, 429, 503];

const auth = compatRouter("auth");
auth.serve("post", "/api/auth/send-otp/", authSend, { summary: "Send a code by SMS", ok: AuthSent, errors: SEND });
auth.serve("post", "/api/auth/verify-otp/", authVerify, {
  summary: "Verify the code: tokens (creates the user)",
  ok: AuthSignedIn,
  errors: VERIFY,
});
auth.serve("get", "/api/auth/profile/", authProfile, {
  summary: "The user",
  ok: AuthProfile,
  errors: [401, 429, 503],
  security: "bearerAuth",
});

const simpleJwt = compatRouter("register", "auth");
simpleJwt.serve("post", "/api/token/refresh/", refresh, {
  summary: "Rotate the refresh token (SimpleJWT)",
  ok: TokenPair,
  errors: [400, 401, 415, 503],
});

const usr = compatRouter("usr");
usr.serve("post", "/api/v1/usr/otp", usrSend, { summary: "Send a code by SMS", ok: UsrSent, errors: SEND });
usr.serve("post", "/api/v1/usr/otp/verify", usrVerify, {
  summary: "Verify the code: tokens, also as HttpOnly cookies",
  ok: UsrSignedIn,
  errors: VERIFY,
});

export const authApi = auth.app.route("/", simpleJwt.app).route("/", usr.app);
