import { eventSql, userOfPhone } from "../audit/events";
import { batch } from "../db/client";
import { type SQL, sql } from "../db/sql";
import { sendNotice } from "../delivery";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import { clearEdgeMark, edgePhoneKey } from "../limits/edge";
import { clearSql, passwordFailLimit } from "../limits/sliding";
import { checkCode } from "../otp/service";
import type { Phone } from "../phone";
import { undoOnFault } from "../storage/guard";
import type { AccessClaims } from "../tokens/jwt";
import { type SessionGrant, tokenResponse } from "../tokens/response";
import { type ClientInfo, newRefreshToken, openSessionStatements, sessionOpenedSql } from "../tokens/sessions";
import { type ProfileRow, profileColumns, toUser } from "../users/profile";
import { signInRoleSql } from "../users/roles";
import { webhookSql } from "../webhooks/outbox";
import { guessPassword } from "./guess";
import { hashPassword } from "./hash";
import { commonPasswords, weakPasswordDetail, weakPasswordRule } from "./policy";

const invalidCredentials = () => fail("invalid_credentials", { detail: "The phone number or password is wrong." });

/** The password policy for an account's phone; a failure names the `rule`. */
export async function checkPolicy(deps: Deps, password: string, phone: Phone): Promise<Failure | null> {
  const min = deps.config.PASSWORD_MIN_LENGTH;
  const common = await commonPasswords(deps.assets, deps.config.STORAGE_TIMEOUT_MS);
  const rule = weakPasswordRule(password, { minLength: min, phoneDigits: [phone.e164.slice(1), phone.national], common });
  return rule ? fail("weak_password", { detail: weakPasswordDetail(rule, min), rule }) : null;
}

type SessionRow = ProfileRow & { session_id: string | null; session_expires_at: number | null; session_auth_time: number | null };

/** Opens a session for the active user with `phone` (guarded by `when`) and reads it back. */
async function signInStatements(deps: Deps, phone: string, when: SQL) {
  const refresh = await newRefreshToken();
  const sessionId = crypto.randomUUID();
  return {
    refresh,
    sessionId,
    readBack: sql`SELECT ${profileColumns}, s.id AS session_id, s.expires_at AS session_expires_at, s.auth_time AS session_auth_time
      FROM users u LEFT JOIN sessions s ON s.id = ${sessionId} AND s.user_id = u.id WHERE u.phone = ${phone}`,
    open: (client: ClientInfo) =>
      openSessionStatements(deps.config, { sessionId, phone, refreshHash: refresh.hash, now: deps.now, client, guard: when }),
  };
}

async function tokensFor(deps: Deps, row: SessionRow | undefined, refreshToken: string) {
  if (!row?.is_active || !row.session_id || row.session_expires_at == null) {
    return fail("account_disabled", { detail: "This account is deactivated." });
  }
  const session: SessionGrant = {
    id: row.session_id,
    userId: row.id,
    role: row.role,
    authTime: row.session_auth_time ?? deps.now,
    expiresAt: row.session_expires_at,
  };
  return tokenResponse(deps.config, { session, refreshToken, isNewUser: false, user: toUser(row) }, deps.now);
}

/**
 * `POST /v1/auth/password/login`: one answer (`invalid_credentials`) for an unknown phone, a
 * phone without a password and a wrong password, each after the same hashing work.
 */
export async function loginWithPassword(deps: Deps, input: { phone: string; password: string; client: ClientInfo }) {
  const guess = await guessPassword(deps, {
    phone: input.phone,
    password: input.password,
    storedHash: sql`SELECT password_hash FROM users WHERE phone = ${input.phone}`,
    context: "login",
    countIp: true,
  });
  if ("error" in guess) return guess;
  if (!guess.right) return { ...invalidCredentials(), headers: guess.headers };
  const { config, db, now } = deps;
  const signIn = await signInStatements(deps, input.phone, sql`1`);
  const { refund } = guess;
  // A failing D1 gives the right guess's reservation back (best effort) before the 503.
  const statements = [
    ...refund,
    sql`UPDATE users SET last_login_at = ${now}, ${signInRoleSql(config, input.phone)} WHERE phone = ${input.phone} AND is_active = 1`,
    ...signIn.open(input.client),
    await eventSql(
      deps,
      { type: "password_login", phone: input.phone, userId: userOfPhone(input.phone) },
      sessionOpenedSql(signIn.sessionId),
    ),
    webhookSql({
      type: "user.signed_in",
      data: {
        user_id: sql`(SELECT id FROM users WHERE phone = ${input.phone})`,
        phone: input.phone,
        method: "password",
        session_id: signIn.sessionId,
      },
      now,
      when: sessionOpenedSql(signIn.sessionId),
    }),
    signIn.readBack,
  ];
  const results = await undoOnFault(
    () => batch(db, statements),
    () => batch(db, refund),
  );
  const tokens = await tokensFor(deps, (results.at(-1) as SessionRow[])[0], signIn.refresh.token);
  return "error" in tokens ? tokens : { ...tokens, headers: guess.headers };
}

/**
 * `POST /v1/auth/password/reset`: a `reset_password` code proves the phone; one batch consumes it,
 * sets the password, clears the password lock, revokes every session and opens a new one.
 */
export async function resetPassword(deps: Deps, input: { phone: Phone; code: string; newPassword: string; client: ClientInfo }) {
  const weak = await checkPolicy(deps, input.newPassword, input.phone);
  if (weak) return weak;
  const phone = input.phone.e164;
  const { config, now } = deps;
  let signIn: Awaited<ReturnType<typeof signInStatements>> | undefined;
  const checked = await checkCode(deps, {
    phone,
    purpose: "reset_password",
    code: input.code,
    onRight: async (won) => {
      const hash = await hashPassword(config.PASSWORD_PEPPER, input.newPassword);
      signIn = await signInStatements(deps, phone, won);
      return [
        sql`UPDATE users SET password_hash = ${hash}, last_login_at = ${now} WHERE phone = ${phone} AND is_active = 1 AND ${won}`,
        sql`UPDATE phone_guards SET pw_locked_until = NULL, pw_fail_streak = 0 WHERE phone = ${phone} AND ${won}`,
        clearSql(passwordFailLimit(config, phone), won),
        sql`UPDATE sessions SET revoked_at = ${now}
          WHERE user_id = (SELECT id FROM users WHERE phone = ${phone}) AND revoked_at IS NULL AND ${won}`,
        ...signIn.open(input.client),
        await eventSql(deps, { type: "password_changed", phone, userId: userOfPhone(phone), detail: { via: "reset" } }, won),
        webhookSql({ type: "password.changed", data: { user_id: userOfPhone(phone), phone, via: "reset" }, now, when: won }),
        signIn.readBack,
      ];
    },
  });
  if ("error" in checked) return checked;
  if (checked.outcome !== "won" || !signIn) return fail("code_expired", { detail: "No live code for this phone. Ask for a new one." });
  // The batch lifted the password lock: so does its edge copy.
  clearEdgeMark(deps, edgePhoneKey(phone), "password_lock");
  const response = await tokensFor(deps, (checked.results.at(-1) as SessionRow[])[0], signIn.refresh.token);
  if ("error" in response) return response;
  await sendNotice(deps.config, deps.delivery, phone, `Your ${config.APP_NAME} password was reset. If this was not you, contact support.`);
  return { ...response, headers: checked.headers };
}

/** What re-authentication needs to know about the caller. */
export type Caller = { id: string; phone: string; password_hash: string | null };

// Sensitive changes need a sign-in this recent, or the current password (spec: Tokens and sessions).
export const REAUTH_SECONDS = 300;

const recentlySignedIn = (claims: AccessClaims, now: number) => now / 1000 - claims.auth_time <= REAUTH_SECONDS;

/**
 * Re-authentication for sensitive changes: a sign-in within 300 s (`auth_time`), or a correct
 * `current_password` (checked under the password budget). Returns the refund statement to put in
 * the change's batch when a password was used, or a failure.
 */
export async function reauthenticate(
  deps: Deps,
  claims: AccessClaims,
  caller: Caller,
  currentPassword: string | undefined,
): Promise<{ refund: SQL[] } | Failure> {
  if (currentPassword === undefined || caller.password_hash === null) {
    return recentlySignedIn(claims, deps.now)
      ? { refund: [] }
      : fail("reauthentication_required", { detail: "Sign in again, or send current_password, to make this change." });
  }
  const guess = await guessPassword(deps, {
    phone: caller.phone,
    password: currentPassword,
    storedHash: sql`${caller.password_hash}`,
    context: "reauthentication",
  });
  if ("error" in guess) return guess;
  if (!guess.right) return fail("current_password_invalid", { detail: "The current password is wrong." });
  return { refund: guess.refund };
}

/**
 * `PUT /v1/me/password`: the first password needs a recent sign-in; changing one needs the
 * current password. Every other session is revoked and the phone gets a notice.
 */
export async function changePassword(
  deps: Deps,
  input: { claims: AccessClaims; caller: Caller; callerGuard: SQL; phone: Phone; newPassword: string; currentPassword?: string },
): Promise<Failure | "changed" | null> {
  const { config, db, now } = deps;
  const { claims, caller } = input;
  if (caller.password_hash !== null && input.currentPassword === undefined) {
    return fail("current_password_required", { detail: "Send current_password to change the password." });
  }
  const proven = await reauthenticate(deps, claims, caller, input.currentPassword);
  if ("error" in proven) return proven;
  const weak = await checkPolicy(deps, input.newPassword, input.phone);
  if (weak) return weak;
  const hash = await hashPassword(config.PASSWORD_PEPPER, input.newPassword);
  const results = await batch(db, [
    ...proven.refund,
    sql`UPDATE users AS u SET password_hash = ${hash} WHERE ${input.callerGuard} RETURNING id`,
    sql`UPDATE sessions SET revoked_at = ${now} WHERE user_id = ${claims.sub} AND id <> ${claims.sid} AND revoked_at IS NULL
      AND EXISTS (SELECT 1 FROM users WHERE id = ${claims.sub} AND password_hash = ${hash})`,
    await eventSql(
      deps,
      { type: "password_changed", phone: caller.phone, userId: claims.sub, detail: { via: caller.password_hash ? "change" : "first_set" } },
      sql`EXISTS (SELECT 1 FROM users WHERE id = ${claims.sub} AND password_hash = ${hash})`,
    ),
    webhookSql({
      type: "password.changed",
      data: { user_id: claims.sub, phone: caller.phone, via: caller.password_hash ? "change" : "first_set" },
      now,
      when: sql`EXISTS (SELECT 1 FROM users WHERE id = ${claims.sub} AND password_hash = ${hash})`,
    }),
  ]);
  if ((results[proven.refund.length] ?? []).length === 0) return null;
  await sendNotice(
    deps.config,
    deps.delivery,
    caller.phone,
    `Your ${config.APP_NAME} password was changed. If this was not you, reset it now.`,
  );
  return "changed";
}
