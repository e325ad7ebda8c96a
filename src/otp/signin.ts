import { sql } from "drizzle-orm";
import { eventSql, userOfPhone } from "../audit/events";
import { randomFromAlphabet } from "../crypto";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import { phoneKey } from "../phone";
import { activationStatements, activationWonSql, normaliseInviteCode } from "../referrals/service";
import { type SessionGrant, tokenResponse } from "../tokens/response";
import { type ClientInfo, newRefreshToken, openSessionStatements } from "../tokens/sessions";
import { INVITE_ALPHABET, INVITE_CODE_LENGTH, type ProfileRow, profileColumns, toUser } from "../users/profile";
import { initialRole, signInRoleSql } from "../users/roles";
import { consumeChallenge, consumedBy, refundAttempt } from "./gate";
import { consumeProved, proveCode, releaseProof } from "./service";

const INVITE_CODE_TRIES = 5;

/** Picks invite codes; tests substitute it to force collisions. */
export type InviteCodePicker = () => string;
export const randomInviteCode: InviteCodePicker = () => randomFromAlphabet(INVITE_ALPHABET, INVITE_CODE_LENGTH);

type SignInRow = ProfileRow & { won: number; is_new: number; session_id: string | null; session_expires_at: number | null };

/**
 * Signs in with a `login` code in two D1 round trips: reserve-and-check the guess, then one
 * atomic batch that consumes the code, creates the user on first sign-in, and opens a session.
 * Only the request whose consume wins creates anything, so parallel first sign-ins of one
 * phone make exactly one user.
 */
export async function signInWithCode(
  deps: Deps,
  input: { phone: string; code: string; client: ClientInfo; inviteCode?: string; pickInviteCode?: InviteCodePicker },
) {
  const { config, now } = deps;
  const { phone } = input;
  const inviteCode = input.inviteCode === undefined ? undefined : normaliseInviteCode(input.inviteCode);
  const proved = await proveCode<[{ id: string }[], { id: string; is_active: number }[]]>(
    deps,
    { phone, purpose: "login", code: input.code },
    // Ride along in the first round trip: does the account exist, and whose invite code is it?
    [sql`SELECT id FROM users WHERE phone = ${phone}`, sql`SELECT id, is_active FROM users WHERE invite_code = ${inviteCode ?? ""}`],
  );
  if ("error" in proved) return proved;
  const { proof } = proved;
  const [existing, inviters] = proved.extra;
  // The invite applies only at sign-up (ignored for existing users). A bad one leaves the code
  // live and the guess uncounted, so the user can fix it without a new SMS.
  const inviter = existing.length === 0 && input.inviteCode !== undefined ? inviters[0] : undefined;
  if (existing.length === 0 && input.inviteCode !== undefined && !inviter?.is_active) {
    await releaseProof(deps, { phone, purpose: "login" }, proof);
    return inviter
      ? fail("invite_inactive", { detail: "The owner of this invite code is deactivated." })
      : fail("invite_not_found", { detail: "No such invite code." });
  }
  const refresh = await newRefreshToken();
  const sessionId = crypto.randomUUID();
  const userId = crypto.randomUUID();
  const { role, source } = initialRole(config, phone);
  const won = consumedBy(phone, "login", proof.marker);
  const pick = input.pickInviteCode ?? randomInviteCode;

  for (let attempt = 1; ; attempt++) {
    try {
      // A failing D1 gives the reserved guess back, so the same code still works on retry.
      const statements = [
        consumeChallenge({ phone, purpose: "login", codeId: proof.codeId, marker: proof.marker, now }),
        refundAttempt(config, phone, proof.failStart),
        sql`INSERT INTO users (id, phone, invite_code, role, admin_source, created_at, last_login_at)
          SELECT ${userId}, ${phone}, ${pick()}, ${role}, ${source}, ${now}, ${now} WHERE ${won}
          ON CONFLICT (phone) DO UPDATE SET last_login_at = excluded.last_login_at, ${signInRoleSql(config, phone)}
          WHERE users.is_active = 1`,
        ...openSessionStatements(config, { sessionId, phone, refreshHash: refresh.hash, now, client: input.client, guard: won }),
        await eventSql(deps, { type: "code_verified", phone, userId: userOfPhone(phone), detail: { purpose: "login" } }, won),
        sql`INSERT INTO counters (name, value) SELECT 'users_total', 1 WHERE EXISTS (SELECT 1 FROM users WHERE id = ${userId})
          ON CONFLICT (name) DO UPDATE SET value = value + 1`,
        ...(inviter && inviteCode
          ? activationStatements({
              callerId: userId,
              code: inviteCode,
              inviterId: inviter.id,
              phoneKey: await phoneKey(config, phone),
              marker: proof.marker,
              referralId: crypto.randomUUID(),
              bonus: config.REFERRAL_BONUS_POINTS,
              now,
              callerGuard: sql`1`,
            })
          : []),
        ...(inviter
          ? [
              await eventSql(
                deps,
                { type: "invite_activated", phone, userId, detail: { inviter_id: inviter.id, at_sign_up: true } },
                activationWonSql(userId, proof.marker),
              ),
            ]
          : []),
        sql`SELECT ${profileColumns}, ${won} AS won, u.id = ${userId} AS is_new,
            s.id AS session_id, s.expires_at AS session_expires_at
          FROM users u LEFT JOIN sessions s ON s.id = ${sessionId} AND s.user_id = u.id
          WHERE u.phone = ${phone}`,
      ];
      const results = await consumeProved<[...unknown[][], SignInRow[]]>(deps, { phone, purpose: "login" }, proof, statements);
      return await signedIn(deps, (results.at(-1) as SignInRow[])[0], refresh.token);
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
