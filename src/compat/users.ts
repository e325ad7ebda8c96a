import type { Handler } from "hono";
import { version } from "../../package.json";
import { all } from "../db/client";
import { sql } from "../db/sql";
import type { AppEnv } from "../http/context";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { unauthorized } from "../http/middleware";
import type { z } from "../http/openapi";
import { callerSql, readProfile } from "../me/service";
import { requestCode, signInRequest } from "../otp/requests";
import { limitUser } from "../ratelimit/user";
import { listReferrals } from "../referrals/list";
import { activateInvite } from "../referrals/service";
import { toUser } from "../users/profile";
import { type CompatRoute, compatHandler } from "./http";
import { compatRouter } from "./openapi";
import {
  InviteBody,
  NoBody,
  PhoneNumberBody,
  UsersActivated,
  UsersIndex,
  UsersProfile,
  UsersSent,
  UsersSignedIn,
  UsersVerifyBody,
} from "./schemas";
import { claimsOf, compatClaims, usersAudience, usersToken } from "./tokens";

// `users`: the Django app served under /users/ and /api/users/, with `{ "error": "…" }` bodies and
// a day-long `Token`. Each route is the core's service in the old envelope.

const route: CompatRoute = { dialect: "users", fields: { phone: "phone_number", code: "verification_code" } };
// The profile lists this many referrals, newest first (the old app listed all; the counts stay exact).
const PROFILE_REFERRALS = 100;

const sendCode = compatHandler(route, PhoneNumberBody, async (c, input) => {
  const sent = await requestCode(c, { phone: input.phone_number, purpose: "login", captchaExempt: true, channel: "sms" });
  c.header("Cache-Control", "no-store");
  return c.json({
    message: "Verification code sent successfully",
    phone_number: sent.phone,
    expires_in: sent.expires_in,
    timestamp: new Date().toISOString(),
    ...(sent.dev_code ? { verification_code: sent.dev_code } : {}),
  } satisfies z.input<typeof UsersSent>);
});

const verifyCode = compatHandler(route, UsersVerifyBody, async (c, input) => {
  const tokens = await signInRequest(c, { phone: input.phone_number, code: input.verification_code });
  const { config, now } = deps(c);
  const user = tokens.user;
  if (!user) throw unauthorized();
  c.header("Cache-Control", "no-store");
  return c.json({
    message: tokens.is_new_user ? "Registration successful" : "Login successful",
    token: await usersToken(config, claimsOf(tokens.access_token), now),
    user_id: user.id,
    phone_number: user.phone,
    invite_code: user.invite_code,
    is_new_user: tokens.is_new_user,
    profile: { created_at: user.created_at, referrals_count: user.referrals_count, activated_invite_code: user.activated_invite_code },
    token_expires_in: config.COMPAT_TOKEN_TTL_SECONDS,
  } satisfies z.input<typeof UsersSignedIn>);
});

const profile = compatHandler(route, NoBody, async (c) => {
  const { config, db, now } = deps(c);
  const claims = await compatClaims(c, usersAudience(config), ["token", "bearer"]);
  await limitUser(c, "ME_LIMITER");
  const guard = callerSql(config, claims, now);
  const [row, page, active] = await Promise.all([
    readProfile(db, config, claims, now),
    listReferrals(db, { callerId: claims.sub, callerGuard: guard, limit: PROFILE_REFERRALS }),
    all<{ n: number }>(
      db,
      sql`SELECT COUNT(*) AS n FROM referrals r JOIN users v ON v.id = r.invitee_id WHERE r.inviter_id = ${claims.sub} AND v.is_active = 1`,
    ),
  ]);
  if (!row || !page) throw unauthorized();
  const user = toUser(row);
  return c.json({
    user_id: user.id,
    phone_number: user.phone,
    invite_code: user.invite_code,
    activated_invite_code: user.activated_invite_code,
    profile_stats: {
      registration_date: user.created_at,
      last_login: user.last_login_at,
      total_referrals: user.referrals_count,
      active_referrals: active[0]?.n ?? 0,
    },
    referrals: page.items.map((item) => ({ phone_number: item.phone, joined_date: item.joined_at, status: item.status })),
    referrals_count: user.referrals_count,
    referral_tree: user.referral_tree,
  } satisfies z.input<typeof UsersProfile>);
});

const activate = compatHandler(route, InviteBody, async (c, input) => {
  const services = deps(c);
  const { config, db, now } = services;
  const claims = await compatClaims(c, usersAudience(config), ["token", "bearer"]);
  await limitUser(c, "ME_LIMITER");
  await limitUser(c, "INVITE_LIMITER");
  const result = await activateInvite(services, {
    callerId: claims.sub,
    callerGuard: callerSql(config, claims, now),
    rawCode: input.invite_code,
  });
  if (result === null) throw unauthorized();
  const activated = orThrow(result);
  const [inviter] = await all<{ referrals_count: number }>(
    db,
    sql`SELECT referrals_count FROM users WHERE invite_code = ${activated.activated_invite_code}`,
  );
  const total = inviter?.referrals_count ?? 0;
  return c.json({
    message: "Invite code activated successfully",
    activated_invite_code: activated.activated_invite_code,
    inviter_profile: { phone_number: activated.inviter.phone, registration_date: activated.inviter.joined_at },
    referral_bonus: {
      points_earned: activated.referral_bonus.points,
      level: activated.referral_bonus.level,
      timestamp: new Date(now).toISOString(),
    },
    // The newest referral: its place in the inviter's list is the list's length.
    network_stats: { your_position: total, inviter_total_referrals: total },
  } satisfies z.input<typeof UsersActivated>);
});

const apiIndex: Handler<AppEnv> = (c) => {
  const config = c.get("config");
  return c.json({
    status: "ok",
    service: config.APP_NAME,
    version,
    timestamp: new Date().toISOString(),
    endpoints: {
      send_code: "/api/users/send-code/",
      verify_code: "/api/users/verify-code/",
      profile: "/api/users/profile/",
      activate_invite: "/api/users/activate-invite/",
    },
  } satisfies z.input<typeof UsersIndex>);
};

const { app: usersApi, serve } = compatRouter("users");
const SEND = [400, 403, 415, 429, 502, 503];
for (const base of ["/users", "/api/users"]) {
  serve("post", `${base}/send-code/`, sendCode, { summary: "Send a code by SMS", ok: UsersSent, errors: SEND });
  serve("post", `${base}/verify-code/`, verifyCode, {
    summary: "Verify the code: a day-long token (creates the user)",
    ok: UsersSignedIn,
    errors: [400, 401, 403, 415, 429, 503],
  });
  serve("get", `${base}/profile/`, profile, {
    summary: "Profile and referrals",
    ok: UsersProfile,
    errors: [401, 429, 503],
    security: "compatToken",
  });
  serve("post", `${base}/activate-invite/`, activate, {
    summary: "Activate an invite code",
    ok: UsersActivated,
    errors: [400, 401, 403, 415, 429, 503],
    security: "compatToken",
  });
}
serve("get", "/api/", apiIndex, { summary: "The API's index", ok: UsersIndex, errors: [] });

export { usersApi };
