import { z } from "../http/openapi";
import { ProfilePatchSchema } from "../users/schemas";

// The old APIs' bodies. Requests: the handlers validate with these and /openapi.json documents
// these same schemas. Answers: documentation, and each handler's body `satisfies` its type.

const REQUIRED = "This field is required.";
/** Required text, trimmed first. */
const trimmed = (max: number) => z.string({ error: REQUIRED }).trim().min(1, REQUIRED).max(max);
/** Required text as typed (the `register` flow's number and passwords). */
const asTyped = (max: number) => z.string({ error: REQUIRED }).min(1, REQUIRED).max(max);
const digits = z
  .string({ error: REQUIRED })
  .trim()
  .regex(/^\d{4,10}$/, "Enter the digits of the code.");
// Only what `randomToken` issues: other text (a lone surrogate) would make an invalid KV key, a 503.
const sessionId = asTyped(128).regex(/^[A-Za-z0-9_-]+$/, "Invalid or expired session.");
const phoneNumber = trimmed(64);

export const NoBody = z.object({});
export const PhoneNumberBody = z.object({ phone_number: phoneNumber });
export const UsersVerifyBody = z.object({ phone_number: phoneNumber, verification_code: digits });
export const InviteBody = z.object({ invite_code: trimmed(32) });
export const RegisterBody = z.object({ mobile_number: asTyped(64) });
export const SessionCodeBody = z.object({ session_id: sessionId, code: digits });
export const SessionPasswordBody = z.object({ session_id: sessionId, password: asTyped(1024) });
export const UserInfoBody = z.object({
  session_id: sessionId,
  email: ProfilePatchSchema.shape.email,
  first_name: ProfilePatchSchema.shape.first_name,
  last_name: ProfilePatchSchema.shape.last_name,
});
export const AuthVerifyBody = z.object({ phone_number: phoneNumber, otp_code: digits });
export const UsrVerifyBody = z.object({ phone_number: phoneNumber, code: digits });
export const RefreshBody = z.object({ refresh: trimmed(512) });

const text = z.string();
const int = z.number().int();
const maybe = text.nullable();
const sandbox = text.optional().openapi({ description: "Development sandbox only." });

export const UsersSent = z.object({ message: text, phone_number: text, expires_in: int, timestamp: text, verification_code: sandbox });
export const UsersSignedIn = z.object({
  message: text,
  token: text.openapi({ description: "`Authorization: Token …`; lives `token_expires_in` seconds." }),
  user_id: text,
  phone_number: text,
  invite_code: text,
  is_new_user: z.boolean(),
  profile: z.object({ created_at: text, referrals_count: int, activated_invite_code: maybe }),
  token_expires_in: int,
});
export const UsersProfile = z.object({
  user_id: text,
  phone_number: text,
  invite_code: text,
  activated_invite_code: maybe,
  profile_stats: z.object({ registration_date: maybe, last_login: maybe, total_referrals: int, active_referrals: int }),
  referrals: z.array(z.object({ phone_number: maybe, joined_date: text, status: z.enum(["active", "inactive", "deleted"]) })),
  referrals_count: int,
  referral_tree: z.object({ level_1: int, level_2: int, total_network: int }),
});
export const UsersActivated = z.object({
  message: text,
  activated_invite_code: text,
  inviter_profile: z.object({ phone_number: maybe, registration_date: text }),
  referral_bonus: z.object({ points_earned: int, level: int, timestamp: text }),
  network_stats: z.object({ your_position: int, inviter_total_referrals: int }),
});
export const UsersIndex = z.object({ status: text, service: text, version: text, timestamp: text, endpoints: z.record(text, text) });

export const RegisterStarted = z.object({ next_step: z.enum(["otp", "password"]), session_id: text, dev_code: sandbox });
export const NextStep = z.object({ next_step: z.enum(["set_password", "user_info"]) });
/** SimpleJWT's pair: the core's access token and rotating refresh token. */
export const TokenPair = z.object({ access: text, refresh: text });

const djangoUser = { id: text, phone_number: text, username: text, first_name: text, last_name: text };
const AuthUser = z.object({ ...djangoUser, is_phone_verified: z.boolean(), date_joined: text });
export const AuthSent = z.object({ message: text, phone_number: text, expires_in_minutes: int, dev_code: sandbox });
export const AuthSignedIn = z.object({ message: text, user: AuthUser.nullable(), tokens: TokenPair, is_new_user: z.boolean() });
export const AuthProfile = z.object({ user: AuthUser });

export const UsrSent = z.object({ phone_number: text, message: text, expires_in: int, dev_code: sandbox });
export const UsrSignedIn = z.object({
  access_token: text,
  refresh_token: text,
  is_new_user: z.boolean(),
  user: z.object({ ...djangoUser, email: text }).nullable(),
});
