import { all, batch, type Db } from "../db/client";
import { type SQL, sql } from "../db/sql";

// The passkey tables (src/db/schema.ts, src/db/STORAGE.md). A challenge is consumed by one
// conditional UPDATE at the head of the batch that acts on it; every later statement of that
// batch runs only where the challenge carries this request's marker.

export type ChallengePurpose = "registration" | "authentication";

/** A passkey as the service reads it. */
export type PasskeyRow = {
  id: string;
  user_id: string;
  credential_id: string;
  public_key: string;
  counter: number;
  transports: string | null;
  name: string;
  backed_up: number;
  created_at: number;
  last_used_at: number | null;
  flagged_at: number | null;
};

export const passkeyColumns = sql.raw(
  "p.id, p.user_id, p.credential_id, p.public_key, p.counter, p.transports, p.name, p.backed_up, p.created_at, p.last_used_at, p.flagged_at",
);

/** Stores a fresh challenge; it may be consumed once, before `expiresAt`. */
export function issueChallengeSql(input: { challenge: string; purpose: ChallengePurpose; userId: string | null; expiresAt: number }): SQL {
  return sql`INSERT INTO passkey_challenges (challenge, purpose, user_id, expires_at)
    VALUES (${input.challenge}, ${input.purpose}, ${input.userId}, ${input.expiresAt})`;
}

/**
 * The race gate: marks a live, unused challenge of `purpose` (and, for registration, of
 * `userId`) as consumed by `marker`. Of parallel requests with one challenge, one matches.
 */
export function consumeChallengeSql(input: {
  challenge: string;
  purpose: ChallengePurpose;
  userId: string | null;
  marker: string;
  now: number;
}): SQL {
  const owner = input.userId === null ? sql`user_id IS NULL` : sql`user_id = ${input.userId}`;
  return sql`UPDATE passkey_challenges SET consumed_at = ${input.now}, consume_marker = ${input.marker}
    WHERE challenge = ${input.challenge} AND purpose = ${input.purpose} AND ${owner}
      AND consumed_at IS NULL AND expires_at > ${input.now}`;
}

/** SQL condition: this request's consume won. */
export function challengeWonSql(challenge: string, marker: string): SQL {
  return sql`EXISTS (SELECT 1 FROM passkey_challenges WHERE challenge = ${challenge} AND consume_marker = ${marker})`;
}

/** The passkey with `credentialId` and the phone of its owner (for sessions and the audit trail). */
export async function passkeyByCredential(db: Db, credentialId: string) {
  const rows = await all<PasskeyRow & { phone: string }>(
    db,
    sql`SELECT ${passkeyColumns}, u.phone FROM passkeys p JOIN users u ON u.id = p.user_id WHERE p.credential_id = ${credentialId}`,
  );
  return rows[0];
}

/** The user's passkeys, oldest first (a user has a handful; 100 is a safety cap). */
export function passkeysOfUserSql(userId: string): SQL {
  return sql`SELECT ${passkeyColumns} FROM passkeys p WHERE p.user_id = ${userId} ORDER BY p.created_at, p.id LIMIT 100`;
}

/** Runs statements and returns the last one's rows. */
export async function lastRows<T>(db: Db, statements: SQL[]): Promise<T[]> {
  const results = await batch(db, statements);
  return (results.at(-1) ?? []) as T[];
}
