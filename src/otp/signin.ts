import { eventSql, userOfPhone } from "../audit/events";
import { randomFromAlphabet, randomToken } from "../crypto";
import { sql } from "../db/sql";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import { phoneKey } from "../phone";
import { activationStatements, activationWonSql, normaliseInviteCode, referralWebhookSql } from "../referrals/service";
import { type SessionGrant, tokenResponse } from "../tokens/response";
import { type ClientInfo, newRefreshToken, openSessionStatements } from "../tokens/sessions";
import { INVITE_ALPHABET, INVITE_CODE_LENGTH, type ProfileRow, profileColumns, toUser } from "../users/profile";
import { initialRole, signInRoleSql } from "../users/roles";
import { webhooksSql } from "../webhooks/outbox";
import { checkCode } from "./service";

const INVITE_CODE_TRIES = 5;

/** Picks invite codes; tests substitute it to force collisions. */
export type InviteCodePicker = () => string;
export const randomInviteCode: InviteCodePicker = () => randomFromAlphabet(INVITE_ALPHABET, INVITE_CODE_LENGTH);

type SignInRow = ProfileRow & { won: number; is_new: number; session_id: string | null; session_expires_at: number | null };

/**
 * Signs in with a `login` code in one D1 round trip: the guess's batch (`checkCode`) consumes the
 * code, creates the user on first sign-in (activating `inviteCode` then), and opens a session, all
 * guarded by the consume, so parallel first sign-ins of one phone make exactly one user. An
 * invite that does not apply leaves the code live and the guess uncounted.
 */
export async function signInWithCode(
  deps: Deps,
  input: {
    phone: string;
    code: string;
    client: ClientInfo;
    inviteCode?: string;
    pickInviteCode?: InviteCodePicker;
    /** The Turnstile check while a guess storm is on (the JSON verify only). */
    captcha?: () => Promise<Failure | null>;
  },
) {
  const { config, now } = deps;
  const { phone } = input;
  // The invite applies only at sign-up (ignored for existing users).
  const inviteCode = input.inviteCode === undefined ? undefined : (normaliseInviteCode(input.inviteCode) ?? "");
  const existing = sql`EXISTS (SELECT 1 FROM users WHERE phone = ${phone})`;
  const inviterId = sql`(SELECT id FROM users WHERE invite_code = ${inviteCode ?? ""})`;
  const inviterActive = sql`EXISTS (SELECT 1 FROM users WHERE invite_code = ${inviteCode ?? ""} AND is_active = 1)`;
  const pick = input.pickInviteCode ?? randomInviteCode;
  const refresh = await newRefreshToken();
  const sessionId = crypto.randomUUID();
  const userId = crypto.randomUUID();
  const { role, source } = initialRole(config, phone);
  const activation = inviteCode !== undefined ? await phoneKey(config, phone) : null;
  const activationMarker = randomToken();

  for (let attempt = 1; ; attempt++) {
    try {
      const checked = await checkCode(deps, {
        phone,
        purpose: "login",
        code: input.code,
        captcha: input.captcha,
        rightRequires: inviteCode === undefined ? undefined : sql`(${existing} OR ${inviterActive})`,
        onRight: async (won) => [
          sql`INSERT INTO users (id, phone, invite_code, role, admin_source, created_at, last_login_at)
            SELECT ${userId}, ${phone}, ${pick()}, ${role}, ${source}, ${now}, ${now} WHERE ${won}
            ON CONFLICT (phone) DO UPDATE SET last_login_at = excluded.last_login_at, ${signInRoleSql(config, phone)}
            WHERE users.is_active = 1`,
          ...openSessionStatements(config, { sessionId, phone, refreshHash: refresh.hash, now, client: input.client, guard: won }),
          await eventSql(deps, { type: "code_verified", phone, userId: userOfPhone(phone), detail: { purpose: "login" } }, won),
          webhooksSql([
            { type: "user.created", data: { user_id: userId, phone }, now, when: sql`EXISTS (SELECT 1 FROM users WHERE id = ${userId})` },
            {
              type: "user.signed_in",
              data: { user_id: sql`(SELECT id FROM users WHERE phone = ${phone})`, phone, method: "code", session_id: sessionId },
              now,
              when: sql`EXISTS (SELECT 1 FROM sessions WHERE id = ${sessionId})`,
            },
          ]),
          ...(activation !== null && inviteCode
            ? [
                ...activationStatements({
                  callerId: userId,
                  code: inviteCode,
                  inviterId,
                  phoneKey: activation,
                  marker: activationMarker,
                  referralId: crypto.randomUUID(),
                  bonus: config.REFERRAL_BONUS_POINTS,
                  now,
                  callerGuard: sql`1`,
                }),
                await eventSql(
                  deps,
                  { type: "invite_activated", phone, userId, detail: { inviter_id: inviterId, at_sign_up: true } },
                  activationWonSql(userId, activationMarker),
                ),
                referralWebhookSql({ inviterId, inviteeId: userId, now, when: activationWonSql(userId, activationMarker) }),
              ]
            : []),
          // Why an invite did not apply (only read when one came).
          ...(inviteCode !== undefined ? [sql`SELECT is_active FROM users WHERE invite_code = ${inviteCode}`] : []),
          sql`SELECT ${profileColumns}, ${won} AS won, u.id = ${userId} AS is_new,
              s.id AS session_id, s.expires_at AS session_expires_at
            FROM users u LEFT JOIN sessions s ON s.id = ${sessionId} AND s.user_id = u.id
            WHERE u.phone = ${phone}`,
        ],
      });
      if ("error" in checked) return checked;
      const inviter = inviteCode !== undefined ? (checked.results.at(-2) as { is_active: number }[] | undefined)?.[0] : undefined;
      if (checked.outcome === "unmet") {
        return inviter
          ? fail("invite_inactive", { detail: "The owner of this invite code is deactivated." })
          : fail("invite_not_found", { detail: "No such invite code." });
      }
      const signed = await signedIn(deps, (checked.results.at(-1) as SignInRow[])[0], refresh.token);
      return "error" in signed ? signed : { ...signed, headers: checked.headers };
    } catch (error) {
      if (attempt < INVITE_CODE_TRIES && String(error).includes("users.invite_code")) continue;
      throw error;
    }
  }
}

async function signedIn(
  deps: Deps,
  row: SignInRow | undefined,
  refreshToken: string,
): Promise<Failure | Awaited<ReturnType<typeof tokenResponse>>> {
  // Lost the race to a parallel right guess, or the code expired meanwhile.
  if (!row?.won) return fail("code_expired", { detail: "No live code for this phone. Ask for a new one." });
  if (!row.is_active || !row.session_id || row.session_expires_at == null) {
    return fail("account_disabled", { detail: "This account is deactivated." });
  }
  const session: SessionGrant = {
    id: row.session_id,
    userId: row.id,
    role: row.role,
    authTime: deps.now,
    expiresAt: row.session_expires_at,
  };
  return tokenResponse(deps.config, { session, refreshToken, isNewUser: Boolean(row.is_new), user: toUser(row) }, deps.now);
}
