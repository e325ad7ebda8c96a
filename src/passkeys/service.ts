import {
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import { type SQL, sql } from "drizzle-orm";
import { eventSql, recordEvent } from "../audit/events";
import type { WebAuthnConfig } from "../config";
import { base64url, randomToken } from "../crypto";
import { batch } from "../db/client";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import type { Caller } from "../passwords/service";
import { type SessionGrant, tokenResponse } from "../tokens/response";
import { type ClientInfo, newRefreshToken, openSessionStatements, sessionOpenedSql } from "../tokens/sessions";
import { type ProfileRow, profileColumns, toUser } from "../users/profile";
import { signInRoleSql } from "../users/roles";
import {
  challengeWonSql,
  consumeChallengeSql,
  issueChallengeSql,
  lastRows,
  type PasskeyRow,
  passkeyByCredential,
  passkeyColumns,
  passkeysOfUserSql,
} from "./storage";

// WebAuthn Level 3 ceremonies (§7.1 registration, §7.2 authentication) through
// @simplewebauthn/server; what the library leaves to the relying party — keeping challenges
// single-use, the signature counter and the session — happens here, in D1 batches.

/** The ceremony's timeout the browser is given; the challenge itself lives PASSKEY_CHALLENGE_SECONDS. */
const CEREMONY_TIMEOUT_MS = 120_000;
const MAX_PASSKEYS = 20;
const DEFAULT_NAME = "Passkey";

/** A passkey as the API answers it. */
export type PasskeyView = { id: string; name: string; created_at: string; last_used_at: string | null; backed_up: boolean };

const iso = (ms: number | null) => (ms == null ? null : new Date(ms).toISOString());

export const toPasskey = (row: PasskeyRow): PasskeyView => ({
  id: row.id,
  name: row.name,
  created_at: new Date(row.created_at).toISOString(),
  last_used_at: iso(row.last_used_at),
  backed_up: Boolean(row.backed_up),
});

/** The passkeys feature's config, or `not_found` when WEBAUTHN_* are not set (spec: Passkeys). */
export function relyingParty(deps: Deps): WebAuthnConfig | Failure {
  return deps.config.webauthn ?? fail("not_found", { detail: "No such route." });
}

const invalidCredentials = () => fail("invalid_credentials", { detail: "The passkey could not be verified." });
const invalidResponse = (message: string) =>
  fail("validation_failed", { detail: `response: ${message}`, errors: [{ path: "response", message }] });

/** The challenge a response answers, read from its client data (WebAuthn §5.8.1); null if unreadable. */
function challengeOf(clientDataJSON: unknown): string | null {
  if (typeof clientDataJSON !== "string" || clientDataJSON.length > 4096) return null;
  try {
    const json = atob(clientDataJSON.replace(/-/g, "+").replace(/_/g, "/"));
    const challenge = (JSON.parse(json) as { challenge?: unknown }).challenge;
    return typeof challenge === "string" && /^[A-Za-z0-9_-]{16,128}$/.test(challenge) ? challenge : null;
  } catch {
    return null;
  }
}

/** 256 random bits; stored as the base64url text the client data will carry back (§13.4.3). */
function newChallenge(deps: Deps, purpose: "registration" | "authentication", userId: string | null) {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const challenge = base64url(bytes);
  const expiresAt = deps.now + deps.config.PASSKEY_CHALLENGE_SECONDS * 1000;
  return { bytes, insert: issueChallengeSql({ challenge, purpose, userId, expiresAt }) };
}

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

/** `PATCH /v1/me/passkeys/{id}`: renames one of the caller's passkeys; null when it is not theirs. */
export async function renamePasskey(deps: Deps, input: { callerGuard: SQL; userId: string; id: string; name: string }) {
  const rows = await lastRows<PasskeyRow>(deps.db, [
    sql`UPDATE passkeys SET name = ${input.name}
      WHERE id = ${input.id} AND user_id = ${input.userId} AND EXISTS (SELECT 1 FROM users u WHERE ${input.callerGuard})`,
    sql`SELECT ${passkeyColumns} FROM passkeys p WHERE p.id = ${input.id} AND p.user_id = ${input.userId}
      AND EXISTS (SELECT 1 FROM users u WHERE ${input.callerGuard})`,
  ]);
  return rows[0] ? toPasskey(rows[0]) : null;
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

/** `POST /v1/auth/passkey/options`: a challenge for a discoverable credential (no allowCredentials). */
export async function authenticationOptions(deps: Deps, rp: WebAuthnConfig) {
  const issued = newChallenge(deps, "authentication", null);
  await batch(deps.db, [issued.insert]);
  return generateAuthenticationOptions({
    rpID: rp.rpId,
    challenge: issued.bytes,
    timeout: CEREMONY_TIMEOUT_MS,
    userVerification: "preferred",
    allowCredentials: [],
  });
}

type SignInRow = ProfileRow & {
  won: number;
  used: number;
  flagged: number;
  session_id: string | null;
  session_expires_at: number | null;
};

/**
 * `POST /v1/auth/passkey/verify`: signs in with a passkey in two D1 round trips — read the
 * credential, then (after the signature checks out) one batch that consumes the challenge,
 * moves the signature counter, opens a session and records the event. The counter is compared
 * in that batch's conditional UPDATE, not in the library (it gets 0), so the comparison is exact
 * under concurrency and is only ever made for a proven signature: a forged assertion with a low
 * counter cannot flag someone's passkey.
 */
export async function signInWithPasskey(
  deps: Deps,
  rp: WebAuthnConfig,
  input: { response: AuthenticationResponseJSON; client: ClientInfo },
) {
  const { config, db, now } = deps;
  const refuse = (reason: string, owner?: { user_id: string; phone: string }) => {
    recordEvent(deps, { type: "passkey_login_failed", phone: owner?.phone, userId: owner?.user_id, detail: { reason } });
    return invalidCredentials();
  };
  const challenge = challengeOf(input.response.response?.clientDataJSON);
  if (!challenge || typeof input.response.id !== "string") return refuse("malformed_response");
  const passkey = await passkeyByCredential(db, input.response.id);
  if (!passkey) return refuse("unknown_credential");
  if (passkey.flagged_at !== null) return refuse("flagged_credential", passkey);
  // WebAuthn §7.2 step 6: with a discoverable credential the user handle names the owner.
  if (input.response.response.userHandle !== base64url(new TextEncoder().encode(passkey.user_id))) {
    return refuse("user_handle_mismatch", passkey);
  }
  let newCounter: number;
  let backedUp: boolean;
  try {
    const verified = await verifyAuthenticationResponse({
      response: input.response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origins,
      expectedRPID: rp.rpId,
      credential: { id: passkey.credential_id, publicKey: fromBase64url(passkey.public_key), counter: 0 },
      requireUserVerification: false,
    });
    if (!verified.verified) return refuse("bad_signature", passkey);
    newCounter = verified.authenticationInfo.newCounter;
    backedUp = verified.authenticationInfo.credentialBackedUp;
  } catch {
    // Wrong origin, RP ID or type, a malformed response: the library says which (not the client).
    return refuse("rejected_assertion", passkey);
  }
  const marker = randomToken();
  const won = challengeWonSql(challenge, marker);
  const used = sql`EXISTS (SELECT 1 FROM passkeys WHERE id = ${passkey.id} AND use_marker = ${marker} AND flagged_at IS NULL)`;
  const flagged = sql`EXISTS (SELECT 1 FROM passkeys WHERE id = ${passkey.id} AND use_marker = ${marker} AND flagged_at IS NOT NULL)`;
  const refresh = await newRefreshToken();
  const sessionId = crypto.randomUUID();
  const phone = passkey.phone;
  const rows = await lastRows<SignInRow>(db, [
    consumeChallengeSql({ challenge, purpose: "authentication", userId: null, marker, now }),
    // WebAuthn §7.2 step 21: a counter that does not move forward (both zero means "no counter") ...
    sql`UPDATE passkeys SET counter = ${newCounter}, last_used_at = ${now}, backed_up = ${backedUp ? 1 : 0}, use_marker = ${marker}
      WHERE id = ${passkey.id} AND flagged_at IS NULL AND ${won}
        AND (${newCounter} > counter OR (${newCounter} = 0 AND counter = 0))`,
    // ... may mean a cloned authenticator: the passkey is flagged and refused from now on.
    sql`UPDATE passkeys SET flagged_at = ${now}, use_marker = ${marker}
      WHERE id = ${passkey.id} AND flagged_at IS NULL AND ${won} AND use_marker IS NOT ${marker}`,
    sql`UPDATE users SET last_login_at = ${now}, ${signInRoleSql(config, phone)} WHERE id = ${passkey.user_id} AND is_active = 1 AND ${used}`,
    ...openSessionStatements(config, { sessionId, phone, refreshHash: refresh.hash, now, client: input.client, guard: used }),
    await eventSql(
      deps,
      { type: "passkey_login", phone, userId: passkey.user_id, detail: { passkey_id: passkey.id } },
      sessionOpenedSql(sessionId),
    ),
    await eventSql(
      deps,
      { type: "passkey_login_failed", phone, userId: passkey.user_id, detail: { reason: "counter_regression", passkey_id: passkey.id } },
      flagged,
    ),
    sql`SELECT ${profileColumns}, ${won} AS won, ${used} AS used, ${flagged} AS flagged,
        s.id AS session_id, s.expires_at AS session_expires_at
      FROM users u LEFT JOIN sessions s ON s.id = ${sessionId} AND s.user_id = u.id WHERE u.id = ${passkey.user_id}`,
  ]);
  const row = rows[0];
  if (!row?.won) return refuse("used_challenge", passkey);
  if (row.flagged || !row.used) return invalidCredentials();
  if (!row.is_active || !row.session_id || row.session_expires_at == null) {
    return fail("account_disabled", { detail: "This account is deactivated." });
  }
  // A passkey proves the user like a code does: auth_time is now (spec: Passkeys).
  const session: SessionGrant = { id: row.session_id, userId: row.id, role: row.role, authTime: now, expiresAt: row.session_expires_at };
  return tokenResponse(config, { session, refreshToken: refresh.token, isNewUser: false, user: toUser(row) }, now);
}

function fromBase64url(value: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(value.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
}
