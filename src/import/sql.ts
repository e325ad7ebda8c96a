import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { type SQL, sql } from "../db/sql";
import { activationStatements } from "../referrals/service";
import type { Plan, PlannedLink, PlannedUser } from "./plan";

/**
 * The import as statements, in order. `marker` is random per generated file: rows this run inserts
 * carry it (`users.invite_marker`, `referrals.created_marker`) so that the statements after the
 * inserts act only on them, and the last two statements wipe it. Run the file again and nothing
 * carries it, so nothing moves: no user, no referral, no counter.
 */
export function importStatements(plan: Plan, input: { marker: string; bonus: number }): SQL[] {
  const { marker } = input;
  return [
    ...plan.users.map((user) => insertUser(user, marker)),
    ...plan.links.flatMap((link, i) => linkStatements(link, { marker, linkMarker: `${marker}.${i + 1}`, bonus: input.bonus })),
    sql`SELECT ${plan.users.length} AS users_in_file,
        (SELECT count(*) FROM users WHERE invite_marker = ${marker} OR invite_marker LIKE ${`${marker}.%`}) AS users_inserted,
        ${plan.links.length} AS links_in_file,
        (SELECT count(*) FROM users WHERE invite_marker LIKE ${`${marker}.%`}) AS links_made,
        (SELECT count(*) FROM referrals WHERE created_marker LIKE ${`${marker}.%`}) AS referrals_added,
        (SELECT value FROM counters WHERE name = 'users_total') AS users_total`,
    ...checkStatements(plan),
    sql`UPDATE referrals SET created_marker = NULL WHERE created_marker LIKE ${`${marker}.%`}`,
    sql`UPDATE users SET invite_marker = NULL WHERE invite_marker = ${marker} OR invite_marker LIKE ${`${marker}.%`}`,
  ];
}

/**
 * Inserts the user unless the phone has an account (never overwritten) or had one that was deleted
 * (its `account_deleted` audit event, while retention keeps it): a re-import must not bring back
 * an account its owner deleted. A code someone in D1 already owns gives way to the fallback.
 */
function insertUser(user: PlannedUser, marker: string): SQL {
  const phone = user.phone.e164;
  return sql`INSERT INTO users (id, phone, first_name, last_name, email, invite_code, created_at, invite_marker)
    SELECT ${user.id}, ${phone}, ${user.firstName}, ${user.lastName}, ${user.email},
      iif(EXISTS (SELECT 1 FROM users WHERE invite_code = ${user.code}), ${user.fallbackCode}, ${user.code}), ${user.createdAt}, ${marker}
    WHERE NOT EXISTS (SELECT 1 FROM users WHERE phone = ${phone})
      AND NOT EXISTS (SELECT 1 FROM audit_events WHERE phone_key = ${user.phoneKey} AND type = 'account_deleted')`;
}

/**
 * The API's own activation statements (race gate, referral row keyed by phone, counters, points),
 * for a user this run inserted (`callerGuard`). An inviter of the file is found by phone, because
 * its code may have given way to the fallback; any other code is looked up in D1.
 */
function linkStatements(link: PlannedLink, input: { marker: string; linkMarker: string; bonus: number }): SQL[] {
  const inviterId =
    "user" in link.inviter
      ? sql`(SELECT id FROM users WHERE phone = ${link.inviter.user.phone.e164})`
      : sql`(SELECT id FROM users WHERE invite_code = ${link.inviter.code})`;
  return activationStatements({
    callerId: link.invitee.id,
    code: sql`(SELECT invite_code FROM users WHERE id = ${inviterId})`,
    inviterId,
    phoneKey: link.invitee.phoneKey,
    marker: input.linkMarker,
    referralId: link.referralId,
    bonus: input.bonus,
    // Django kept no activation time; the invitee's sign-up is the closest.
    now: link.invitee.createdAt,
    callerGuard: sql`u.invite_marker = ${input.marker}`,
  });
}

const CHECK_CHUNK = 200;

/**
 * Read-only: the rows of the file whose account in D1 is not what the file asked for. Inside the
 * import it reports what the run could not do; run alone (`--check`) it compares D1 with the file
 * at any later time. Chunked to stay far below D1's 100 KB statement limit.
 *
 * `account`: `existing_account` (the phone had an account: left as it was), `code_taken` (imported
 * with the fallback code), `deleted_account`, `not_imported`. `referral`: `inviter_not_found`,
 * `inviter_inactive`, `not_linked` (e.g. a loop through accounts in D1), or `linked`.
 */
export function checkStatements(plan: Plan): SQL[] {
  const inviterOf = new Map(plan.links.map((link) => [link.invitee, link.inviter]));
  const statements: SQL[] = [];
  for (let start = 0; start < plan.users.length; start += CHECK_CHUNK) {
    const rows = plan.users.slice(start, start + CHECK_CHUNK).map((user) => {
      const inviter = inviterOf.get(user);
      const inviterPhone = inviter && "user" in inviter ? inviter.user.phone.e164 : null;
      const inviterCode = inviter && "code" in inviter ? inviter.code : null;
      return sql`(${user.line}, ${user.phone.e164}, ${user.phoneKey}, ${user.fallbackCode}, ${user.createdAt}, ${inviterPhone}, ${inviterCode})`;
    });
    statements.push(sql`WITH planned (line, phone, phone_key, fallback, created_at, inviter_phone, inviter_code) AS (VALUES ${sql.join(rows, sql`, `)}),
      found AS (
        SELECT p.line, u.invite_code, u.invited_by, i.id AS inviter_id, i.is_active AS inviter_active,
          p.inviter_phone IS NOT NULL OR p.inviter_code IS NOT NULL AS wants_link,
          iif(u.id IS NULL,
            iif(EXISTS (SELECT 1 FROM audit_events a WHERE a.phone_key = p.phone_key AND a.type = 'account_deleted'), 'deleted_account', 'not_imported'),
            iif(u.created_at <> p.created_at, 'existing_account', iif(u.invite_code = p.fallback, 'code_taken', 'imported'))) AS account
        FROM planned p
        LEFT JOIN users u ON u.phone = p.phone
        LEFT JOIN users i ON i.phone = coalesce(p.inviter_phone, (SELECT phone FROM users WHERE invite_code = p.inviter_code))),
      outcome AS (
        SELECT line, account, invite_code,
          iif(NOT wants_link OR account NOT IN ('imported', 'code_taken'), NULL,
            iif(invited_by = inviter_id, 'linked',
              iif(inviter_id IS NULL, 'inviter_not_found', iif(inviter_active = 0, 'inviter_inactive', 'not_linked')))) AS referral
        FROM found)
      SELECT line, account, invite_code, referral FROM outcome
      WHERE account <> 'imported' OR coalesce(referral, 'linked') <> 'linked' ORDER BY line`);
  }
  return statements;
}

const dialect = new SQLiteAsyncDialect();

// Values written as-is; anything else is written as UTF-8 hex, so no name or email can end a
// string, start a comment or look like a statement boundary to wrangler's file splitter.
const plain = /^[A-Za-z0-9+@._:%-]*$/;
const encoder = new TextEncoder();

function literal(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  if (typeof value === "string") {
    if (plain.test(value)) return `'${value}'`;
    const hex = [...encoder.encode(value)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    return `CAST(X'${hex.toUpperCase()}' AS TEXT)`;
  }
  throw new TypeError(`no SQL literal for ${typeof value}`);
}

/**
 * One statement as text for a `.sql` file: Drizzle's parameters become literals, whitespace is
 * collapsed. `wrangler d1 execute --file` takes no parameters, and a file is what D1 applies as one unit.
 */
export function statementText(statement: SQL): string {
  const { sql: text, params } = dialect.sqlToQuery(statement);
  let next = 0;
  // Quoted text stays as it is; outside it, `?` takes the next parameter and whitespace shrinks.
  const out = text.replace(/'[^']*'|"[^"]*"|`[^`]*`|\?|\s+/g, (token) => {
    if (token === "?") return literal(params[next++]);
    return /^\s/.test(token) ? " " : token;
  });
  if (next !== params.length) throw new Error(`statement has ${params.length} parameters, ${next} placeholders`);
  return out.trim();
}
