// The user importer of issue #9 (`npm run import`, docs/IMPORT.md). Not imported by the Worker:
// it runs in Node through scripts/import.mjs and in workerd under the tests.
import mobilePlans from "libphonenumber-js/metadata.mobile.json";
import { phoneKey, usePhoneMetadata } from "../phone";
import { readCsvRows } from "./csv";
import { planImport, type RegeneratedCode, type SkippedLink } from "./plan";
import { checkStatements, importStatements, statementText } from "./sql";
import { type ImportConfig, type SkippedRow, validateRow } from "./validate";

// The importer runs outside the Worker (Node, tests): it takes the numbering plans from the package.
usePhoneMetadata(mobilePlans);

export { CsvFileError } from "./csv";
export { formatReport } from "./report";
export type { ImportConfig } from "./validate";

export type UserImportOptions = {
  /** The production values of PASSWORD_PEPPER, DEFAULT_REGION, ALLOWED_COUNTRIES, REFERRAL_BONUS_POINTS. */
  config: ImportConfig;
  /** Region for national numbers, ahead of DEFAULT_REGION (like the API's body field `region`). */
  region?: string;
  /** Clock (ms): no `created_at` may lie after it. */
  now: number;
};

/** What generating the SQL found; apply-time outcomes come from the check (see `checkStatements`). */
export type ImportReport = {
  /** Data rows read (blank lines not counted). */
  rows: number;
  /** Users in the SQL; each is inserted unless its phone has (or had) an account by then. */
  users: number;
  /** Referral links in the SQL. */
  links: number;
  /** Links whose code is not in the file: resolved against the accounts in D1 when the SQL runs. */
  linksToDatabase: number;
  skipped: SkippedRow[];
  regenerated: RegeneratedCode[];
  skippedLinks: SkippedLink[];
};

export type UserImport = {
  /** The file for `wrangler d1 execute --file`: header comment, then `statements`. */
  sql: string;
  statements: string[];
  /** Read-only statements listing rows whose account differs from the file (run after applying). */
  checkStatements: string[];
  report: ImportReport;
};

/**
 * Turns a Django users export (CSV text) into idempotent SQL for D1. Throws `CsvFileError` when
 * the file as a whole cannot be read; a row that fails a check is skipped and reported.
 */
export async function importUsers(csv: string, options: UserImportOptions): Promise<UserImport> {
  const { config } = options;
  const rows = readCsvRows(csv).map((row) => validateRow(config, row, options));
  const plan = await planImport(rows, config.PASSWORD_PEPPER, (e164) => phoneKey(config, e164));
  const marker = `import-${randomHex(8)}`;
  const statements = importStatements(plan, { marker, bonus: config.REFERRAL_BONUS_POINTS }).map(statementText);
  const report: ImportReport = {
    rows: rows.length,
    users: plan.users.length,
    links: plan.links.length,
    linksToDatabase: plan.links.filter((link) => "code" in link.inviter).length,
    skipped: plan.skipped,
    regenerated: plan.regenerated,
    skippedLinks: plan.skippedLinks,
  };
  const header = [
    `-- phone-auth-edge user import, generated ${new Date(options.now).toISOString()} by npm run import (docs/IMPORT.md).`,
    `-- ${report.rows} rows read: ${report.users} users, ${report.links} referral links, ${report.skipped.length} rows skipped. Marker ${marker}.`,
    "-- Apply with: npx wrangler d1 execute DB --file <this file> [--remote]. D1 applies a file all or nothing.",
    "-- Running it again changes nothing: existing phones are left alone, counters move only for rows this run inserts.",
  ];
  return {
    sql: `${header.join("\n")}\n${statements.map((statement) => `${statement};\n`).join("")}`,
    statements,
    checkStatements: checkStatements(plan).map(statementText),
    report,
  };
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
