// The browser build bundles its own Buffer: the importer also runs (in tests) inside workerd.
import { parse } from "csv-parse/browser/esm/sync";

/** The columns of the Django export. Others (e.g. `password`, `id`) are ignored. */
export const COLUMNS = ["phone", "invite_code", "activated_invite_code", "created_at", "first_name", "last_name", "email"] as const;
export type Column = (typeof COLUMNS)[number];
const REQUIRED: readonly Column[] = ["phone", "invite_code", "created_at"];

/** A data row with the line it starts on (1 = the header), or why it cannot be read as one. */
export type CsvRow = { line: number; fields: Record<Column, string> } | { line: number; error: string };

/** The file as a whole cannot be read (broken quoting, no usable header): nothing is imported. */
export class CsvFileError extends Error {}

/**
 * Reads UTF-8, comma-separated text with a header row. Fields are trimmed; blank lines (and rows
 * of empty fields) are skipped; a row with more or fewer fields than the header comes back as an
 * error, not guessed at.
 */
export function readCsvRows(text: string): CsvRow[] {
  // One line ending, so csv-parse's line count matches what an editor shows.
  const normalised = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  const records: { line: number; values: string[] }[] = [];
  try {
    parse(normalised, {
      relax_column_count: true,
      skip_empty_lines: true,
      on_record: (record: string[], context) => {
        // csv-parse counts the line a record ends on; only a quoted field can span lines.
        const spanned = record.reduce((count, value) => count + (value.match(/\n/g)?.length ?? 0), 0);
        records.push({ line: context.lines - spanned, values: record });
        return null;
      },
    });
  } catch (error) {
    throw new CsvFileError(`not valid CSV: ${error instanceof Error ? error.message : String(error)}`);
  }
  const [header, ...data] = records;
  if (!header) throw new CsvFileError("the file is empty");
  const names = header.values.map((name) => name.trim().toLowerCase());
  const missing = REQUIRED.filter((column) => !names.includes(column));
  if (missing.length > 0) throw new CsvFileError(`the header (line ${header.line}) lacks the column(s) ${missing.join(", ")}`);
  const twice = names.find((name, i) => COLUMNS.includes(name as Column) && names.indexOf(name) !== i);
  if (twice) throw new CsvFileError(`the header names the column ${twice} twice`);

  // A row of empty fields (",,,," or spaces) is a blank line too.
  const filled = data.filter(({ values }) => values.some((value) => value.trim() !== ""));
  return filled.map(({ line, values }) => {
    if (values.length !== names.length) {
      return { line, error: `has ${values.length} fields, the header has ${names.length}` };
    }
    const fields = Object.fromEntries(COLUMNS.map((column) => [column, ""])) as Record<Column, string>;
    names.forEach((name, i) => {
      if (COLUMNS.includes(name as Column)) fields[name as Column] = (values[i] ?? "").trim();
    });
    return { line, fields };
  });
}
