import { type AuthenticationResponseJSON, generateAuthenticationOptions, verifyAuthenticationResponse } from "@simplewebauthn/server";
import { eventSql, recordEvent } from "../audit/events";
import type { WebAuthnConfig } from "../config";
import { base64url, randomToken } from "../crypto";
import { batch } from "../db/client";
import { sql } from "../db/sql";
import type { Deps } from "../deps";
import { fail } from "../http/problem";
import { type SessionGrant, tokenResponse } from "../tokens/response";
import { type ClientInfo, newRefreshToken, openSessionStatements, sessionOpenedSql } from "../tokens/sessions";
import { type ProfileRow, profileColumns, toUser } from "../users/profile";
import { signInRoleSql } from "../users/roles";
import { webhookSql } from "../webhooks/outbox";
import { CEREMONY_TIMEOUT_MS, challengeOf, newChallenge } from "./ceremony";
import { challengeWonSql, consumeChallengeSql, lastRows, passkeyByCredential } from "./storage";

// Discoverable-credential sign-in (WebAuthn Level 3 §7.2) through @simplewebauthn/server. What the
// library leaves to the relying party — a single-use challenge, the signature counter, the
// session — happens in one D1 batch, guarded by the challenge's consume marker.

const invalidCredentials = () => fail("invalid_credentials", { detail: "The passkey could not be verified." });

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
    webhookSql({
      type: "user.signed_in",
      data: { user_id: passkey.user_id, phone, method: "passkey", session_id: sessionId },
      now,
      when: sessionOpenedSql(sessionId),
    }),
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
