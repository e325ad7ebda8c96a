import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { freshIp, freshPhone } from "./helpers";

// Log hygiene (issue #10): every log line of a whole account life — sign-up, refresh, password
// set, login, reset, invite, a few refusals, deletion — in a production-like config, checked for
// codes, tokens, passwords, the pepper, key material and full phone numbers.

const production = {
  ...env,
  ENVIRONMENT: undefined,
  SMS_PROVIDER: "webhook",
  SMS_WEBHOOK_URL: "https://sms.example.test/send",
  SMS_WEBHOOK_SECRET: "webhook-secret-for-log-hygiene-0123",
} as unknown as typeof env;

const lines: string[] = [];
const secrets = new Set<string>();
const codes: string[] = [];

function remember(...values: (string | undefined | null)[]) {
  for (const value of values) if (value) secrets.add(value);
}

beforeAll(() => {
  for (const level of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(
        args
          .map((arg) => (arg instanceof Error ? `${arg.message}\n${arg.stack}` : typeof arg === "string" ? arg : JSON.stringify(arg)))
          .join(" "),
      );
    });
  }
  // The SMS provider: remembers each code it is asked to deliver (production never returns them).
  vi.spyOn(globalThis, "fetch").mockImplementation(async (_input, init) => {
    const body = JSON.parse(String(init?.body ?? "{}")) as { code?: string };
    if (body.code) codes.push(body.code);
    return new Response("{}", { status: 200 });
  });
});

afterAll(() => {
  vi.restoreAllMocks();
});

async function api(method: string, path: string, body?: unknown, token?: string, ip = freshIp()) {
  const headers: Record<string, string> = { "CF-Connecting-IP": ip, "User-Agent": "hygiene-test" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(`https://api.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
    production,
    ctx,
  );
  await waitOnExecutionContext(ctx); // after-response work (audit of refusals) logs too
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as Record<string, any>) : {} };
}

async function signUp(phone: string) {
  expect((await api("POST", "/v1/auth/otp", { phone })).status).toBe(200);
  const code = codes.at(-1) as string;
  const tokens = await api("POST", "/v1/auth/otp/verify", { phone, code });
  expect(tokens.status).toBe(200);
  remember(tokens.json.access_token, tokens.json.refresh_token);
  return tokens.json;
}

describe("log hygiene", () => {
  it("logs no code, token, password, pepper, key or full phone number over a whole account life", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const alice = freshPhone();
    const bob = freshPhone();
    const password = "hygiene passphrase that is long 7";
    const newPassword = "another hygiene passphrase 8";
    remember(password, newPassword);

    const a = await signUp(alice);
    const b = await signUp(bob);
    // A wrong code and a wrong password are refusals that log.
    vi.setSystemTime(Date.now() + 61_000);
    expect((await api("POST", "/v1/auth/otp", { phone: alice })).status).toBe(200);
    const wrong = String((Number(codes.at(-1)) + 1) % 10 ** 6).padStart(6, "0");
    expect((await api("POST", "/v1/auth/otp/verify", { phone: alice, code: wrong })).status).toBe(400);

    const refreshed = await api("POST", "/v1/auth/token", { refresh_token: a.refresh_token });
    expect(refreshed.status).toBe(200);
    remember(refreshed.json.access_token, refreshed.json.refresh_token);
    // Reuse of the spent refresh token after the grace period: the family is revoked (logged).
    vi.setSystemTime(Date.now() + 30_000);
    expect((await api("POST", "/v1/auth/token", { refresh_token: a.refresh_token })).status).toBe(401);

    vi.setSystemTime(Date.now() + 61_000);
    const again = await signUp(alice);
    expect((await api("PUT", "/v1/me/password", { new_password: password }, again.access_token)).status).toBe(204);
    expect((await api("POST", "/v1/auth/password/login", { phone: alice, password: `${password}x` })).status).toBe(401);
    const login = await api("POST", "/v1/auth/password/login", { phone: alice, password });
    expect(login.status).toBe(200);
    remember(login.json.access_token, login.json.refresh_token);

    vi.setSystemTime(Date.now() + 61_000);
    expect((await api("POST", "/v1/auth/otp", { phone: alice, purpose: "reset_password" })).status).toBe(200);
    const reset = await api("POST", "/v1/auth/password/reset", { phone: alice, code: codes.at(-1), new_password: newPassword });
    expect(reset.status).toBe(200);
    remember(reset.json.access_token, reset.json.refresh_token);

    expect((await api("POST", "/v1/me/invite", { invite_code: reset.json.user.invite_code }, b.access_token)).status).toBe(200);
    expect((await api("POST", "/v1/me/invite", { invite_code: "ZZZZZZ" }, reset.json.access_token)).status).toBe(404);
    expect((await api("DELETE", "/v1/me", undefined, b.access_token)).status).toBe(204);
    // A failing SMS provider and a forged token log errors of their own.
    vi.mocked(globalThis.fetch).mockImplementationOnce(async () => new Response("provider down: token=abc", { status: 500 }));
    vi.setSystemTime(Date.now() + 61_000);
    expect((await api("POST", "/v1/auth/otp", { phone: alice })).status).toBe(502);
    expect((await api("GET", "/v1/me", undefined, `${reset.json.access_token}x`)).status).toBe(401);
    vi.useRealTimers();
    // A misconfigured deployment logs which variables are wrong, never their values.
    const misconfigured = { ...production, SMS_PROVIDER: "console", PASSWORD_PEPPER: "short-pepper-value" } as unknown as typeof env;
    remember("short-pepper-value");
    const refused = await worker.fetch(new Request("https://api.test/health"), misconfigured, createExecutionContext());
    expect(refused.status).toBe(503);

    const keys = JSON.parse(env.JWT_PRIVATE_KEYS).keys as { d: string }[];
    remember(env.PASSWORD_PEPPER, "webhook-secret-for-log-hygiene-0123", ...keys.map((key) => key.d));
    for (const code of codes) secrets.add(code);
    const phones = [alice, bob];
    const log = lines.join("\n");
    // The run did log (the SMS failure, the refused configuration), so the checks below look at real lines.
    expect(log).toContain("sms delivery failed");
    expect(log).toMatch(/configuration invalid: .*PASSWORD_PEPPER/);
    for (const secret of secrets) expect(log, `a secret of ${secret.length} characters was logged`).not.toContain(secret);
    for (const phone of phones) {
      expect(log).not.toContain(phone);
      expect(log).not.toContain(phone.slice(1)); // without the +
      expect(log).not.toContain(phone.slice(4)); // national digits
    }
  });
});
