import { Name, SQL, StringChunk } from "drizzle-orm";
import { guarded } from "../storage/guard";
import { OUTBOX_STATEMENTS } from "../webhooks/outbox";

/** A Drizzle query builder or a Drizzle `sql` template. */
export type Statement = SQL | { toSQL(): { sql: string; params: unknown[] } };

/**
 * D1 through Drizzle: the schema and migrations are Drizzle's, every statement is a Drizzle `sql`
 * template (compiled by `compile` below, to the same SQL as Drizzle's SQLite dialect), run on a D1
 * binding or a D1 session, every call bounded by `timeoutMs` (src/storage/guard.ts).
 */
export type Db = {
  d1: D1Database | D1DatabaseSession;
  timeoutMs: number;
  /** Called after a batch commits with the ids of the webhook outbox rows it wrote (src/webhooks). */
  onOutbox?: (eventIds: string[]) => void;
};

const clients = new WeakMap<D1Database, Db>();
// STORAGE_TIMEOUT_MS's default, for callers without config at hand.
const DEFAULT_TIMEOUT_MS = 3000;

/** The database on a plain binding (cron jobs, health checks): one per binding per isolate. */
export function database(d1: D1Database, timeoutMs = DEFAULT_TIMEOUT_MS): Db {
  let db = clients.get(d1);
  if (db?.timeoutMs !== timeoutMs) {
    db = { d1, timeoutMs };
    clients.set(d1, db);
  }
  return db;
}

// What D1 issues as a bookmark; anything else from a client is ignored, never passed to D1.
const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;

/**
 * A D1 session for one request (D1 read replication). A read-only one may start on the nearest
 * replica, or, when the client sends back the bookmark of its last response, on one at least that
 * new (it reads its own writes). Any other starts on the primary, which is newer than any bookmark.
 */
export function sessionDatabase(
  d1: D1Database,
  input: { bookmark?: string; readOnly: boolean; timeoutMs?: number },
): Db & { session: D1DatabaseSession } {
  const bookmark = input.bookmark && BOOKMARK.test(input.bookmark) ? input.bookmark : undefined;
  const anchor = input.readOnly ? (bookmark ?? "first-unconstrained") : "first-primary";
  const session = d1.withSession(anchor);
  return { d1: session, session, timeoutMs: input.timeoutMs ?? DEFAULT_TIMEOUT_MS };
}

function prepare(db: Db, statement: Statement): D1PreparedStatement {
  const query = "toSQL" in statement ? statement.toSQL() : compile(statement);
  return db.d1.prepare(query.sql).bind(...query.params);
}

type Query = { sql: string; params: unknown[] };

/**
 * A Drizzle `sql` template as SQLite text and parameters, exactly as Drizzle's dialect compiles it.
 * Drizzle's compiler handles every kind of chunk (tables, columns, aliases, subqueries, encoders)
 * and tests each chunk against a dozen classes, which on a sign-in's dozen statements costs more
 * than the rest of its SQL work. Our statements are templates of text, nested templates,
 * identifiers and plain values: those compile here in one pass (`?` per value, identifiers
 * double-quoted); anything else (a column or table object, an array, inlined values) is refused
 * with an error, so Drizzle's compiler stays out of the bundle.
 */
export function compile(statement: SQL): Query {
  const query: Query = { sql: "", params: [] };
  if (!appendTemplate(query, statement))
    throw new Error("compile: only plain sql templates (text, nested templates, identifiers, values) are supported");
  return query;
}

function appendTemplate(query: Query, template: SQL): boolean {
  // Set by `.inlineParams()` (private in Drizzle's types): values become literals, Drizzle's job.
  if ((template as unknown as { shouldInlineParams: boolean }).shouldInlineParams) return false;
  for (const chunk of template.queryChunks) {
    if (chunk instanceof StringChunk) query.sql += chunk.value.length === 1 ? chunk.value[0] : chunk.value.join("");
    else if (chunk instanceof SQL) {
      if (!appendTemplate(query, chunk)) return false;
    } else if (chunk instanceof Name) query.sql += `"${chunk.value.replace(/"/g, '""')}"`;
    else if (chunk === null || (chunk !== undefined && typeof chunk !== "object")) {
      query.sql += "?";
      query.params.push(chunk);
    } else if (chunk !== undefined) return false;
  }
  return true;
}

/** Runs one statement and returns its rows (with RETURNING, the changed rows). */
export async function all<T = Record<string, unknown>>(db: Db, statement: Statement): Promise<T[]> {
  return (await guarded("db", db.timeoutMs, () => prepare(db, statement).all<T>())).results;
}

/**
 * Runs statements as one D1 batch: one round trip, executed in order as a single transaction
 * (all or nothing). Drizzle's own `batch` cannot carry parameterised `sql` templates on D1, and
 * our atomic steps are exactly those. Returns each statement's rows.
 */
export async function batch<R extends unknown[][] = Record<string, unknown>[][]>(db: Db, statements: Statement[]): Promise<R> {
  const results = await guarded("db", db.timeoutMs, () => db.d1.batch(statements.map((statement) => prepare(db, statement))));
  const rows = results.map((result) => result.results);
  if (db.onOutbox) {
    const written = statements.flatMap((statement, i) =>
      statement instanceof SQL && OUTBOX_STATEMENTS.has(statement) ? (rows[i] as { id: string }[]).map((row) => row.id) : [],
    );
    if (written.length > 0) db.onOutbox(written);
  }
  return rows as R;
}
