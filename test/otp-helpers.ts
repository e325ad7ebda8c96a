import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, type MockInstance, vi } from "vitest";
import worker from "../src/index";
import { call, freshIp, row, type TokenBody } from "./helpers";

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

type CallOptions = { body?: unknown; token?: string; ip?: string; headers?: Record<string, string> };

/** POST /v1/auth/otp through the test config. */
export function requestCode(phone: string, extra: Record<string, unknown> = {}, options: CallOptions = {}): Promise<Response> {
  return call("POST", "/v1/auth/otp", { ...options, body: { phone, ...extra } });
}

/** POST /v1/auth/otp/verify through the test config. */
export function verifyCode(
  phone: string,
  code: string,
  options: CallOptions & { extra?: Record<string, unknown> } = {},
): Promise<Response> {
  return call("POST", "/v1/auth/otp/verify", { ...options, body: { phone, code, ...options.extra } });
}

/** Verifies and expects a token response. */
export async function verifyOk(phone: string, code: string): Promise<TokenBody> {
  const response = await verifyCode(phone, code);
  const body = (await response.json()) as TokenBody;
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body;
}

/**
 * Pins the clock the Worker reads (it shares the test's isolate and reads `Date.now()`), so
 * expiry checks are exact. Tests restore real time in `afterEach`.
 */
export function freezeClock(at = Date.now()): number {
  if (!vi.isFakeTimers()) vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(at);
  return at;
}

/** The crons of wrangler.toml: the daily retention job, and the 5-minute webhook sweep with the block edge copies' repair. */
export const CRON = { retention: "17 3 * * *", sweep: "*/5 * * * *" } as const;

/** Runs the Worker's scheduled handler for `cron` on the (possibly frozen) clock and waits for all it started. */
export async function runCron(cron: string, variant: typeof env = env): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron, scheduledTime: Date.now() }), variant, ctx);
  await waitOnExecutionContext(ctx);
}

/** Moves the pinned clock forward; returns the new now. */
export function advance(ms: number): number {
  return freezeClock(Date.now() + ms);
}

export type GuardRow = {
  phone: string;
  last_sent_at: number | null;
  /** Accepted sends in the sliding hour and day before now. */
  hour_count: number;
  day_count: number;
  /** Wrong codes in the sliding lockout window (OTP_LOCKOUT_SECONDS, 3600 in tests) before now. */
  fail_count: number;
  locked_until: number | null;
};

export type ChallengeRow = {
  phone: string;
  purpose: string;
  code_id: string;
  user_id: string | null;
  attempts: number;
  expires_at: number;
  consumed_at: number | null;
};

/** The phone's strict per-phone state (cooldown, sliding windows at the pinned clock, lock). */
export function guardOf(phone: string, lockoutMs = HOUR_MS) {
  const now = Date.now();
  const count = (scope: string, ms: number) =>
    `(SELECT COUNT(*) FROM rate_events WHERE scope = '${scope}' AND key = g.phone AND at > ${now - ms})`;
  return row<GuardRow>(
    `SELECT phone, last_sent_at, locked_until, ${count("send_phone", HOUR_MS)} AS hour_count,
      ${count("send_phone", DAY_MS)} AS day_count, ${count("code_fail", lockoutMs)} AS fail_count
    FROM phone_guards g WHERE phone = ?`,
    phone,
  );
}

/** The scope each old `phone_guards` counter column became in `rate_events`. */
const COUNTED: Record<string, string> = {
  hour_count: "send_phone",
  day_count: "send_phone",
  fail_count: "code_fail",
  pw_fail_count: "password_fail",
};

/**
 * Columns of the phone's `phone_guards` row; the old counter names (`hour_count`, `fail_count`,
 * `pw_fail_count`, …) read as the number of that phone's events in their `rate_events` scope, of any age.
 */
export function guardColumns<T = Record<string, unknown>>(columns: string[], phone: string) {
  const select = columns.map((column) =>
    COUNTED[column] ? `(SELECT COUNT(*) FROM rate_events WHERE scope = '${COUNTED[column]}' AND key = phone) AS ${column}` : column,
  );
  return row<T>(`SELECT ${select.join(", ")} FROM phone_guards WHERE phone = ?`, phone);
}

/** Events counted in a sliding-window scope for `key` within `ms` before the pinned clock. */
export async function windowCount(scope: string, key: string, ms: number): Promise<number> {
  const found = await row<{ n: number }>(
    "SELECT COUNT(*) AS n FROM rate_events WHERE scope = ? AND key = ? AND at > ?",
    scope,
    key,
    Date.now() - ms,
  );
  return found?.n ?? 0;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** The live (or last) code of a phone and purpose. */
export function challengeOf(phone: string, purpose = "login") {
  return row<ChallengeRow>(
    "SELECT phone, purpose, code_id, user_id, attempts, expires_at, consumed_at FROM otp_challenges WHERE phone = ? AND purpose = ?",
    phone,
    purpose,
  );
}

export async function userCount(phone: string): Promise<number> {
  return (await row<{ n: number }>("SELECT count(*) AS n FROM users WHERE phone = ?", phone))?.n ?? 0;
}

/** `n` distinct codes of the right length, none equal to `right`. */
export function wrongCodes(right: string, n: number): string[] {
  const codes: string[] = [];
  for (let i = 1; codes.length < n; i++) {
    const candidate = String((Number(right) + i) % 10 ** right.length).padStart(right.length, "0");
    if (candidate !== right) codes.push(candidate);
  }
  return codes;
}

/**
 * An env variant for config tests: the real bindings (same D1 and KV) with vars replaced;
 * `undefined` removes a var. Config is cached per env object, so build each variant once.
 */
export function variantEnv(overrides: Record<string, string | undefined>): typeof env {
  const copy: Record<string, unknown> = { ...env };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete copy[name];
    else copy[name] = value;
  }
  return copy as unknown as typeof env;
}

/** Calls the Worker module with a variant env. */
export async function callWith(variant: typeof env, method: string, path: string, options: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { "CF-Connecting-IP": options.ip ?? freshIp(), ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] ??= "application/json";
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`http://api.test${path}`, { method, headers, body }), variant, ctx);
  // Work deferred past the response (audit of refusals, the reset SMS) is done when this returns.
  await waitOnExecutionContext(ctx);
  return response;
}

export const WEBHOOK_URL = "https://sms.example.test/hook";
export const WEBHOOK_SECRET = "webhook-secret-0123456789abcdef";

/** One outbound provider call as the webhook saw it. */
export type WebhookCall = { url: string; method: string; headers: Headers; raw: string; body: Record<string, unknown> };

/**
 * Replaces the global fetch the SMS sender calls (late-bound, same isolate) and records each
 * call. `answer` decides the provider's reply; by default 200.
 */
export function interceptWebhook(answer: (init: RequestInit) => Promise<Response> = async () => new Response("ok")): {
  calls: WebhookCall[];
  spy: MockInstance<typeof fetch>;
} {
  const calls: WebhookCall[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init = {}) => {
    const raw = typeof init.body === "string" ? init.body : "";
    const url = input instanceof Request ? input.url : String(input);
    calls.push({ url, method: init.method ?? "GET", headers: new Headers(init.headers), raw, body: raw ? JSON.parse(raw) : {} });
    return answer(init);
  });
  return { calls, spy };
}

/** Hex HMAC-SHA-256 of `message` keyed by `secret`, as the webhook receiver would compute it. */
export async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(message));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads a JSON body without consuming the caller's chance to assert status first. */
export async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}
