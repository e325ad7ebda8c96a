import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type fc from "fast-check";
import { expect, inject } from "vitest";
import worker from "../src/index";
import { freshIp, freshPhone } from "./helpers";
import { variantEnv } from "./otp-helpers";

// The harness of the property tests (test/fuzz-*.test.ts, issue #10): one deployment under test,
// a change log of every D1 row the Worker writes, a record of every KV write, fixtures (users,
// an admin, live codes) and the verdicts the properties share (arbitraries: fuzz-arbitraries.ts).

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
// - KV edge marks of full windows (`edge:`), and the `register` API's failure lock, which counts
//   every refusal of that flow per IP and phone (`compat:register:ip:` / `:phone:`);
// - a blank `phone_guards` row (the send gate ensures the row before deciding; it holds no state);
// - an orphan code hash `otp:<id>`: a send writes it to KV before the D1 gate decides (so a KV
//   failure leaves nothing in D1); a refused send's hash is referenced by no challenge, is never
//   read, and expires with its TTL (src/otp/service.ts);
// - the failure budgets of guesses: a wrong code counts against the code and the phone
//   (`otp_challenges`, `phone_guards`), a wrong password against the phone (`phone_guards`);
// - a wrong code's count in the guess-storm counter (`counters`, `wrong_guesses:<hour>`) and the
//   alarm's event when it passes FRAUD_GLOBAL_FAILURES (src/fraud/guard.ts).
const REFUSAL_EVENTS = new Set([
  "code_refused",
  "code_failed",
  "code_burned",
  "phone_locked",
  "password_login_failed",
  "password_locked",
  "guess_storm",
]);
const GUESS_REFUSALS = new Set(["invalid_code", "too_many_attempts", "invalid_credentials", "current_password_invalid"]);
const REFUSAL_KV = /^put (edge:|compat:register:(ip|phone):|otp:)/;

/** The writes of a refused request (`code` = its error code, when known) that the contract does not allow. */
export function forbiddenChanges(code: string | undefined, changes: Change[], kv: string[]): string[] {
  const forbidden: string[] = [];
  for (const change of changes) {
    if (change.tbl === "audit_events" && change.op === "insert" && REFUSAL_EVENTS.has(change.detail ?? "")) continue;
    if (change.tbl === "phone_guards" && change.op === "insert") continue;
    if (code && GUESS_REFUSALS.has(code) && change.op === "update" && (change.tbl === "phone_guards" || change.tbl === "otp_challenges")) {
      continue;
    }
    if (code === "invalid_code" && change.tbl === "counters" && change.op !== "delete") continue;
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
let signedInAt = 0;

/** Marks the fixtures for renewal (a request may have deleted, demoted or signed out one of them). */
export function invalidateFixtures(): void {
  stale = true;
}

/** The fixtures, signed in again when a request may have spent them. */
export async function fixtures(): Promise<Fixtures> {
  // Access tokens live 15 minutes; a long `npm run fuzz` signs in again well before.
  if (current && !stale && Date.now() - signedInAt < 10 * 60_000) return current;
  const [user, admin, inviter] = await Promise.all([signInAs(freshPhone()), usableAdmin(current?.admin), signInAs(freshPhone())]);
  const compat = await usersTokenFor(freshPhone());
  const livePhones = [freshPhone(), freshPhone()];
  for (const phone of livePhones) await ok(await api("POST", "/v1/auth/otp", { body: { phone } }));
  const register = await ok<{ session_id: string }>(await api("POST", "/api/register/", { body: { mobile_number: freshPhone() } }));
  current = { user, admin, inviter, usersToken: compat, livePhones, registerSession: register.session_id };
  stale = false;
  signedInAt = Date.now();
  return current;
}

/** The admin again while its token still reaches the admin routes: admin phones are few, and each may get 5 codes an hour. */
async function usableAdmin(admin: Account | undefined): Promise<Account> {
  if (admin && (await api("GET", "/v1/admin/stats", { token: admin.access })).status === 200) return admin;
  return signInAs(nextAdminPhone());
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
