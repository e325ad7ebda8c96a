import { env } from "cloudflare:workers";
import { sql as drizzleSql } from "drizzle-orm";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import { eventSql } from "../src/audit/events";
import { loadConfig } from "../src/config";
import { compile } from "../src/db/client";
import { users } from "../src/db/schema";
import { compactSql, type SQL, sql } from "../src/db/sql";
import type { Deps } from "../src/deps";
import { guessStatements, wonSql } from "../src/otp/gate";
import { activationStatements } from "../src/referrals/service";
import { openSessionStatements } from "../src/tokens/sessions";
import { profileColumns } from "../src/users/profile";

const drizzle = new SQLiteAsyncDialect();
const sameAsDrizzle = (statement: SQL) => {
  const expected = drizzle.sqlToQuery(statement);
  const compiled = compile(statement);
  expect({ sql: compiled.sql, params: compiled.params }).toEqual({ sql: expected.sql, params: expected.params });
};

describe("compile: our sql templates as Drizzle's SQLite dialect compiles them", () => {
  it("text, values of every kind, and an interpolated undefined", () => {
    sameAsDrizzle(sql`SELECT ${"a"}, ${1}, ${2.5}, ${null}, ${true}, ${10n}, ${undefined} FROM t WHERE x = ${"it's"}`);
  });

  it("nested templates, sql.raw, sql.join, sql.empty and identifiers that need quoting", () => {
    const inner = sql`EXISTS (SELECT 1 FROM t WHERE ${sql.identifier('odd"name')} = ${"v"})`;
    sameAsDrizzle(
      sql`SELECT ${profileColumns} FROM users u WHERE ${inner} AND ${sql.join([sql`a = ${1}`, sql`b = ${2}`], sql` OR `)}${drizzleSql.empty()}`,
    );
  });

  it("the statements of a sign-in and an invite activation", async () => {
    const loaded = loadConfig(env);
    if (!loaded.ok) throw new Error(loaded.problems.join("; "));
    const config = loaded.config;
    const now = 1_700_000_000_000;
    const won = wonSql("+375291234567", "login", "marker");
    const deps = { config, now, request: { ip: "10.0.0.1", country: null, requestId: "req" } } as unknown as Deps;
    const statements = [
      ...guessStatements(config, {
        phone: "+375291234567",
        purpose: "login",
        codeId: "c",
        right: true,
        marker: "marker",
        now,
        ip: "10.0.0.1",
      }),
      ...openSessionStatements(config, {
        sessionId: "s",
        phone: "+375291234567",
        refreshHash: "h",
        now,
        client: { userAgent: null, country: "BY" },
        guard: won,
      }),
      ...activationStatements({
        callerId: "c",
        code: "K7M2QX",
        inviterId: "i",
        phoneKey: "k",
        marker: "m",
        referralId: "r",
        bonus: 100,
        now,
        callerGuard: sql`1`,
      }),
      await eventSql(deps, { type: "code_verified", phone: "+375291234567", detail: { purpose: "login" } }, won),
    ];
    for (const statement of statements) sameAsDrizzle(statement);
  });

  it("our sql tag makes what Drizzle's makes: the same text and values under Drizzle's own compiler", () => {
    const ours = (id: unknown) =>
      sql`SELECT ${sql.raw("x")} FROM ${sql.identifier("t")} WHERE ${sql.join([sql`a = ${id}`, sql`b`], sql` OR `)}`;
    const theirs = (id: unknown) =>
      drizzleSql`SELECT ${drizzleSql.raw("x")} FROM ${drizzleSql.identifier("t")} WHERE ${drizzleSql.join([drizzleSql`a = ${id}`, drizzleSql`b`], drizzleSql` OR `)}`;
    for (const id of [1, "it's", null]) expect(drizzle.sqlToQuery(ours(id))).toEqual(drizzle.sqlToQuery(theirs(id)));
    expect(sql`${1}`.queryChunks).toHaveLength(drizzleSql`${1}`.queryChunks.length);
    expect(sql`plain`.queryChunks).toHaveLength(drizzleSql`plain`.queryChunks.length);
  });

  it("a call site's text chunks are shared, its statements are not: appending to one leaves the next as written", () => {
    const site = (value: number) => sql`SELECT ${value}`;
    const first = site(1).append(sql` UNION SELECT ${2}`);
    const second = site(3);
    expect(second.queryChunks[0]).toBe(site(4).queryChunks[0]);
    expect(compile(first)).toEqual({ sql: "SELECT ? UNION SELECT ?", params: [1, 2] });
    expect(compile(second)).toEqual({ sql: "SELECT ?", params: [3] });
  });

  it("a template's layout goes over the wire as single spaces; quoted literals, comments and unclosed quotes are kept", () => {
    const statement = sql`SELECT a
        FROM t
      WHERE b = ${1}
        AND c = 'x
  y'`;
    expect(compile(statement)).toEqual({ sql: "SELECT a FROM t WHERE b = ? AND c = 'x\n  y'", params: [1] });
    expect(compactSql("SELECT 1 -- why\n  FROM t")).toBe("SELECT 1 -- why\n  FROM t");
    expect(compactSql("a = 'it\n  ")).toBe("a = 'it\n  ");
    expect(compactSql("x = '' AND\n y = 'a''b\n c'")).toBe("x = '' AND y = 'a''b\n c'");
  });

  it("refuses what only Drizzle's own compiler handles (columns, arrays, inlined values): it is not in the bundle", () => {
    for (const statement of [
      sql`SELECT ${users.id} FROM ${users} WHERE ${users.phone} = ${"+375291234567"}`,
      sql`SELECT 1 WHERE x IN ${["a", "b"]}`,
      sql`SELECT ${"lit"}`.inlineParams(),
      sql`SELECT ${sql`${"inner"}`.inlineParams()}`,
    ]) {
      expect(() => compile(statement)).toThrow(/only plain sql templates/);
    }
  });
});
