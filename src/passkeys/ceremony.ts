import type { WebAuthnConfig } from "../config";
import { base64url } from "../crypto";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import { issueChallengeSql } from "./storage";

// What registration and sign-in share: the relying party, and challenges.

/** The ceremony's timeout the browser is given; the challenge itself lives PASSKEY_CHALLENGE_SECONDS. */
export const CEREMONY_TIMEOUT_MS = 120_000;

/** The passkeys feature's config, or `not_found` when WEBAUTHN_* are not set (spec: Passkeys). */
export function relyingParty(deps: Deps): WebAuthnConfig | Failure {
  return deps.config.webauthn ?? fail("not_found", { detail: "No such route." });
}

/** The challenge a response answers, read from its client data (WebAuthn §5.8.1); null if unreadable. */
export function challengeOf(clientDataJSON: unknown): string | null {
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
export function newChallenge(deps: Deps, purpose: "registration" | "authentication", userId: string | null) {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const challenge = base64url(bytes);
  const expiresAt = deps.now + deps.config.PASSKEY_CHALLENGE_SECONDS * 1000;
  return { bytes, insert: issueChallengeSql({ challenge, purpose, userId, expiresAt }) };
}
