import {
  type AuthenticatorTransportFuture,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import { eventSql } from "../audit/events";
import type { WebAuthnConfig } from "../config";
import { base64url, randomToken } from "../crypto";
import { batch } from "../db/client";
import { type SQL, sql } from "../db/sql";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import type { Caller } from "../passwords/service";
import { webhookSql } from "../webhooks/outbox";
import { CEREMONY_TIMEOUT_MS, challengeOf, newChallenge } from "./ceremony";
import { challengeWonSql, consumeChallengeSql, lastRows, type PasskeyRow, passkeyColumns, passkeysOfUserSql } from "./storage";

// Registration (WebAuthn Level 3 §7.1) through @simplewebauthn/server, and the owner's list,
// rename and remove. Sign-in is in ./signin.ts; what both share in ./ceremony.ts.

const MAX_PASSKEYS = 20;
const DEFAULT_NAME = "Passkey";

/** A passkey as the API answers it. */
export type PasskeyView = { id: string; name: string; created_at: string; last_used_at: string | null; backed_up: boolean };

const invalidResponse = (message: string) =>
  fail("validation_failed", { detail: `response: ${message}`, errors: [{ path: "response", message }] });

const iso = (ms: number | null) => (ms == null ? null : new Date(ms).toISOString());

export const toPasskey = (row: PasskeyRow): PasskeyView => ({
  id: row.id,
  name: row.name,
  created_at: new Date(row.created_at).toISOString(),
  last_used_at: iso(row.last_used_at),
  backed_up: Boolean(row.backed_up),
});

const transportsOf = (row: { transports: string | null }) =>
  row.transports ? (JSON.parse(row.transports) as AuthenticatorTransportFuture[]) : undefined;

/**
 * `POST /v1/me/passkeys/options`: registration options for the caller (a discoverable
 * credential, user verification preferred, the caller's passkeys excluded), with a challenge
 * bound to the caller. `refund` gives back a right current_password's reservation.
 */
export async function registrationOptions(deps: Deps, rp: WebAuthnConfig, caller: Caller, refund: SQL[]) {
  const issued = newChallenge(deps, "registration", caller.id);
  const existing = await lastRows<PasskeyRow>(deps.db, [...refund, issued.insert, passkeysOfUserSql(caller.id)]);
  return generateRegistrationOptions({
    rpName: rp.rpName,
    rpID: rp.rpId,
    // The user handle is our opaque user id; the name the authenticator shows is the phone.
    userID: new Uint8Array(new TextEncoder().encode(caller.id)),
    userName: caller.phone,
    userDisplayName: caller.phone,
    challenge: issued.bytes,
    timeout: CEREMONY_TIMEOUT_MS,
    attestationType: "none",
    excludeCredentials: existing.map((row) => ({ id: row.credential_id, transports: transportsOf(row) })),
    authenticatorSelection: { residentKey: "required", userVerification: "preferred" },
  });
}

/**
 * `POST /v1/me/passkeys`: verifies the attestation (origin, RP ID, challenge, signature where
 * the format has one) and stores the passkey in one batch that consumes the caller's
 * registration challenge — so a challenge registers at most one passkey.
 */
export async function addPasskey(
  deps: Deps,
  rp: WebAuthnConfig,
  input: { caller: Caller; callerGuard: SQL; response: RegistrationResponseJSON; name?: string; refund: SQL[] },
): Promise<PasskeyView | Failure> {
  const { db, now } = deps;
  const { caller } = input;
  // A right current_password's reservation is given back on every way out (reauthenticate).
  const refused = async (message: string) => {
    if (input.refund.length > 0) await batch(db, input.refund);
    return invalidResponse(message);
  };
  const challenge = challengeOf(input.response.response?.clientDataJSON);
  if (!challenge) return refused("the client data carries no challenge");
  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verified = await verifyRegistrationResponse({
      response: input.response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origins,
      expectedRPID: rp.rpId,
      // Matches the options' "preferred": a security key without a PIN still proves possession.
      requireUserVerification: false,
    });
  } catch (error) {
    return refused(error instanceof Error ? error.message.slice(0, 200) : "the passkey could not be verified");
  }
  const info = verified.registrationInfo;
  if (!verified.verified || !info) return refused("the passkey could not be verified");
  const id = crypto.randomUUID();
  const marker = randomToken();
  const won = challengeWonSql(challenge, marker);
  const transports = info.credential.transports?.length ? JSON.stringify(info.credential.transports.slice(0, 8)) : null;
  const inserted = sql`EXISTS (SELECT 1 FROM passkeys WHERE id = ${id})`;
  const results = await batch(db, [
    ...input.refund,
    consumeChallengeSql({ challenge, purpose: "registration", userId: caller.id, marker, now }),
    sql`INSERT INTO passkeys (id, user_id, credential_id, public_key, counter, transports, name, backed_up, created_at)
      SELECT ${id}, u.id, ${info.credential.id}, ${base64url(info.credential.publicKey)}, ${info.credential.counter}, ${transports},
        ${input.name ?? DEFAULT_NAME}, ${info.credentialBackedUp ? 1 : 0}, ${now}
      FROM users u WHERE ${input.callerGuard} AND ${won}
        AND (SELECT count(*) FROM passkeys WHERE user_id = u.id) < ${MAX_PASSKEYS}
      ON CONFLICT (credential_id) DO NOTHING`,
    await eventSql(deps, { type: "passkey_added", phone: caller.phone, userId: caller.id, detail: { passkey_id: id } }, inserted),
    webhookSql({ type: "passkey.added", data: { user_id: caller.id, phone: caller.phone, passkey_id: id }, now, when: inserted }),
    sql`SELECT ${won} AS won, (SELECT count(*) FROM passkeys WHERE user_id = ${caller.id}) AS owned,
      EXISTS (SELECT 1 FROM passkeys WHERE credential_id = ${info.credential.id}) AS taken`,
    sql`SELECT ${passkeyColumns} FROM passkeys p WHERE p.id = ${id}`,
  ]);
  const row = (results.at(-1) as PasskeyRow[])[0];
  if (row) return toPasskey(row);
  const state = (results.at(-2) as { won: number; owned: number; taken: number }[])[0];
  if (!state?.won) return invalidResponse("the registration challenge is unknown, used or expired: ask for new options");
  if (state.taken) return invalidResponse("this passkey is already registered");
  if (state.owned >= MAX_PASSKEYS) return invalidResponse(`an account holds at most ${MAX_PASSKEYS} passkeys`);
  return fail("unauthorized", { detail: "A valid access token is required." });
}

/** `GET /v1/me/passkeys`: the caller's passkeys; null when the caller's session is dead. */
export async function listPasskeys(deps: Deps, callerGuard: SQL, userId: string): Promise<PasskeyRow[] | null> {
  const [callers, rows] = await batch<[unknown[], PasskeyRow[]]>(deps.db, [
    sql`SELECT u.id FROM users u WHERE ${callerGuard}`,
    passkeysOfUserSql(userId),
  ]);
  return callers.length > 0 ? rows : null;
}

/** `PATCH /v1/me/passkeys/{id}`: renames one of the caller's passkeys (`not_found` when it is not theirs). */
export async function renamePasskey(
  deps: Deps,
  input: { callerGuard: SQL; userId: string; id: string; name: string },
): Promise<PasskeyView | Failure> {
  const live = sql`EXISTS (SELECT 1 FROM users u WHERE ${input.callerGuard})`;
  const [, callers, rows] = await batch<[unknown[], unknown[], PasskeyRow[]]>(deps.db, [
    sql`UPDATE passkeys SET name = ${input.name} WHERE id = ${input.id} AND user_id = ${input.userId} AND ${live}`,
    sql`SELECT 1 WHERE ${live}`,
    sql`SELECT ${passkeyColumns} FROM passkeys p WHERE p.id = ${input.id} AND p.user_id = ${input.userId}`,
  ]);
  if (callers.length === 0) return fail("unauthorized", { detail: "A valid access token is required." });
  return rows[0] ? toPasskey(rows[0]) : fail("not_found", { detail: "No such passkey." });
}

/** `DELETE /v1/me/passkeys/{id}`: true when one of the caller's passkeys was removed. */
export async function removePasskey(deps: Deps, input: { callerGuard: SQL; caller: { id: string; phone: string }; id: string }) {
  const owned = sql`EXISTS (SELECT 1 FROM passkeys WHERE id = ${input.id} AND user_id = ${input.caller.id})
    AND EXISTS (SELECT 1 FROM users u WHERE ${input.callerGuard})`;
  // The event first, under the same condition as the delete: one transaction, so both or neither.
  const [, removed] = await batch<[unknown[], { id: string }[]]>(deps.db, [
    await eventSql(
      deps,
      { type: "passkey_removed", phone: input.caller.phone, userId: input.caller.id, detail: { passkey_id: input.id } },
      owned,
    ),
    sql`DELETE FROM passkeys WHERE id = ${input.id} AND ${owned} RETURNING id`,
  ]);
  return removed.length > 0;
}
