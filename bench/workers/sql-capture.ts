// Bench-only: records the exact SQL (and bound values) that the route code sends to D1, by running
// the real query functions from src/ against a recording stand-in for the D1 binding. The scale
// bench inlines the values and runs `EXPLAIN QUERY PLAN` on them, so the plans always describe
// the current source, not a hand-copied query.
import { listUsers } from "../../src/admin/service";
import { loadConfig } from "../../src/config";
import type { Cursor } from "../../src/db/cursor";
import type { Deps } from "../../src/deps";
import { callerSql, readProfile } from "../../src/me/service";
import { listReferrals } from "../../src/referrals/list";
import type { AccessClaims } from "../../src/tokens/jwt";

export type Captured = { sql: string; params: unknown[] };

function recorder() {
  const captured: Captured[] = [];
  const statement = (sql: string, params: unknown[] = []) => ({
    query: { sql, params },
    bind: (...values: unknown[]) => statement(sql, values),
    all: async () => {
      captured.push({ sql, params });
      return { results: [] };
    },
  });
  const d1 = {
    prepare: (sql: string) => statement(sql),
    batch: async (statements: ReturnType<typeof statement>[]) => {
      for (const s of statements) captured.push(s.query);
      return statements.map(() => ({ results: [] }));
    },
  };
  return { db: { d1 } as never, captured };
}

/** The statements behind GET /v1/me and GET /v1/me/referrals (first page and a cursor page). */
export async function captureRouteSql(
  env: Record<string, string>,
  ids: { sub: string; sid: string },
  now: number,
  cursor: Cursor,
  limit = 20,
) {
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(`config: ${loaded.problems.join("; ")}`);
  const config = loaded.config;
  const claims = { sub: ids.sub, sid: ids.sid } as AccessClaims;

  const me = recorder();
  await readProfile(me.db, config, claims, now);
  const first = recorder();
  await listReferrals(first.db, { callerId: claims.sub, callerGuard: callerSql(config, claims, now), limit });
  const deep = recorder();
  await listReferrals(deep.db, { callerId: claims.sub, callerGuard: callerSql(config, claims, now), limit, cursor });
  return { me: me.captured, referralsFirst: first.captured, referralsDeep: deep.captured };
}

/** The statements behind `GET /v1/admin/users?q=…` (admin check and search, one batch) for each `q`. */
export async function captureAdminSql(
  env: Record<string, string>,
  ids: { sub: string; sid: string },
  now: number,
  queries: Record<string, string | undefined>,
  limit = 20,
) {
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(`config: ${loaded.problems.join("; ")}`);
  const claims = { sub: ids.sub, sid: ids.sid, role: "admin" } as AccessClaims;
  const out: Record<string, Captured[]> = {};
  for (const [name, q] of Object.entries(queries)) {
    const search = recorder();
    const deps = { config: loaded.config, db: search.db, now } as unknown as Deps;
    await listUsers(deps, claims, { q, limit });
    out[name] = search.captured;
  }
  return out;
}
