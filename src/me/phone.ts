import { eventSql } from "../audit/events";
import { type SQL, sql } from "../db/sql";
import { sendNotice } from "../delivery";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import { checkCode } from "../otp/service";
import { type Caller, reauthenticate } from "../passwords/service";
import { maskPhone, type Phone } from "../phone";
import type { AccessClaims } from "../tokens/jwt";
import { type ProfileRow, profileColumns } from "../users/profile";
import { webhookSql } from "../webhooks/outbox";

/**
 * `POST /v1/me/phone`: a `change_phone` code sent to the new number (bound to this user) moves
 * the account there in one batch — only if nobody else holds the number — and revokes every
 * other session. The old number gets a notice.
 */
export async function changePhone(
  deps: Deps,
  input: { claims: AccessClaims; caller: Caller; callerGuard: SQL; phone: Phone; code: string; currentPassword?: string },
): Promise<{ row: ProfileRow; headers: Record<string, string> } | Failure> {
  const { config, now } = deps;
  const { claims, caller } = input;
  const proven = await reauthenticate(deps, claims, caller, input.currentPassword);
  if ("error" in proven) return proven;
  const phone = input.phone.e164;
  const moved = sql`EXISTS (SELECT 1 FROM users WHERE id = ${claims.sub} AND phone = ${phone})`;
  const checked = await checkCode(deps, {
    phone,
    purpose: "change_phone",
    code: input.code,
    userId: claims.sub,
    // A right current password's reservation is given back whatever the code turns out to be.
    alongside: proven.refund,
    onRight: async (won) => [
      sql`UPDATE users AS u SET phone = ${phone}
        WHERE ${input.callerGuard} AND ${won} AND NOT EXISTS (SELECT 1 FROM users o WHERE o.phone = ${phone})`,
      sql`UPDATE sessions SET revoked_at = ${now}
        WHERE user_id = ${claims.sub} AND id <> ${claims.sid} AND revoked_at IS NULL AND ${moved}`,
      sql`DELETE FROM otp_challenges WHERE phone = ${caller.phone} AND ${moved}`,
      await eventSql(deps, { type: "phone_changed", phone, userId: claims.sub, detail: { previous: maskPhone(caller.phone) } }, moved),
      webhookSql({ type: "phone.changed", data: { user_id: claims.sub, phone, previous_phone: caller.phone }, now, when: moved }),
      sql`SELECT ${profileColumns} FROM users u WHERE u.id = ${claims.sub}`,
    ],
  });
  if ("error" in checked) return checked;
  const row = (checked.results.at(-1) as ProfileRow[] | undefined)?.[0];
  if (!row) return fail("unauthorized", { detail: "A valid access token is required." });
  if (checked.outcome !== "won") return fail("code_expired", { detail: "No live code for this phone. Ask for a new one." });
  if (row.phone !== phone) return fail("phone_taken", { detail: "This phone number belongs to another account." });
  await sendNotice(
    config,
    deps.delivery,
    caller.phone,
    `Your ${config.APP_NAME} account was moved to another phone number. If this was not you, contact support.`,
  );
  return { row, headers: checked.headers };
}
