import type { Config } from "../config";
import { batch, type Db } from "../db/client";
import { type SQL, sql } from "../db/sql";
import { oldestStormCounter } from "../fraud/guard";
import { ANALYTICS_DAYS } from "../fraud/rollups";
import { LONGEST_WINDOW_MS } from "../limits/sliding";

const DAY = 86_400_000;
// Bounded work per run: at most ROUNDS × BATCH rows per kind; the next run continues.
const BATCH = 500;
const ROUNDS = 20;

/** Deletes in chunks of BATCH until fewer come back, at most ROUNDS times. Returns rows deleted. */
async function drain(db: Db, statements: (limit: number) => SQL[]): Promise<number> {
  let total = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const results = await batch(db, statements(BATCH));
    const deleted = (results.at(-1) ?? []).length;
    total += deleted;
    if (deleted < BATCH) break;
  }
  return total;
}

/**
 * The Cron Trigger's job: drop what is past retention — audit events (AUDIT_RETENTION_DAYS),
 * sessions revoked or expired over 30 days ago with their refresh tokens, dead one-time-code
 * rows, passkey challenges a day past expiry, and old SMS budget days. Per-phone guards are kept (they carry lockouts).
 */
export async function runRetention(db: Db, config: Config, now: number) {
  const eventsBefore = now - config.AUDIT_RETENTION_DAYS * DAY;
  const sessionsBefore = now - 30 * DAY;
  const oldSessions = (limit: number) =>
    sql`SELECT id FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at < ${sessionsBefore}) OR expires_at < ${sessionsBefore}
      ORDER BY id LIMIT ${limit}`;
  const events = await drain(db, (limit) => [
    sql`DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE created_at < ${eventsBefore} LIMIT ${limit}) RETURNING id`,
  ]);
  const sessions = await drain(db, (limit) => [
    sql`DELETE FROM refresh_tokens WHERE session_id IN (${oldSessions(limit)})`,
    sql`DELETE FROM sessions WHERE id IN (${oldSessions(limit)}) RETURNING id`,
  ]);
  const codes = await drain(db, (limit) => [
    sql`DELETE FROM otp_challenges WHERE rowid IN (SELECT rowid FROM otp_challenges
      WHERE consumed_at < ${now - DAY} OR expires_at < ${now - DAY} LIMIT ${limit}) RETURNING phone`,
  ]);
  const passkeyChallenges = await drain(db, (limit) => [
    sql`DELETE FROM passkey_challenges WHERE challenge IN (SELECT challenge FROM passkey_challenges
      WHERE expires_at < ${now - DAY} LIMIT ${limit}) RETURNING challenge`,
  ]);
  // Rate events are dead once they left the longest window they can count in.
  const windowMs = Math.max(LONGEST_WINDOW_MS, config.OTP_LOCKOUT_SECONDS * 1000, config.PASSWORD_LOCKOUT_SECONDS * 1000);
  const rateEvents = await drain(db, (limit) => [
    sql`DELETE FROM rate_events WHERE rowid IN (SELECT rowid FROM rate_events WHERE at <= ${now - windowMs} LIMIT ${limit}) RETURNING at`,
  ]);
  const budgetDays = await drain(db, (limit) => [
    sql`DELETE FROM sms_budget WHERE rowid IN (SELECT rowid FROM sms_budget
      WHERE day < ${new Date(now - 7 * DAY).toISOString().slice(0, 10)} LIMIT ${limit}) RETURNING day`,
  ]);
  // The fraud guard reads code sends (and their country minutes) of its window only (kept a day, or the window if longer); the
  // hourly counters serve the analytics for as long as they can be asked for.
  const sendsBefore = now - Math.max(DAY, config.FRAUD_WINDOW_SECONDS * 1000);
  const countryMinutes = await drain(db, (limit) => [
    sql`DELETE FROM country_minutes WHERE rowid IN (SELECT rowid FROM country_minutes WHERE minute < ${Math.floor(sendsBefore / 60_000)} LIMIT ${limit})
      RETURNING minute`,
  ]);
  const codeSends = await drain(db, (limit) => [
    sql`DELETE FROM code_sends WHERE code_id IN (SELECT code_id FROM code_sends WHERE sent_at < ${sendsBefore} LIMIT ${limit}) RETURNING code_id`,
  ]);
  // Delivery attempts (no phone, only its prefix) go with the audit trail.
  const attempts = await drain(db, (limit) => [
    sql`DELETE FROM delivery_attempts WHERE rowid IN (SELECT rowid FROM delivery_attempts WHERE created_at < ${eventsBefore} LIMIT ${limit})
      RETURNING attempt`,
  ]);
  const rollups = await drain(db, (limit) => [
    sql`DELETE FROM traffic_hourly WHERE rowid IN (SELECT rowid FROM traffic_hourly WHERE hour < ${now - ANALYTICS_DAYS * DAY} LIMIT ${limit})
      RETURNING hour`,
  ]);
  await batch(db, [sql`DELETE FROM counters WHERE substr(name, 1, 14) = 'wrong_guesses:' AND name < ${oldestStormCounter(now)}`]);
  return { events, sessions, codes, passkeyChallenges, budgetDays, rateEvents, codeSends, countryMinutes, attempts, rollups };
}
