import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import type { env } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../src/index";
import { freshIp, sendCode, type TokenBody } from "./helpers";
import { variantEnv } from "./otp-helpers";

/**
 * Phones the admin env lists in ADMIN_PHONES (+37533… numbers, which `freshPhone` never makes).
 * One per sign-in: a second code for the same phone inside a minute would be `resend_too_soon`.
 */
const ADMIN_POOL = Array.from({ length: 50 }, (_, i) => `+37533100${String(i + 1).padStart(4, "0")}`);

/** The test config plus ADMIN_PHONES; built once (config is cached per env object). */
export const ADMIN_ENV = variantEnv({ ADMIN_PHONES: ADMIN_POOL.join(",") });

let adminCursor = 0;

/** The next unused phone that ADMIN_ENV makes an admin at sign-in. */
export function freshAdminPhone(): string {
  const phone = ADMIN_POOL[adminCursor++];
  if (!phone) throw new Error("admin phone pool exhausted");
  return phone;
}

export type WorkerCallOptions = {
  body?: unknown;
  token?: string;
  ip?: string;
  requestId?: string;
  /** `request.cf.country`, as Cloudflare's edge would set it. */
  country?: string;
  headers?: Record<string, string>;
  /** Default ADMIN_ENV: the deployment under test lists the admin pool in ADMIN_PHONES. */
  env?: typeof env;
};

/**
 * Calls the Worker module (with ADMIN_ENV unless told otherwise) and its own execution context, and waits for everything it deferred
 * then waits for everything it deferred (`waitUntil`), so events written after the response are in D1 when this returns.
 */
export async function callWorker(method: string, path: string, options: WorkerCallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { "CF-Connecting-IP": options.ip ?? freshIp(), ...options.headers };
  if (options.requestId) headers["X-Request-Id"] = options.requestId;
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] ??= "application/json";
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  const init = { method, headers, body, cf: options.country ? { country: options.country } : undefined };
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`http://api.test${path}`, init as RequestInit), options.env ?? ADMIN_ENV, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/** Sends a login code, then verifies it through `variant` (e.g. ADMIN_ENV). */
export async function signInVia(variant: typeof env, phone: string, extra: Record<string, unknown> = {}): Promise<TokenBody> {
  const code = await sendCode(phone);
  const response = await callWorker("POST", "/v1/auth/otp/verify", { env: variant, body: { phone, code, ...extra } });
  const body = (await response.json()) as TokenBody;
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body;
}

/** Signs in a fresh phone listed in ADMIN_PHONES: an admin. */
export function signInAdmin(phone = freshAdminPhone()): Promise<TokenBody> {
  return signInVia(ADMIN_ENV, phone);
}

let shared: { admin: TokenBody; at: number } | undefined;

/**
 * An admin for tests that only act through one (and change nothing about it): signed in once
 * and reused while its access token is surely alive on the current clock.
 */
export async function sharedAdmin(): Promise<TokenBody> {
  const now = Date.now();
  if (!shared || now < shared.at || now - shared.at > 10 * 60_000) shared = { admin: await signInAdmin(), at: now };
  return shared.admin;
}

/** The contract's mask for a Belarusian E.164 number: `+37529*****67`. */
export function masked(e164: string): string {
  expect(e164).toMatch(/^\+375\d{9}$/);
  return `${e164.slice(0, 6)}*****${e164.slice(-2)}`;
}

/** A well-formed X-Request-Id to find a request's events by. */
export function requestIdFor(label: string): string {
  return `${label}-${crypto.randomUUID()}`;
}

export type AdminUser = Record<string, unknown> & {
  id: string;
  phone: string;
  role: string;
  is_active: boolean;
  invite_code: string;
  created_at: string;
};

export type AdminUserDetail = AdminUser & { invited_by: { id: string; phone: string | null } | null; sessions: number };

export type AuditItem = {
  id: string;
  type: string;
  created_at: string;
  user_id: string | null;
  phone: string | null;
  ip: string | null;
  country: string | null;
  request_id: string | null;
  detail: Record<string, unknown> | null;
};

export type Page<T> = { items: T[]; next_cursor: string | null };

/** An admin call that must answer 200 with JSON. */
export async function adminOk<T>(admin: TokenBody, method: string, path: string, body?: unknown): Promise<T> {
  const response = await callWorker(method, path, { token: admin.access_token, body });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return JSON.parse(text) as T;
}

const queryString = (query: Record<string, string | number | undefined>) =>
  Object.entries(query)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, value]) => `${name}=${encodeURIComponent(String(value))}`)
    .join("&");

/** GET /v1/admin/events with filters; one page (limit 100 unless given). */
export function eventsPage(admin: TokenBody, query: Record<string, string | number | undefined>): Promise<Page<AuditItem>> {
  return adminOk<Page<AuditItem>>(admin, "GET", `/v1/admin/events?${queryString({ limit: 100, ...query })}`);
}

/** Every event matching the filters, newest first. */
export async function eventsOf(admin: TokenBody, query: Record<string, string | number | undefined>): Promise<AuditItem[]> {
  return (await eventsPage(admin, query)).items;
}

/** Walks a list route page by page through `next_cursor`; returns each page's items. */
export async function walkPages<T>(admin: TokenBody, path: string, query: Record<string, string | number | undefined>): Promise<T[][]> {
  const pages: T[][] = [];
  let cursor = query.cursor;
  for (let guard = 0; guard < 50; guard++) {
    const page = await adminOk<Page<T>>(admin, "GET", `${path}?${queryString({ ...query, cursor })}`);
    pages.push(page.items);
    if (page.next_cursor === null) return pages;
    cursor = page.next_cursor;
  }
  throw new Error("pagination did not end");
}
