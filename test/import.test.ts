import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../src/config";
import { randomFromAlphabet } from "../src/crypto";
import { CsvFileError, formatReport, importUsers, type UserImportOptions } from "../src/import/users";
import { parseTimestamp } from "../src/import/validate";
import { INVITE_ALPHABET } from "../src/users/profile";
import { call, freshPhone, row, signIn, type TokenBody } from "./helpers";
import { advance, SECOND } from "./otp-helpers";

afterEach(() => {
  vi.useRealTimers();
});

const loaded = loadConfig(env);
if (!loaded.ok) throw new Error("test config invalid");
const config = loaded.config;

const HEADER = ["phone", "invite_code", "activated_invite_code", "created_at", "first_name", "last_name", "email"];
type Row = { phone: string; code?: string; activated?: string; createdAt?: string; first?: string; last?: string; email?: string };

const field = (value: string) => (/[",\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);
const csvOf = (rows: Row[]) =>
  [
    HEADER,
    ...rows.map((r) => [
      r.phone,
      r.code ?? "",
      r.activated ?? "",
      r.createdAt ?? "2021-03-04 05:06:07+00:00",
      r.first ?? "",
      r.last ?? "",
      r.email ?? "",
    ]),
  ]
    .map((fields) => fields.map(field).join(","))
    .join("\n");

const freshCode = () => randomFromAlphabet(INVITE_ALPHABET, 6);
/** A fresh Iranian mobile number: E.164 and national format. */
function freshIranPhone() {
  const digits = String(Math.floor(Math.random() * 10_000_000)).padStart(7, "0");
  return { e164: `+98912${digits}`, national: `0912${digits}` };
}

const generate = (csv: string, options: Partial<UserImportOptions> = {}) => importUsers(csv, { config, now: Date.now(), ...options });

/** Applies the SQL as `wrangler d1 execute --local --file` does: every statement in one batch. */
async function apply(statements: string[]) {
  const results = await env.DB.batch(statements.map((statement) => env.DB.prepare(statement)));
  return results.map((result) => result.results as Record<string, unknown>[]);
}

async function importCsv(csv: string, options: Partial<UserImportOptions> = {}) {
  const result = await generate(csv, options);
  await apply(result.statements);
  return result;
}

/** The rows the check lists: accounts that differ from the file. */
async function check(statements: string[]) {
  return (await apply(statements)).flat();
}

type UserRow = {
  id: string;
  phone: string;
  invite_code: string;
  activated_invite_code: string | null;
  invited_by: string | null;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  created_at: number;
  password_hash: string | null;
  points: number;
  referrals_count: number;
  level2_count: number;
  invite_marker: string | null;
};
const userOf = (phone: string) => row<UserRow>("SELECT * FROM users WHERE phone = ?", phone);
const usersTotal = async () => (await row<{ value: number }>("SELECT value FROM counters WHERE name = 'users_total'"))?.value ?? 0;

/** Everything the import can touch, to prove a second run changes nothing. */
async function snapshot() {
  const [users, referrals, counters] = await env.DB.batch([
    env.DB.prepare("SELECT * FROM users ORDER BY id"),
    env.DB.prepare("SELECT * FROM referrals ORDER BY id"),
    env.DB.prepare("SELECT * FROM counters ORDER BY name"),
  ]);
  return { users: users?.results, referrals: referrals?.results, counters: counters?.results };
}

async function me(who: TokenBody) {
  const response = await call("GET", "/v1/me", { token: who.access_token });
  const body = (await response.json()) as Record<string, any>;
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body;
}

const tree = (user: UserRow | null) => user && { referrals: user.referrals_count, level2: user.level2_count, points: user.points };

describe("phones and profile fields", () => {
  it("normalises phones as the API reads them: spaces and dashes, 00, the trunk prefix with DEFAULT_REGION", async () => {
    const [spaced, trunk, zeros] = [freshPhone(), freshPhone(), freshPhone()];
    const national = (e164: string) => e164.slice(4);
    await importCsv(
      csvOf([
        {
          phone: `+375 ${national(spaced).slice(0, 2)} ${national(spaced).slice(2, 5)}-${national(spaced).slice(5, 7)}-${national(spaced).slice(7)}`,
        },
        { phone: `80${national(trunk)}` },
        { phone: `00${spaced.slice(1, 4)}${national(zeros)}` },
      ]),
    );
    for (const phone of [spaced, trunk, zeros]) expect((await userOf(phone))?.phone).toBe(phone);
  });

  it("reads national numbers in --region ahead of DEFAULT_REGION", async () => {
    const iran = freshIranPhone();
    const result = await importCsv(csvOf([{ phone: iran.national }]), { region: "IR" });
    expect(result.report.skipped).toEqual([]);
    expect((await userOf(iran.e164))?.phone).toBe(iran.e164);
  });

  it("skips numbers outside ALLOWED_COUNTRIES", async () => {
    const iran = freshIranPhone();
    const result = await generate(csvOf([{ phone: iran.e164 }, { phone: freshPhone() }]), {
      config: { ...config, ALLOWED_COUNTRIES: ["BY"] },
    });
    expect(result.report.skipped).toMatchObject([{ line: 2, reason: "country_not_allowed" }]);
    expect(result.report.users).toBe(1);
  });

  it("keeps codes (upper-cased), names, email and created_at; any text survives the SQL file", async () => {
    const phone = freshPhone();
    const code = freshCode();
    const first = `O'Brien "Ёжик" ; -- BEGIN TRANSACTION; COMMIT; $$ 🙂`;
    const result = await importCsv(
      csvOf([
        {
          phone,
          code: ` ${code.toLowerCase()} `,
          createdAt: "2021-03-04 05:06:07.123456+03:30",
          first,
          last: "Ли",
          email: "a.b+c@example.org",
        },
      ]),
    );
    // What wrangler's file splitter reacts to never appears inside a statement.
    for (const statement of result.statements) expect(statement).not.toMatch(/[;$]|BEGIN|COMMIT/);
    expect(result.sql.split(";\n")).toHaveLength(result.statements.length + 1);
    expect(await userOf(phone)).toMatchObject({
      invite_code: code,
      first_name: first,
      last_name: "Ли",
      email: "a.b+c@example.org",
      created_at: Date.UTC(2021, 2, 4, 1, 36, 7, 123),
      password_hash: null,
      invite_marker: null,
    });
  });

  it("reads Django's timestamps and refuses impossible ones", () => {
    expect(parseTimestamp("2021-03-04 05:06:07.123456+03:30")).toBe(Date.UTC(2021, 2, 4, 1, 36, 7, 123));
    expect(parseTimestamp("2021-03-04T05:06:07Z")).toBe(Date.UTC(2021, 2, 4, 5, 6, 7));
    expect(parseTimestamp("2021-03-04 05:06")).toBe(Date.UTC(2021, 2, 4, 5, 6));
    expect(parseTimestamp("2021-03-04")).toBe(Date.UTC(2021, 2, 4));
    expect(parseTimestamp("2021-03-04T05:06:07-0500")).toBe(Date.UTC(2021, 2, 4, 10, 6, 7));
    for (const bad of ["2021-02-30", "2021-03-04 24:00", "04.03.2021", "2021-03-04T05:06:07+15:00", "yesterday", ""]) {
      expect(parseTimestamp(bad), bad).toBeNull();
    }
  });
});

describe("broken rows", () => {
  it("are skipped and reported with their line numbers; nothing of them is stored", async () => {
    const good = [freshPhone(), freshPhone()];
    const bad = Array.from({ length: 9 }, () => freshPhone());
    const csv = [
      HEADER.join(","),
      `${good[0]},,,2021-01-01,,,`,
      `${bad[0]}X,,,2021-01-01,,,`,
      "",
      `${bad[1]},,,2021-02-30,,,`,
      `${bad[2]},,,2999-01-01,,,`,
      `${bad[3]},,,2021-01-01,,,not-an-email`,
      `${bad[4]},,,2021-01-01,${"x".repeat(65)},,`,
      `${bad[5]},ABC1O0,,2021-01-01,,,`,
      `${bad[6]},,SHORT,2021-01-01,,,`,
      `${bad[7]},,,2021-01-01,,`,
      `"${bad[8]}",,,2021-01-01,"two`,
      `lines",,too,many`,
      `${good[1]},,,2021-01-01,,,`,
      `${good[0]},,,2021-01-01,,,`,
    ].join("\r\n");
    const before = await usersTotal();
    const result = await importCsv(csv);
    expect(result.report.skipped.map(({ line, reason }) => ({ line, reason }))).toEqual([
      { line: 3, reason: "invalid_phone" },
      { line: 5, reason: "invalid_created_at" },
      { line: 6, reason: "invalid_created_at" },
      { line: 7, reason: "invalid_email" },
      { line: 8, reason: "invalid_name" },
      { line: 9, reason: "invalid_invite_code" },
      { line: 10, reason: "invalid_activated_invite_code" },
      { line: 11, reason: "unreadable_row" },
      { line: 12, reason: "unreadable_row" },
      { line: 15, reason: "duplicate_phone" },
    ]);
    expect(result.report).toMatchObject({ rows: 12, users: 2 });
    for (const phone of bad) expect(await userOf(phone)).toBeNull();
    for (const phone of good) expect(await userOf(phone)).not.toBeNull();
    expect(await usersTotal()).toBe(before + 2);
  });

  it("a file that is not CSV, or lacks a required column, produces nothing", async () => {
    await expect(generate(`${HEADER.join(",")}\n"${freshPhone()},,,2021-01-01,,,\n`)).rejects.toThrow(CsvFileError);
    await expect(generate(`phone,created_at\n${freshPhone()},2021-01-01\n`)).rejects.toThrow(/invite_code/);
    await expect(generate("")).rejects.toThrow(CsvFileError);
  });
});

describe("invite code clashes", () => {
  it("a code used twice in the file stays with its first row; the later row gets a new code, reported", async () => {
    const [first, second, invitee] = [freshPhone(), freshPhone(), freshPhone()];
    const code = freshCode();
    const result = await importCsv(
      csvOf([
        { phone: first, code },
        { phone: second, code },
        { phone: invitee, code: freshCode(), activated: code },
      ]),
    );
    const regenerated = result.report.regenerated[0];
    expect(result.report.regenerated).toMatchObject([{ line: 3, from: code }]);
    expect(regenerated?.to).toMatch(/^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$/);
    expect((await userOf(first))?.invite_code).toBe(code);
    expect((await userOf(second))?.invite_code).toBe(regenerated?.to);
    expect((await userOf(invitee))?.invited_by).toBe((await userOf(first))?.id);
  });

  it("a code someone in D1 already owns gives way to a fallback code; the check names the row", async () => {
    const owner = await signIn();
    const [phone, invitee] = [freshPhone(), freshPhone()];
    const taken = owner.user.invite_code as string;
    const result = await importCsv(
      csvOf([
        { phone, code: taken },
        { phone: invitee, code: freshCode(), activated: taken },
      ]),
    );
    const imported = await userOf(phone);
    expect(imported?.invite_code).not.toBe(taken);
    expect(imported?.invite_code).toMatch(/^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$/);
    // The file meant its own row, not the account that happens to own the code in D1.
    expect((await userOf(invitee))?.invited_by).toBe(imported?.id);
    expect((await userOf(invitee))?.activated_invite_code).toBe(imported?.invite_code);
    expect(await check(result.checkStatements)).toEqual([
      { line: 2, account: "code_taken", invite_code: imported?.invite_code, referral: null },
    ]);
    expect(tree(await userOf(owner.user.phone))).toEqual({ referrals: 0, level2: 0, points: 0 });
  });

  it("a missing code is generated and reported", async () => {
    const phone = freshPhone();
    const result = await importCsv(csvOf([{ phone }]));
    expect(result.report.regenerated).toMatchObject([{ line: 2, from: null }]);
    expect((await userOf(phone))?.invite_code).toBe(result.report.regenerated[0]?.to);
  });

  it("generated codes are the same every time the file is read, so a later --check agrees", async () => {
    const csv = csvOf([{ phone: freshPhone() }, { phone: freshPhone(), code: "" }]);
    const [one, two] = [await generate(csv), await generate(csv)];
    expect(one.report.regenerated).toEqual(two.report.regenerated);
    expect(one.checkStatements).toEqual(two.checkStatements);
  });
});

describe("referrals", () => {
  it("rebuilds links, counters and points as the API would have, in any row order", async () => {
    // Through the API: A invites B and D, B invites C.
    const [a, b, c, d] = [await signIn(), await signIn(), await signIn(), await signIn()];
    const activate = (who: TokenBody, inviter: TokenBody) =>
      call("POST", "/v1/me/invite", { token: who.access_token, body: { invite_code: inviter.user.invite_code } });
    expect((await activate(b, a)).status).toBe(200);
    expect((await activate(c, b)).status).toBe(200);
    expect((await activate(d, a)).status).toBe(200);
    const viaApi = await Promise.all([a, b, c, d].map(async (who) => tree(await userOf(who.user.phone))));

    // The same tree from a file, invitees listed before their inviters.
    const phones = [freshPhone(), freshPhone(), freshPhone(), freshPhone()];
    const codes = [freshCode(), freshCode(), freshCode(), freshCode()];
    const result = await importCsv(
      csvOf([
        { phone: phones[2] as string, code: codes[2], activated: codes[1] },
        { phone: phones[1] as string, code: codes[1], activated: codes[0] },
        { phone: phones[0] as string, code: codes[0] },
        { phone: phones[3] as string, code: codes[3], activated: codes[0] },
      ]),
    );
    expect(result.report).toMatchObject({ links: 3, linksToDatabase: 0, skippedLinks: [] });
    const viaImport = await Promise.all(phones.map(async (phone) => tree(await userOf(phone))));
    expect(viaImport).toEqual(viaApi);
    expect(viaImport[0]).toEqual({ referrals: 2, level2: 1, points: 2 * config.REFERRAL_BONUS_POINTS });
    expect(await check(result.checkStatements)).toEqual([]);
  });

  it("links to an account already in D1 by its code, crediting it and its inviter", async () => {
    const [grand, inviter] = [await signIn(), await signIn()];
    await call("POST", "/v1/me/invite", { token: inviter.access_token, body: { invite_code: grand.user.invite_code } });
    const phone = freshPhone();
    const result = await importCsv(csvOf([{ phone, activated: inviter.user.invite_code as string }]));
    expect(result.report).toMatchObject({ links: 1, linksToDatabase: 1 });
    expect(await userOf(phone)).toMatchObject({ invited_by: inviter.user.id, activated_invite_code: inviter.user.invite_code });
    expect(tree(await userOf(inviter.user.phone))).toEqual({ referrals: 1, level2: 0, points: config.REFERRAL_BONUS_POINTS });
    expect(tree(await userOf(grand.user.phone))).toMatchObject({ referrals: 1, level2: 1 });
  });

  it("a link D1 cannot make (unknown code, inactive inviter) leaves the user unlinked; the check says why", async () => {
    const inactive = await signIn();
    await env.DB.prepare("UPDATE users SET is_active = 0 WHERE id = ?").bind(inactive.user.id).run();
    const [lost, refused] = [freshPhone(), freshPhone()];
    const unknown = freshCode();
    const result = await importCsv(
      csvOf([
        { phone: lost, activated: unknown },
        { phone: refused, activated: inactive.user.invite_code as string },
      ]),
    );
    expect(await userOf(lost)).toMatchObject({ invited_by: null, activated_invite_code: null });
    expect(await userOf(refused)).toMatchObject({ invited_by: null, activated_invite_code: null });
    expect(await check(result.checkStatements)).toMatchObject([
      { line: 2, account: "imported", referral: "inviter_not_found" },
      { line: 3, account: "imported", referral: "inviter_inactive" },
    ]);
  });

  it("self-invites and loops are reported and the link skipped", async () => {
    const [self, x, y] = [freshPhone(), freshPhone(), freshPhone()];
    const [selfCode, xCode, yCode] = [freshCode(), freshCode(), freshCode()];
    const result = await importCsv(
      csvOf([
        { phone: self, code: selfCode, activated: selfCode },
        { phone: x, code: xCode, activated: yCode },
        { phone: y, code: yCode, activated: xCode },
      ]),
    );
    expect(result.report.skippedLinks).toMatchObject([
      { line: 2, reason: "own_invite_code" },
      { line: 4, reason: "invite_cycle" },
    ]);
    expect(await userOf(self)).toMatchObject({ invited_by: null, referrals_count: 0 });
    expect((await userOf(x))?.invited_by).toBe((await userOf(y))?.id);
    expect(await userOf(y)).toMatchObject({ invited_by: null, referrals_count: 1 });
  });

  it("a link to a skipped row is reported; a link to a duplicate phone's code goes to that phone's account", async () => {
    const [first, invitee, other] = [freshPhone(), freshPhone(), freshPhone()];
    const [code, duplicateCode, brokenCode] = [freshCode(), freshCode(), freshCode()];
    const result = await importCsv(
      csvOf([
        { phone: first, code },
        { phone: first, code: duplicateCode },
        { phone: "12345", code: brokenCode },
        { phone: invitee, activated: duplicateCode },
        { phone: other, activated: brokenCode },
      ]),
    );
    expect(result.report.skippedLinks).toMatchObject([{ line: 6, reason: "inviter_skipped" }]);
    expect((await userOf(invitee))?.invited_by).toBe((await userOf(first))?.id);
    expect((await userOf(other))?.invited_by).toBeNull();
  });
});

describe("re-runs", () => {
  const fileWithEverything = () => {
    const codes = [freshCode(), freshCode(), freshCode()];
    return csvOf([
      { phone: freshPhone(), code: codes[0] },
      { phone: freshPhone(), code: codes[1], activated: codes[0] },
      { phone: freshPhone(), code: codes[2], activated: codes[1] },
      { phone: freshPhone(), code: codes[2] },
      { phone: "not a phone" },
    ]);
  };

  it("running the same SQL twice changes nothing the second time", async () => {
    const result = await generate(fileWithEverything());
    await apply(result.statements);
    const once = await snapshot();
    await apply(result.statements);
    expect(await snapshot()).toEqual(once);
  });

  it("importing the file again later (fresh SQL) changes nothing", async () => {
    const csv = fileWithEverything();
    const first = await importCsv(csv);
    const once = await snapshot();
    const again = await importCsv(csv);
    expect(await snapshot()).toEqual(once);
    expect(again.report).toEqual(first.report);
    expect(await check(again.checkStatements)).toEqual([]);
  });

  it("an account that exists is left as it is; the check names it", async () => {
    const existing = await signIn();
    const before = await userOf(existing.user.phone);
    const total = await usersTotal();
    const result = await importCsv(csvOf([{ phone: existing.user.phone, code: freshCode(), first: "Imported" }]));
    expect(await userOf(existing.user.phone)).toEqual(before);
    expect(await usersTotal()).toBe(total);
    expect(await check(result.checkStatements)).toEqual([
      { line: 2, account: "existing_account", invite_code: existing.user.invite_code, referral: null },
    ]);
  });

  it("a re-import does not bring back an account its owner deleted", async () => {
    const phone = freshPhone();
    const csv = csvOf([{ phone, code: freshCode() }]);
    await importCsv(csv);
    const user = await signIn(phone);
    expect((await call("DELETE", "/v1/me", { token: user.access_token })).status).toBe(204);
    const again = await importCsv(csv);
    expect(await userOf(phone)).toBeNull();
    expect(await check(again.checkStatements)).toMatchObject([{ line: 2, account: "deleted_account" }]);
  });

  it("the SQL applies all or nothing: a statement that fails leaves D1 as it was", async () => {
    const [phone, other] = [freshPhone(), freshPhone()];
    const code = freshCode();
    const planned = await generate(csvOf([{ phone: other }, { phone, code }]));
    // Occupy both the row's code and its fallback, so its INSERT breaks the unique index.
    const fallback = planned.statements
      .find((statement) => statement.includes(`'${phone}'`))
      ?.match(/'([A-Z0-9]{6})', '[A-Z0-9]{6}'\)/)?.[1];
    expect(fallback).toMatch(/^[A-Z0-9]{6}$/);
    await importCsv(
      csvOf([
        { phone: freshPhone(), code },
        { phone: freshPhone(), code: fallback },
      ]),
    );
    const before = await snapshot();
    await expect(apply(planned.statements)).rejects.toThrow(/UNIQUE/);
    expect(await snapshot()).toEqual(before);
    expect(await userOf(other)).toBeNull();
  });
});

describe("imported users through the API", () => {
  it("sign in by SMS, keep their invite code and referrals, and have no password until they set one", async () => {
    const [inviterPhone, inviteePhone] = [freshPhone(), freshPhone()];
    const code = freshCode();
    await importCsv(
      csvOf([
        { phone: inviterPhone, code, first: "Anna", email: "anna@example.org", createdAt: "2020-05-06T07:08:09Z" },
        { phone: inviteePhone, activated: code },
      ]),
    );
    const inviter = await signIn(inviterPhone);
    expect(inviter.is_new_user).toBe(false);
    expect(inviter.user).toMatchObject({
      invite_code: code,
      first_name: "Anna",
      email: "anna@example.org",
      has_password: false,
      created_at: "2020-05-06T07:08:09.000Z",
      points: config.REFERRAL_BONUS_POINTS,
      referrals_count: 1,
    });
    const referrals = await call("GET", "/v1/me/referrals", { token: inviter.access_token });
    expect(((await referrals.json()) as { items: unknown[] }).items).toMatchObject([{ status: "active" }]);
    const invitee = await signIn(inviteePhone);
    expect(invitee.user.activated_invite_code).toBe(code);
    const password = await call("PUT", "/v1/me/password", {
      token: inviter.access_token,
      body: { new_password: "correct horse battery staple" },
    });
    expect(password.status).toBe(204);
    expect((await me(inviter)).has_password).toBe(true);
  });

  it("keys referral rows as the API does: a deleted invitee who signs up again earns the inviter nothing", async () => {
    const [inviterPhone, inviteePhone] = [freshPhone(), freshPhone()];
    const code = freshCode();
    await importCsv(
      csvOf([
        { phone: inviterPhone, code },
        { phone: inviteePhone, activated: code },
      ]),
    );
    const invitee = await signIn(inviteePhone);
    expect((await call("DELETE", "/v1/me", { token: invitee.access_token })).status).toBe(204);
    advance(61 * SECOND); // the send cooldown survives deletion
    const again = await signIn(inviteePhone);
    const response = await call("POST", "/v1/me/invite", { token: again.access_token, body: { invite_code: code } });
    expect(await response.json()).toMatchObject({ referral_bonus: { points: 0 } });
    expect(tree(await userOf(inviterPhone))).toEqual({ referrals: 1, level2: 0, points: config.REFERRAL_BONUS_POINTS });
  });
});

describe("report", () => {
  it("is plain text with a line per finding", async () => {
    const code = freshCode();
    const result = await generate(csvOf([{ phone: "bad" }, { phone: freshPhone(), code }, { phone: freshPhone(), code }]));
    const text = formatReport(result.report);
    expect(text).toContain("3 rows read: 2 users and 0 referral links to import.");
    expect(text).toContain("line 2: invalid_phone:");
    expect(text).toContain(`line 4: ${code} -> `);
  });
});
