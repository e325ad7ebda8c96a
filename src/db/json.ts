import { isSQLWrapper } from "drizzle-orm";
import { type SQL, sql } from "./sql";

/** A JSON value written by the Worker, or SQL that yields it inside the batch. */
export type JsonField = string | number | boolean | null | SQL;

/**
 * A JSON object as SQL: a literal when every value is the Worker's, else SQLite's `json_object`,
 * so a value can come from the batch itself (an id a statement just wrote, a count it moved).
 */
export function jsonObjectSql(fields: Record<string, JsonField>): string | SQL {
  const entries = Object.entries(fields);
  if (!entries.some(([, value]) => isSQLWrapper(value))) return JSON.stringify(fields);
  return sql`json_object(${sql.join(
    entries.map(([key, value]) => sql`${key}, ${isSQLWrapper(value) || value === null ? value : sql`json(${JSON.stringify(value)})`}`),
    sql`, `,
  )})`;
}
