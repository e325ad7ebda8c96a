import type { ImportReport } from "./users";

/** The report as the CLI prints it (stderr): counts, then every row that needs a look, by line. */
export function formatReport(report: ImportReport): string {
  const duplicates = report.skipped.filter((row) => row.reason === "duplicate_phone");
  const invalid = report.skipped.filter((row) => row.reason !== "duplicate_phone");
  const lines = [
    `${report.rows} rows read: ${report.users} users and ${report.links} referral links to import` +
      (report.linksToDatabase > 0 ? ` (${report.linksToDatabase} links to codes not in the file, looked up in D1).` : "."),
    ...section(
      "Skipped rows",
      invalid.map((row) => `line ${row.line}: ${row.reason}: ${row.detail}`),
    ),
    ...section(
      "Duplicate phones (the first row of a number is imported)",
      duplicates.map((row) => `line ${row.line}: ${row.detail}`),
    ),
    ...section(
      "Regenerated invite codes",
      report.regenerated.map((code) => `line ${code.line}: ${code.from ?? "(none)"} -> ${code.to}: ${code.detail}`),
    ),
    ...section(
      "Referral links left out",
      report.skippedLinks.map((link) => `line ${link.line}: ${link.reason}: ${link.detail}`),
    ),
    "What only D1 can tell (phones that already have an account, codes taken there, links it could not make) is listed by the",
    "SELECTs at the end of the SQL and, at any time later, by the same command with --check (docs/IMPORT.md).",
  ];
  return `${lines.join("\n")}\n`;
}

function section(title: string, entries: string[]): string[] {
  return entries.length === 0 ? [] : [`${title} (${entries.length}):`, ...entries.map((entry) => `  ${entry}`)];
}
