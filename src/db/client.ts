import type { SQL } from "drizzle-orm";
import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import * as schema from "./schema";

/** A Drizzle query builder or a Drizzle `sql` template. */
export type Statement = SQL | { toSQL(): { sql: string; params: unknown[] } };

/** D1 through Drizzle: the typed ORM for plain queries, the binding for batches. */
export type Db = { orm: DrizzleD1Database<typeof schema>; d1: D1Database };

const clients = new WeakMap<D1Database, Db>();
const dialect = new SQLiteAsyncDialect();

/** One Drizzle client per D1 binding (per isolate). */
export function database(d1: D1Database): Db {
  let db = clients.get(d1);
  if (!db) {
    db = { orm: drizzle(d1, { schema }), d1 };
    clients.set(d1, db);
  }
  return db;
}

function prepare(db: Db, statement: Statement): D1PreparedStatement {
  const query = "toSQL" in statement ? statement.toSQL() : dialect.sqlToQuery(statement);
  return db.d1.prepare(query.sql).bind(...query.params);
}

/** Runs one statement and returns its rows (with RETURNING, the changed rows). */
export async function all<T = Record<string, unknown>>(db: Db, statement: Statement): Promise<T[]> {
  return (await prepare(db, statement).all<T>()).results;
}

/**
 * Runs statements as one D1 batch: one round trip, executed in order as a single transaction
 * (all or nothing). Drizzle's own `batch` cannot carry parameterised `sql` templates on D1, and
 * our atomic steps are exactly those. Returns each statement's rows.
 */
export async function batch<R extends unknown[][] = Record<string, unknown>[][]>(db: Db, statements: Statement[]): Promise<R> {
  const results = await db.d1.batch(statements.map((statement) => prepare(db, statement)));
  return results.map((result) => result.results) as R;
}
