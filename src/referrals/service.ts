import { eventSql } from "../audit/events";
import { randomToken } from "../crypto";
import { batch } from "../db/client";
import { type SQL, sql } from "../db/sql";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import { maskPhone, phoneKey } from "../phone";
import { INVITE_ALPHABET, INVITE_CODE_LENGTH } from "../users/profile";
import { webhookSql } from "../webhooks/outbox";

const codeShape = new RegExp(`^[${INVITE_ALPHABET}]{${INVITE_CODE_LENGTH}}$`);

/** Invite codes match case-insensitively and ignore surrounding spaces; null if it cannot be one. */
export function normaliseInviteCode(raw: string): string | null {
  const code = raw.trim().toUpperCase();
  return codeShape.test(code) ? code : null;
}

/**
 * SQL: would making `inviterId` the inviter of `callerId` close a loop? Walks up the inviter's
 * chain of `invited_by` (bounded) looking for the caller: A→B then B→A, and any longer loop.
 */
function closesCycle(inviterId: string | SQL, callerId: string): SQL {
  return sql`EXISTS (WITH RECURSIVE chain(id, depth) AS (
      SELECT ${inviterId}, 0
      UNION ALL
      SELECT u.invited_by, chain.depth + 1 FROM users u JOIN chain ON u.id = chain.id
      WHERE u.invited_by IS NOT NULL AND chain.depth < 100000)
    SELECT 1 FROM chain WHERE id = ${callerId})`;
}

/** SQL condition: the activation of `marker` won (for statements later in its batch). */
export function activationWonSql(callerId: string, marker: string): SQL {
  return sql`EXISTS (SELECT 1 FROM users WHERE id = ${callerId} AND invite_marker = ${marker})`;
}

export type Activation = {
  callerId: string;
  /** A value, or a subquery (the importer resolves the inviter when its SQL runs). */
  code: string | SQL;
  inviterId: string | SQL;
  phoneKey: string;
  marker: string;
  referralId: string;
  bonus: number;
  now: number;
  /** Extra condition on the caller row, aliased `u` (e.g. its session is live). */
  callerGuard: SQL;
};

/**
 * The activation as one atomic sequence for a batch. The first UPDATE is the race gate (once per
 * user for life, inviter active, no cycle — re-checked here, so concurrent activations cannot slip
 * past a check made earlier); the rest act only if it left this request's marker. A phone that
 * was already this inviter's referral (deleted and signed up again) reuses its row: no new count,
 * no second bonus.
 */
export function activationStatements(a: Activation): SQL[] {
  const won = activationWonSql(a.callerId, a.marker);
  const fresh = sql`EXISTS (SELECT 1 FROM referrals WHERE id = ${a.referralId} AND created_marker = ${a.marker})`;
  return [
    sql`UPDATE users AS u SET activated_invite_code = ${a.code}, invited_by = ${a.inviterId}, invite_marker = ${a.marker}
      WHERE u.id = ${a.callerId} AND u.activated_invite_code IS NULL AND ${a.callerGuard} AND ${a.inviterId} <> ${a.callerId}
        AND EXISTS (SELECT 1 FROM users i WHERE i.id = ${a.inviterId} AND i.is_active = 1)
        AND NOT ${closesCycle(a.inviterId, a.callerId)}`,
    sql`INSERT INTO referrals (id, inviter_id, invitee_id, phone_key, bonus_points, created_at, created_marker)
      SELECT ${a.referralId}, ${a.inviterId}, ${a.callerId}, ${a.phoneKey}, ${a.bonus}, ${a.now}, ${a.marker} WHERE ${won}
      ON CONFLICT (inviter_id, phone_key) DO UPDATE SET invitee_id = excluded.invitee_id`,
    sql`UPDATE users SET referrals_count = referrals_count + 1, points = points + ${a.bonus}
      WHERE id = ${a.inviterId} AND ${fresh}`,
    // The caller becomes a second-level referral of the inviter's inviter…
    sql`UPDATE users SET level2_count = level2_count + 1
      WHERE id = (SELECT invited_by FROM users WHERE id = ${a.inviterId}) AND ${fresh}`,
    // …and the caller's own referrals become the inviter's second level.
    sql`UPDATE users SET level2_count = level2_count + (SELECT referrals_count FROM users WHERE id = ${a.callerId})
      WHERE id = ${a.inviterId} AND ${won}`,
  ];
}

/**
 * The `referral.activated` event: the two-level tree as the activation left it (the inviter, the
 * inviter's inviter) and the points the referral earned, read inside the activation's batch.
 */
export function referralWebhookSql(input: { inviterId: string | SQL; inviteeId: string; now: number; when: SQL }): SQL {
  return webhookSql({
    type: "referral.activated",
    data: {
      inviter_id: sql`(SELECT id FROM users WHERE id = ${input.inviterId})`,
      invitee_id: input.inviteeId,
      level_2_inviter_id: sql`(SELECT invited_by FROM users WHERE id = ${input.inviterId})`,
      points: sql`(SELECT bonus_points FROM referrals WHERE inviter_id = ${input.inviterId} AND invitee_id = ${input.inviteeId})`,
    },
    now: input.now,
    when: input.when,
  });
}

type CallerRow = { id: string; invite_code: string; activated_invite_code: string | null; phone: string };
type InviterRow = { id: string; is_active: number; phone: string; created_at: number; cycle: number };

export type Activated = {
  activated_invite_code: string;
  inviter: { phone: string; joined_at: string };
  referral_bonus: { points: number; level: 1 };
};

/**
 * `POST /v1/me/invite`: checks the rules in the contract's order (already activated, own code,
 * exists, inviter active, no cycle), then activates in one batch. `null` means the caller's
 * session is not live.
 */
export async function activateInvite(
  deps: Deps,
  input: { callerId: string; callerGuard: SQL; rawCode: string },
): Promise<Activated | Failure | null> {
  const { config, db, now } = deps;
  const code = normaliseInviteCode(input.rawCode);
  // Twice at most: if the batch loses a race, the second look names the reason.
  for (let round = 0; round < 2; round++) {
    const [callers, inviters] = await batch<[CallerRow[], InviterRow[]]>(db, [
      sql`SELECT u.id, u.invite_code, u.activated_invite_code, u.phone FROM users u WHERE u.id = ${input.callerId} AND ${input.callerGuard}`,
      sql`SELECT i.id, i.is_active, i.phone, i.created_at,
          ${closesCycle(sql`(SELECT id FROM users WHERE invite_code = ${code ?? ""})`, input.callerId)} AS cycle
        FROM users i WHERE i.invite_code = ${code ?? ""}`,
    ]);
    const caller = callers[0];
    if (!caller) return null;
    const refused = refusal(caller, inviters[0], code);
    if (refused) return refused;
    const inviter = inviters[0] as InviterRow;
    const marker = randomToken();
    const referralId = crypto.randomUUID();
    const results = await batch(db, [
      ...activationStatements({
        callerId: caller.id,
        code: code as string,
        inviterId: inviter.id,
        phoneKey: await phoneKey(config, caller.phone),
        marker,
        referralId,
        bonus: config.REFERRAL_BONUS_POINTS,
        now,
        callerGuard: input.callerGuard,
      }),
      await eventSql(
        deps,
        { type: "invite_activated", phone: caller.phone, userId: caller.id, detail: { inviter_id: inviter.id } },
        activationWonSql(caller.id, marker),
      ),
      referralWebhookSql({ inviterId: inviter.id, inviteeId: caller.id, now, when: activationWonSql(caller.id, marker) }),
      sql`SELECT EXISTS (SELECT 1 FROM users WHERE id = ${caller.id} AND invite_marker = ${marker}) AS won,
        EXISTS (SELECT 1 FROM referrals WHERE id = ${referralId} AND created_marker = ${marker}) AS fresh`,
    ]);
    const result = (results.at(-1) as { won: number; fresh: number }[])[0];
    if (result?.won) {
      return {
        activated_invite_code: code as string,
        inviter: { phone: maskPhone(inviter.phone), joined_at: new Date(inviter.created_at).toISOString() },
        referral_bonus: { points: result.fresh ? config.REFERRAL_BONUS_POINTS : 0, level: 1 },
      };
    }
  }
  return fail("invite_already_activated", { detail: "An invite code was already activated for this account." });
}

function refusal(caller: CallerRow, inviter: InviterRow | undefined, code: string | null): Failure | undefined {
  if (caller.activated_invite_code) {
    return fail("invite_already_activated", {
      detail: `You already activated invite code ${caller.activated_invite_code}.`,
      activated_invite_code: caller.activated_invite_code,
    });
  }
  if (code !== null && code === caller.invite_code) return fail("own_invite_code", { detail: "You cannot use your own invite code." });
  if (!inviter) return fail("invite_not_found", { detail: "No such invite code." });
  if (!inviter.is_active) return fail("invite_inactive", { detail: "The owner of this invite code is deactivated." });
  if (inviter.cycle) return fail("invite_cycle", { detail: "This invite code belongs to someone you invited (directly or not)." });
  return undefined;
}
