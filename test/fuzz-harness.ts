import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { expect, inject } from "vitest";
import worker from "../src/index";
import { freshIp, freshPhone } from "./helpers";
import { variantEnv } from "./otp-helpers";

// The harness of the property tests (test/fuzz-*.test.ts, issue #10): one deployment under test,
// a change log of every D1 row the Worker writes, a record of every KV write, fixtures (users,
// an admin, live codes) and the request arbitraries the properties share.

declare module "vitest" {
  interface ProvidedContext {
    /** Set by vitest.fuzz.config.ts (`npm run fuzz`); absent under `npm test`. */
    fuzzRuns?: number;
    fuzzSeed?: number;
  }
}

const FIXED_SEED = 20_251_010;

/**
 * fast-check parameters: under `npm test` a fixed seed and `runs` (each property's own budget),
 * under `npm run fuzz` the runs and seed of the fuzz config. fast-check names the seed and the
 * counterexample's path on failure, so any failure replays with FUZZ_SEED.
 */
export function fuzzParameters(runs: number): fc.Parameters<unknown> {
  const fuzzRuns = inject("fuzzRuns");
  const seed = inject("fuzzSeed") ?? FIXED_SEED;
  return { numRuns: fuzzRuns ?? runs, seed, endOnFailure: fuzzRuns === undefined };
}

/** A per-test timeout that grows with the run count of `npm run fuzz`. */
export function fuzzTimeout(runs: number): number {
  const fuzzRuns = inject("fuzzRuns");
  return fuzzRuns === undefined ? 120_000 : Math.max(120_000, (fuzzRuns / runs) * 120_000);
}

// --- the deployment under test -------------------------------------------------------------

/** Phones the fuzz deployment lists in ADMIN_PHONES: a fresh one per admin sign-in (resend cooldown). */
const ADMIN_POOL = Array.from({ length: 400 }, (_, i) => `+37533200${String(i).padStart(4, "0")}`);
let adminCursor = 0;

/** Every KV write the Worker made, in order (`put <key>` / `delete <key>`). */
const kvWrites: string[] = [];

function recordingKv(kv: KVNamespace): KVNamespace {
  return {
    get: kv.get.bind(kv),
    getWithMetadata: kv.getWithMetadata.bind(kv),
    list: kv.list.bind(kv),
    put: (key: string, ...rest: unknown[]) => {
      kvWrites.push(`put ${key}`);
      return (kv.put as (...args: unknown[]) => Promise<void>)(key, ...rest);
    },
    delete: (key: string) => {
      kvWrites.push(`delete ${key}`);
      return kv.delete(key);
    },
  } as KVNamespace;
}

/**
 * The test config plus ADMIN_PHONES, a generous storage deadline (the machine is shared: a slow
 * D1 call must not pass for a 503 the input caused), KV writes recorded, and no per-user rate
 * limiter bindings (a supported deployment: nothing per-user is limited), so a long run keeps
 * reaching the handlers instead of answering 429 after 100 requests.
 */
export const FUZZ_ENV = (() => {
  const variant = variantEnv({ ADMIN_PHONES: ADMIN_POOL.join(","), STORAGE_TIMEOUT_MS: "60000" }) as unknown as Record<string, unknown>;
  delete variant.ME_LIMITER;
  delete variant.INVITE_LIMITER;
  variant.KV = recordingKv(env.KV);
  return variant as unknown as typeof env;
})();

/** One request to the Worker, waiting for everything it deferred (audit writes after the response). */
export async function send(request: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(request, FUZZ_ENV, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

type ApiOptions = { body?: unknown; token?: string; headers?: Record<string, string> };

/** A JSON request from a well-behaved client (fixtures). */
export function api(method: string, path: string, options: ApiOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { "CF-Connecting-IP": freshIp(), ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] ??= "application/json";
    body = JSON.stringify(options.body);
  }
  return send(new Request(`http://api.test${path}`, { method, headers, body }));
}

async function ok<T>(response: Response): Promise<T> {
  const text = await response.text();
  expect(response.status, text).toBeLessThan(300);
  return JSON.parse(text) as T;
}

// --- change log: which rows and keys a request wrote ---------------------------------------

/** The tables the Worker writes; a trigger on each logs every row inserted, changed or deleted. */
const TRACKED = [
  "users",
  "sessions",
  "refresh_tokens",
  "phone_guards",
  "otp_challenges",
  "referrals",
  "sms_budget",
  "audit_events",
  "counters",
];

export type Change = { tbl: string; op: "insert" | "update" | "delete"; detail: string | null };

let changeLogReady: Promise<void> | undefined;

/**
 * Triggers that append to `fuzz_changes` on every write: exact and cheap (no table scans), and
 * an UPDATE that leaves a row as it was is not a change. `detail` names the changed columns (the
 * event type for audit inserts). Storage is per test file, so no other suite sees them.
 */
export function installChangeLog(): Promise<void> {
  changeLogReady ??= (async () => {
    await env.DB.prepare("CREATE TABLE IF NOT EXISTS fuzz_changes (id INTEGER PRIMARY KEY, tbl TEXT, op TEXT, detail TEXT)").run();
    for (const table of TRACKED) {
      const columns = (await env.DB.prepare("SELECT name FROM pragma_table_info(?)").bind(table).all<{ name: string }>()).results.map(
        (column) => column.name,
      );
      expect(columns.length, table).toBeGreaterThan(0);
      const differs = columns.map((name) => `OLD."${name}" IS NOT NEW."${name}"`).join(" OR ");
      const which = columns.map((name) => `CASE WHEN OLD."${name}" IS NOT NEW."${name}" THEN '${name} ' ELSE '' END`).join(" || ");
      const inserted = table === "audit_events" ? "NEW.type" : "NULL";
      await env.DB.batch([
        env.DB.prepare(
          `CREATE TRIGGER IF NOT EXISTS fuzz_${table}_insert AFTER INSERT ON ${table} BEGIN INSERT INTO fuzz_changes (tbl, op, detail) VALUES ('${table}', 'insert', ${inserted}); END`,
        ),
        env.DB.prepare(
          `CREATE TRIGGER IF NOT EXISTS fuzz_${table}_update AFTER UPDATE ON ${table} WHEN ${differs} BEGIN INSERT INTO fuzz_changes (tbl, op, detail) VALUES ('${table}', 'update', trim(${which})); END`,
        ),
        env.DB.prepare(
          `CREATE TRIGGER IF NOT EXISTS fuzz_${table}_delete AFTER DELETE ON ${table} BEGIN INSERT INTO fuzz_changes (tbl, op, detail) VALUES ('${table}', 'delete', NULL); END`,
        ),
      ]);
    }
  })();
  return changeLogReady;
}

async function changeMark(): Promise<number> {
  return (await env.DB.prepare("SELECT COALESCE(MAX(id), 0) AS id FROM fuzz_changes").first<{ id: number }>())?.id ?? 0;
}

/** Sends `request` and reports what it wrote: D1 rows (through the triggers) and KV keys. */
export async function observe(request: Request): Promise<{ response: Response; text: string; changes: Change[]; kv: string[] }> {
  const mark = await changeMark();
  const kvFrom = kvWrites.length;
  const response = await send(request);
  const text = await response.text();
  const changes = (await env.DB.prepare("SELECT tbl, op, detail FROM fuzz_changes WHERE id > ? ORDER BY id").bind(mark).all<Change>())
    .results;
  return { response, text, changes, kv: kvWrites.slice(kvFrom) };
}

// What a refused request may write, by design (and nothing else):
// - audit events that record refusals (spec: Admin) — written after the response;
// - KV rate windows per client IP (`rl:`), and the `register` API's failure lock, which counts
//   every refusal of that flow per IP and phone (`compat:register:ip:` / `:phone:`);
// - a blank `phone_guards` row (the send gate ensures the row before deciding; it holds no state);
// - an orphan code hash `otp:<id>`: a send writes it to KV before the D1 gate decides (so a KV
//   failure leaves nothing in D1); a refused send's hash is referenced by no challenge, is never
//   read, and expires with its TTL (src/otp/service.ts);
// - the failure budgets of guesses: a wrong code counts against the code and the phone
//   (`otp_challenges`, `phone_guards`), a wrong password against the phone (`phone_guards`).
const REFUSAL_EVENTS = new Set(["code_refused", "code_failed", "code_burned", "phone_locked", "password_login_failed", "password_locked"]);
const GUESS_REFUSALS = new Set(["invalid_code", "too_many_attempts", "invalid_credentials", "current_password_invalid"]);
const REFUSAL_KV = /^put (rl:|compat:register:(ip|phone):|otp:)/;

/** The writes of a refused request (`code` = its error code, when known) that the contract does not allow. */
export function forbiddenChanges(code: string | undefined, changes: Change[], kv: string[]): string[] {
  const forbidden: string[] = [];
  for (const change of changes) {
    if (change.tbl === "audit_events" && change.op === "insert" && REFUSAL_EVENTS.has(change.detail ?? "")) continue;
    if (change.tbl === "phone_guards" && change.op === "insert") continue;
    if (code && GUESS_REFUSALS.has(code) && change.op === "update" && (change.tbl === "phone_guards" || change.tbl === "otp_challenges")) {
      continue;
    }
    forbidden.push(`${change.op} ${change.tbl}${change.detail ? ` (${change.detail})` : ""}`);
  }
  for (const write of kv) if (!REFUSAL_KV.test(write)) forbidden.push(`kv ${write}`);
  return forbidden;
}

// --- fixtures -------------------------------------------------------------------------------

export type Account = { phone: string; id: string; sid: string; access: string; refresh: string; invite: string };

async function signInAs(phone: string): Promise<Account> {
  const sent = await ok<{ dev_code: string }>(await api("POST", "/v1/auth/otp", { body: { phone } }));
  const tokens = await ok<{ access_token: string; refresh_token: string; user: { id: string; invite_code: string } }>(
    await api("POST", "/v1/auth/otp/verify", { body: { phone, code: sent.dev_code } }),
  );
  const sid = JSON.parse(atob((tokens.access_token.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/"))).sid as string;
  return { phone, id: tokens.user.id, sid, access: tokens.access_token, refresh: tokens.refresh_token, invite: tokens.user.invite_code };
}

export type Fixtures = {
  /** A plain user whose token the properties use (and may delete, deactivate or sign out). */
  user: Account;
  admin: Account;
  /** Someone whose invite code bodies may carry. */
  inviter: Account;
  /** The `users` compatibility API's day-long token of `user`'s session. */
  usersToken: string;
  /** Phones with a live login code, so guesses reach the code check. */
  livePhones: string[];
  /** A `register` API flow waiting for its code. */
  registerSession: string;
};

let current: Fixtures | undefined;
let stale = true;

/** Marks the fixtures for renewal (a request may have deleted, demoted or signed out one of them). */
export function invalidateFixtures(): void {
  stale = true;
}

/** The fixtures, signed in again when a request may have spent them. */
export async function fixtures(): Promise<Fixtures> {
  if (current && !stale) return current;
  const [user, admin, inviter] = await Promise.all([signInAs(freshPhone()), signInAs(nextAdminPhone()), signInAs(freshPhone())]);
  const compat = await usersTokenFor(freshPhone());
  const livePhones = [freshPhone(), freshPhone()];
  for (const phone of livePhones) await ok(await api("POST", "/v1/auth/otp", { body: { phone } }));
  const register = await ok<{ session_id: string }>(await api("POST", "/api/register/", { body: { mobile_number: freshPhone() } }));
  current = { user, admin, inviter, usersToken: compat, livePhones, registerSession: register.session_id };
  stale = false;
  return current;
}

function nextAdminPhone(): string {
  const phone = ADMIN_POOL[adminCursor++ % ADMIN_POOL.length];
  if (!phone) throw new Error("admin pool empty");
  return phone;
}

async function usersTokenFor(phone: string): Promise<string> {
  const sent = await ok<{ verification_code: string }>(await api("POST", "/users/send-code/", { body: { phone_number: phone } }));
  const verified = await ok<{ token: string }>(
    await api("POST", "/users/verify-code/", { body: { phone_number: phone, verification_code: sent.verification_code } }),
  );
  return verified.token;
}

// --- arbitraries: strings, values and bodies ------------------------------------------------

/** Strings people and attackers type: odd Unicode, control characters, injections, look-alike digits. */
const NASTY = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "\uDFFF",
  "x\uDBFF\uDC00\uD800y",
  "\u202E+375291234567",
  "\u200F\u200E\u200B\u2060",
  "\uFEFF+375291234567",
  "+375\u00A029\u2009123\u202F45\u00AD67",
  "\u0660\u0669\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
  "\u06F0\u06F9\u06F1\u06F2\u06F3\u06F4\u06F5\u06F6\u06F7\u06F8",
  "\uFF0B\uFF13\uFF17\uFF15\uFF12\uFF19\uFF11\uFF12\uFF13\uFF14\uFF15\uFF16\uFF17",
  "\uD835\uDFCF\uD835\uDFD0\uD835\uDFD1\uD835\uDFD2\uD835\uDFD3\uD835\uDFD4",
  "e\u0301\u0301\u0301\u0301\u0301\u0301\u0301\u0301",
  "\uFB03\u0130\u00DF\u212A",
  "\uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67\u200D\uD83D\uDC66",
  "null",
  "undefined",
  "NaN",
  "-0",
  "1e309",
  "0x10",
  "__proto__",
  "constructor",
  "toString",
  "'; DROP TABLE users; --",
  '" OR 1=1 --',
  "%00%0d%0a",
  "\r\nSet-Cookie: a=b",
  "../../etc/passwd",
  "<script>alert(1)</script>",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, on purpose
  "${7*7}{{7*7}}",
  "+375291234567\n+375291234568",
  "+375291234567 ext. 12",
  "tel:+375291234567",
  "00375291234567",
  "+0000000000000000",
  "+".repeat(64),
  "9".repeat(65),
];

/** Half of a surrogate pair alone: not Unicode, yet JSON's `\ud800` escape carries it in. */
const loneSurrogate = fc
  .tuple(fc.string({ maxLength: 20 }), fc.constantFrom("\uD800", "\uDBFF", "\uDC00", "\uDFFF"), fc.nat())
  .map(([text, half, at]) => text.slice(0, at % (text.length + 1)) + half + text.slice(at % (text.length + 1)));

export const oddString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 3, arbitrary: loneSurrogate },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 200, maxLength: 3000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 4000 }).map((n) => "9".repeat(n)) },
);

/** Values of a type no field has: numbers, booleans, null, arrays, objects. */
export const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, -1, 0, 1e300),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: min, maxLength: max });
const hex = (length: number) => fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: length, maxLength: length });
const base64ish = (maxLength: number) =>
  fc.string({ unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/="), maxLength });

/** A plausible Belarusian mobile, in the formats people type. */
const phoneLike: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom("25", "29", "33", "44"), digits(7, 7))
  .chain(([operator, rest]) =>
    fc.constantFrom(
      `+375${operator}${rest}`,
      `00375${operator}${rest}`,
      `+375 (${operator}) ${rest.slice(0, 3)}-${rest.slice(3, 5)}-${rest.slice(5)}`,
      `80${operator}${rest}`,
      `${operator}${rest}`,
      `+375.${operator}.${rest}`,
    ),
  );

/** Symbols resolved against the fixtures at run time (so shrinking keeps its meaning). */
export type Ref = {
  ref: "userPhone" | "adminPhone" | "inviterPhone" | "livePhone" | "inviterInvite" | "ownInvite" | "userRefresh" | "registerSession";
};

const ref = (...names: Ref["ref"][]) => fc.constantFrom(...names).map((name): Ref => ({ ref: name }));

export type FieldKind =
  | "phone"
  | "code"
  | "region"
  | "purpose"
  | "invite"
  | "password"
  | "refresh"
  | "bool"
  | "role"
  | "email"
  | "name"
  | "session"
  | "text";

const plausible: Record<FieldKind, fc.Arbitrary<unknown>> = {
  phone: fc.oneof(phoneLike, ref("userPhone", "adminPhone", "inviterPhone", "livePhone", "livePhone")),
  code: fc.oneof({ weight: 4, arbitrary: digits(6, 6) }, digits(0, 12), fc.constantFrom("000000", " 123456", "12345\u0666")),
  region: fc.oneof(fc.constantFrom("BY", "by", "IR", "US", "ZZ", "XK", "AA"), fc.string({ minLength: 2, maxLength: 2 })),
  purpose: fc.constantFrom("login", "reset_password", "change_phone", "LOGIN", "admin", ""),
  invite: fc.oneof(ref("inviterInvite", "ownInvite"), fc.string({ minLength: 6, maxLength: 6 }), fc.constantFrom(" k7m2qx ", "OOOOOO")),
  password: fc.oneof(
    fc.string({ minLength: 8, maxLength: 40 }),
    fc.string({ unit: "grapheme", minLength: 10, maxLength: 140 }),
    fc.constantFrom(
      "password",
      "correct horse battery staple",
      "\uFF50\uFF41\uFF53\uFF53\uFF57\uFF4F\uFF52\uFF44 long enough",
      "x".repeat(129),
    ),
  ),
  refresh: fc.oneof(base64ish(64), fc.string({ maxLength: 600 }), ref("userRefresh")),
  bool: fc.boolean(),
  role: fc.constantFrom("user", "admin", "superuser", "Admin"),
  email: fc.oneof(fc.emailAddress(), fc.constantFrom("a@b", "@", "x@y.z\u0000", `${"a".repeat(250)}@b.co`)),
  name: fc.string({ unit: "grapheme", maxLength: 70 }),
  session: fc.oneof(ref("registerSession"), base64ish(43)),
  text: fc.string({ maxLength: 130 }),
};

/** One field's value: usually plausible, often odd, sometimes of the wrong type. */
export function fieldValue(kind: FieldKind): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: plausible[kind] }, { weight: 3, arbitrary: oddString }, { weight: 1, arbitrary: wrongType });
}

/**
 * A JSON body for a route with these fields: near-valid (the required fields present with
 * plausible values, so requests get past validation into the handlers) with exactly one field
 * made odd or of the wrong type; all plausible; any subset of odd values; unknown keys beside
 * them; or any JSON value at all.
 */
export function jsonBody(fields: Record<string, FieldKind>, required: string[] = []): fc.Arbitrary<unknown> {
  const entries = Object.entries(fields);
  const valid = (skip?: string) =>
    fc.record(Object.fromEntries(entries.filter(([name]) => name !== skip).map(([name, kind]) => [name, plausible[kind]])), {
      requiredKeys: required.filter((name) => name !== skip),
    });
  const oneOdd =
    entries.length === 0
      ? fc.constant({})
      : fc
          .constantFrom(...entries.map(([name]) => name))
          .chain((name) =>
            fc
              .tuple(valid(name), fc.oneof({ weight: 4, arbitrary: oddString }, { weight: 1, arbitrary: wrongType }))
              .map(([rest, odd]) => ({ ...rest, [name]: odd })),
          );
  const anySubset = fc.record(Object.fromEntries(entries.map(([name, kind]) => [name, fieldValue(kind)])), { requiredKeys: [] });
  const extra = fc.dictionary(
    fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom("__proto__", "constructor", "role", "id", "points")),
    wrongType,
    {
      maxKeys: 3,
    },
  );
  return fc.oneof(
    { weight: 4, arbitrary: oneOdd },
    { weight: 3, arbitrary: valid() },
    { weight: 2, arbitrary: anySubset },
    { weight: 1, arbitrary: fc.tuple(valid(), extra).map(([known, unknown]) => ({ ...unknown, ...known })) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  );
}

/** Replaces fixture references in a generated value by the fixtures' current values. */
export function resolveRefs(value: unknown, fx: Fixtures): unknown {
  if (Array.isArray(value)) return value.map((item) => resolveRefs(item, fx));
  if (value && typeof value === "object") {
    if ("ref" in value && Object.keys(value).length === 1) return resolveRef(value as Ref, fx);
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(out, key, { value: resolveRefs(item, fx), enumerable: true, configurable: true, writable: true });
    }
    return out;
  }
  return value;
}

function resolveRef(value: Ref, fx: Fixtures): string {
  switch (value.ref) {
    case "userPhone":
      return fx.user.phone;
    case "adminPhone":
      return fx.admin.phone;
    case "inviterPhone":
      return fx.inviter.phone;
    case "livePhone":
      return fx.livePhones[0] ?? fx.user.phone;
    case "inviterInvite":
      return fx.inviter.invite.toLowerCase();
    case "ownInvite":
      return fx.user.invite;
    case "userRefresh":
      return fx.user.refresh;
    case "registerSession":
      return fx.registerSession;
  }
}

// --- arbitraries: tokens and headers --------------------------------------------------------

const b64url = (text: string) =>
  btoa(unescape(encodeURIComponent(text)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

/** What goes after `Bearer `: the fixtures' own tokens, tampered ones, forged JWTs, garbage. */
export type TokenSpec =
  | { kind: "fixture"; which: "user" | "admin" | "refresh" | "usersToken" | "inviter" }
  | { kind: "tampered"; which: "user" | "admin"; at: number; char: string }
  | { kind: "raw"; token: string };

const jwtHeader = fc.record(
  {
    alg: fc.oneof(fc.constantFrom("none", "None", "HS256", "ES256", "RS256", "ES384", "EdDSA", ""), wrongType),
    typ: fc.constantFrom("at+jwt", "JWT", "jwt", ""),
    kid: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom("../../etc/passwd", "' OR 1=1 --", "__proto__", "constructor"), wrongType),
    jku: fc.constant("https://evil.example/jwks.json"),
    jwk: fc.constant({ kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" }),
    crit: fc.constant(["exp"]),
    b64: fc.boolean(),
  },
  { requiredKeys: ["alg"] },
);
const jwtPayload = fc.oneof(
  fc.record(
    {
      iss: fc.oneof(fc.constant("https://auth.example.com"), oddString),
      aud: fc.oneof(fc.constant("phone-auth-edge"), fc.constant(["phone-auth-edge", "x"]), oddString),
      sub: fc.oneof(fc.uuid(), wrongType),
      sid: fc.oneof(fc.uuid(), wrongType),
      role: fc.oneof(fc.constantFrom("admin", "user"), wrongType),
      auth_time: fc.oneof(fc.integer(), wrongType),
      iat: fc.oneof(fc.integer(), wrongType),
      exp: fc.oneof(fc.constant(4_102_444_800), fc.integer(), wrongType),
      jti: fc.oneof(fc.string(), wrongType),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 2 }),
);
const forgedJwt = fc
  .tuple(jwtHeader, jwtPayload, fc.oneof(fc.constant(""), base64ish(90), fc.string({ maxLength: 20 })))
  .map(
    ([header, payload, signature]) =>
      `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${signature.replace(/=+$/, "")}`,
  );

export const tokenSpec: fc.Arbitrary<TokenSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom("user", "admin", "refresh", "usersToken", "inviter").map((which) => ({ kind: "fixture" as const, which })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        which: fc.constantFrom("user" as const, "admin" as const),
        at: fc.nat(),
        char: fc.constantFrom("A", "_", "-", ".", "=", ""),
      })
      .map((spec) => ({ kind: "tampered" as const, ...spec })),
  },
  { weight: 2, arbitrary: forgedJwt.map((token) => ({ kind: "raw" as const, token })) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.string({ maxLength: 100 }),
        base64ish(200),
        fc.constantFrom("", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30.", "null", "Bearer x"),
        fc.integer({ min: 4000, max: 12_000 }).map((n) => "a".repeat(n)),
        fc.integer({ min: 1000, max: 6000 }).map((n) => `${"eyJ".repeat(n)}.${"e30".repeat(n)}.sig`),
      )
      .map((token) => ({ kind: "raw" as const, token })),
  },
);

/** The token a spec stands for now. */
export function resolveToken(spec: TokenSpec, fx: Fixtures): string {
  if (spec.kind === "raw") return spec.token;
  if (spec.kind === "fixture") {
    if (spec.which === "refresh") return fx.user.refresh;
    if (spec.which === "usersToken") return fx.usersToken;
    return fx[spec.which].access;
  }
  const token = fx[spec.which].access;
  const at = spec.at % token.length;
  const replaced = token[at] === spec.char ? "B" : spec.char;
  return token.slice(0, at) + replaced + token.slice(at + 1);
}

/** Header values a client can send: any byte but CR, LF and NUL (fetch refuses those outright). */
const headerText = (maxLength: number) =>
  fc
    .string({ unit: fc.integer({ min: 0x01, max: 0x7f }).map((code) => String.fromCharCode(code)), maxLength })
    .map((text) => text.replace(/[\r\n]/g, " "));

export type AuthSpec = { scheme: string; token: TokenSpec } | { raw: string } | null;

export const authSpec: fc.Arbitrary<AuthSpec> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  {
    weight: 6,
    arbitrary: fc.record({
      scheme: fc.constantFrom("Bearer", "Bearer", "Bearer", "bearer", "BEARER", "Token", "Basic", "Bearer  ", "JWT"),
      token: tokenSpec,
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        headerText(200),
        fc.integer({ min: 5000, max: 12_000 }).map((n) => `Bearer ${"x".repeat(n)}`),
      )
      .map((raw) => ({ raw })),
  },
);

export function resolveAuth(spec: AuthSpec, fx: Fixtures): string | undefined {
  if (spec === null) return undefined;
  if ("raw" in spec) return spec.raw;
  const token = resolveToken(spec.token, fx);
  return spec.scheme.endsWith(" ") ? `${spec.scheme}${token}` : `${spec.scheme} ${token}`;
}

/** Headers an attacker controls, each present or not. */
export const hostileHeaders: fc.Arbitrary<Record<string, string>> = fc.record(
  {
    "X-Request-Id": fc.oneof(
      headerText(200),
      fc.constantFrom("ok-id", "a".repeat(128), "a".repeat(129), "../x", "id with spaces", "\u007f\u0001"),
      fc.integer({ min: 5000, max: 12_000 }).map((n) => "r".repeat(n)),
    ),
    "X-D1-Bookmark": fc.oneof(
      headerText(120),
      fc.tuple(hex(8), hex(8), hex(8), hex(32)).map((parts) => parts.join("-")),
      fc.constantFrom("first-primary", "first-unconstrained", "00000000-00000000-00000000-00000000000000000000000000000000"),
    ),
    "CF-Connecting-IP": fc.oneof(
      headerText(80),
      fc.ipV4(),
      fc.ipV6(),
      fc.constantFrom(
        "::",
        ":::::::::",
        "::ffff:1.2.3.4",
        "1:2:3:4:5:6:7:8:9:10:11",
        "fe80::1%eth0",
        "unknown",
        "0",
        "-1",
        "999.999.999.999",
        `${"f".repeat(64)}`,
        `${":".repeat(64)}`,
      ),
    ),
    "Accept-Language": fc.oneof(
      headerText(200),
      fc.constantFrom("*", "ru;q=abc", "en-US,en;q=0.9,ru;q=1.5", "q=0", ";;;,,,", "x".repeat(5000)),
    ),
    "X-Forwarded-For": headerText(100),
    Origin: fc.oneof(headerText(60), fc.constantFrom("null", "http://api.test", "https://evil.example", "http://api.test:80")),
    Cookie: fc.oneof(headerText(200), fc.constantFrom("session=x; access=y", "__Host-session=;", "a=%ZZ; b=\u007f", "=;=;=")),
    "User-Agent": fc.oneof(
      headerText(100),
      fc.integer({ min: 1000, max: 10_000 }).map((n) => "u".repeat(n)),
    ),
  },
  { requiredKeys: [] },
);

/** Builds headers, skipping any value the fetch API itself refuses. */
export function buildHeaders(values: Record<string, string | undefined>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    try {
      headers.set(name, value);
    } catch {
      // Not sendable over HTTP at all.
    }
  }
  return headers;
}

// --- arbitraries: raw bodies and content types ---------------------------------------------

/** The body limit of every route (spec: "Bodies over 16 KiB answer 413 before parsing"). */
export const BODY_LIMIT = 16 * 1024;
const bytes = (text: string) => new TextEncoder().encode(text);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

export type RawBody = { label: string; data: Uint8Array };

const INVALID_UTF8 = [
  [0xff],
  [0xfe, 0xff],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
];

/** Raw bodies no JSON encoder would write: duplicate keys, invalid UTF-8, deep nesting, sizes around the limit, truncation. */
export const rawBody = (fields: string[]): fc.Arbitrary<RawBody> => {
  const field = fc.constantFrom(...(fields.length ? fields : ["phone"]));
  return fc.oneof(
    fc.tuple(field, fc.jsonValue({ maxDepth: 1 }), fc.jsonValue({ maxDepth: 1 })).map(([name, first, second]) => ({
      label: "duplicate keys",
      data: bytes(`{"${name}":${JSON.stringify(first)},"${name}":${JSON.stringify(second)}}`),
    })),
    fc.tuple(field, fc.constantFrom(...INVALID_UTF8), fc.uint8Array({ maxLength: 12 })).map(([name, invalid, noise]) => ({
      label: "invalid UTF-8",
      data: concat(bytes(`{"${name}":"`), Uint8Array.from(invalid), noise, bytes('"}')),
    })),
    fc.uint8Array({ maxLength: 200 }).map((data) => ({ label: "random bytes", data })),
    fc.tuple(fc.integer({ min: 50, max: 12_000 }), field, fc.constantFrom("array", "object", "field")).map(([depth, name, shape]) => {
      const text =
        shape === "array"
          ? "[".repeat(depth) + "]".repeat(depth)
          : shape === "object"
            ? `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`
            : `{"${name}":${"[".repeat(depth)}${"]".repeat(depth)}}`;
      return { label: `nested ${depth} deep (${shape})`, data: bytes(text) };
    }),
    fc.tuple(field, fc.integer({ min: BODY_LIMIT - 40, max: 3 * BODY_LIMIT })).map(([name, size]) => ({
      label: `${size} bytes`,
      data: bytes(`{"${name}":"${"9".repeat(Math.max(0, size - name.length - 7))}"}`),
    })),
    fc
      .constantFrom(
        "",
        " ",
        "\uFEFF{}",
        "{}",
        "[]",
        '""',
        "0",
        "true",
        "null",
        "{} {}",
        "{}garbage",
        '{"phone":1e999}',
        '{"phone":-0}',
        '{"phone":123456789012345678901234567890}',
        '{"all":true,"all":false}',
        '{"phone":"\\ud800"}',
        '{"phone":"\\u0000"}',
        '{"__proto__":{"admin":true}}',
        '{"constructor":{"prototype":{"role":"admin"}}}',
        "phone=%2B375291234567",
        "<phone>+375291234567</phone>",
      )
      .map((text) => ({ label: JSON.stringify(text), data: bytes(text) })),
    jsonBody({ phone: "phone", code: "code" })
      .map((value) => JSON.stringify(value) ?? "null")
      .chain((text) => fc.nat(text.length).map((cut) => ({ label: "truncated JSON", data: bytes(text.slice(0, cut)) }))),
  );
};

/** Content-Type values: right, almost right, wrong, and garbage. */
export const contentType = fc.oneof(
  { weight: 4, arbitrary: fc.constant("application/json") },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "",
      "application/json; charset=utf-8",
      "application/json; charset=utf-16",
      "APPLICATION/JSON",
      "application/problem+json",
      "application/vnd.api+json",
      "application/jsonx",
      "application/json;;;",
      " application/json ",
      "json",
      "text/json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
      "multipart/form-data; boundary=x",
      "application/xml",
      "*/*",
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 40 }).map((text) => text.replace(/[\r\n\0]/g, "")) },
);

// --- assertions -----------------------------------------------------------------------------

const CODES: Record<string, number> = {
  malformed_request: 400,
  unsupported_media_type: 415,
  validation_failed: 400,
  invalid_phone: 400,
  country_not_allowed: 403,
  captcha_required: 400,
  captcha_failed: 403,
  rate_limited: 429,
  resend_too_soon: 429,
  sms_delivery_failed: 502,
  invalid_code: 400,
  code_expired: 400,
  too_many_attempts: 429,
  unauthorized: 401,
  invalid_token: 401,
  token_reused: 401,
  invalid_credentials: 401,
  reauthentication_required: 403,
  current_password_required: 400,
  current_password_invalid: 403,
  account_disabled: 403,
  forbidden: 403,
  weak_password: 400,
  phone_taken: 409,
  invite_not_found: 404,
  own_invite_code: 400,
  invite_already_activated: 409,
  invite_inactive: 409,
  invite_cycle: 400,
  self_lockout: 409,
  sms_budget_exhausted: 503,
  service_unavailable: 503,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  internal_error: 500,
};

/** What went wrong with a response of the JSON API, or null: the property's verdict. */
export function apiViolation(method: string, response: Response, text: string): string | null {
  if (response.status >= 500) return `5xx: ${response.status} ${text.slice(0, 300)}`;
  if (!response.headers.get("X-Request-Id")) return "no X-Request-Id";
  if (response.headers.get("X-Content-Type-Options") !== "nosniff") return "no nosniff";
  if (response.status < 400) return null;
  const type = response.headers.get("Content-Type");
  if (type !== "application/problem+json") return `error ${response.status} as ${type}: ${text.slice(0, 200)}`;
  if (method === "HEAD") return null;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    return `problem body is not JSON: ${text.slice(0, 200)}`;
  }
  if (typeof body.type !== "string" || typeof body.title !== "string" || typeof body.detail !== "string") return `not a problem: ${text}`;
  if (body.status !== response.status) return `problem status ${String(body.status)} ≠ ${response.status}`;
  if (typeof body.code !== "string" || CODES[body.code] !== response.status)
    return `unknown code ${String(body.code)} for ${response.status}`;
  if (/\n\s+at |\.ts:\d+|\.js:\d+/.test(text)) return `problem leaks internals: ${text.slice(0, 300)}`;
  if (response.status === 405 && !response.headers.get("Allow")) return "405 without Allow";
  if (response.status === 429 && !response.headers.get("Retry-After")) return "429 without Retry-After";
  return null;
}

/** The error code of a problem body, if it is one. */
export function problemCode(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { code?: unknown }).code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}
