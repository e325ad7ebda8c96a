import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { expectProblem, freshIp, freshPhone, signIn } from "./helpers";
import { signingJwk } from "./token-helpers";

// Config is parsed once per env object, so each variant is built once, here.

afterEach(() => {
  vi.restoreAllMocks();
});

const webhook = {
  SMS_PROVIDER: "webhook",
  SMS_WEBHOOK_URL: "https://sms.example.com/hook",
  SMS_WEBHOOK_SECRET: "webhook-secret-0123456789abcdef-XYZ",
};
/** A safe production config: ENVIRONMENT unset means production. */
const production = { ...env, ENVIRONMENT: undefined, ...webhook };

const realD = signingJwk().d;
const pepper = (env as unknown as { PASSWORD_PEPPER: string }).PASSWORD_PEPPER;
/** Secrets that must never reach a log, whichever variable is wrong. */
const secrets = [realD, pepper, webhook.SMS_WEBHOOK_SECRET];

const unsafe: { name: string; variant: object; names: string; value?: string }[] = [
  {
    name: "production (ENVIRONMENT unset) with SMS_PROVIDER=console",
    variant: { ...env, ENVIRONMENT: undefined, SMS_PROVIDER: "console" },
    names: "SMS_PROVIDER",
  },
  {
    name: "production (ENVIRONMENT empty) with SMS_PROVIDER=console",
    variant: { ...env, ENVIRONMENT: "", SMS_PROVIDER: "console" },
    names: "SMS_PROVIDER",
  },
  {
    name: "ENVIRONMENT=production with SMS_PROVIDER=console",
    variant: { ...env, ENVIRONMENT: "production", SMS_PROVIDER: "console" },
    names: "SMS_PROVIDER",
  },
  { name: "production without SMS_PROVIDER", variant: { ...env, ENVIRONMENT: undefined, SMS_PROVIDER: undefined }, names: "SMS_PROVIDER" },
  {
    name: "production with a TEST_PHONES number in ADMIN_PHONES (a fixed code would sign in as admin)",
    variant: { ...production, TEST_PHONES: "+375291110000:123456", ADMIN_PHONES: "+375291110000" },
    names: "ADMIN_PHONES",
  },
  {
    name: "an ADMIN_PHONES entry that is not +E164",
    variant: { ...production, ADMIN_PHONES: "+375291110001, 80291110002" },
    names: "ADMIN_PHONES",
  },
  { name: "an unknown COMPAT_APIS name", variant: { ...production, COMPAT_APIS: "users,soap" }, names: "COMPAT_APIS" },
  { name: "production without JWT_PRIVATE_KEYS", variant: { ...production, JWT_PRIVATE_KEYS: undefined }, names: "JWT_PRIVATE_KEYS" },
  { name: "production with an empty JWT_PRIVATE_KEYS", variant: { ...production, JWT_PRIVATE_KEYS: "" }, names: "JWT_PRIVATE_KEYS" },
  { name: "production without PASSWORD_PEPPER", variant: { ...production, PASSWORD_PEPPER: undefined }, names: "PASSWORD_PEPPER" },
  {
    name: "a PASSWORD_PEPPER too short to be a secret",
    variant: { ...production, PASSWORD_PEPPER: "short-pepper-4711" },
    names: "PASSWORD_PEPPER",
    value: "short-pepper-4711",
  },
  {
    name: "JWT_PRIVATE_KEYS that is not JSON",
    variant: { ...production, JWT_PRIVATE_KEYS: `{"keys":[{"kty":"EC","crv":"P-256","d":"${realD}"` },
    names: "JWT_PRIVATE_KEYS",
    value: realD,
  },
  {
    name: "JWT_PRIVATE_KEYS holding no key",
    variant: { ...production, JWT_PRIVATE_KEYS: JSON.stringify({ keys: [] }) },
    names: "JWT_PRIVATE_KEYS",
  },
  {
    name: "JWT_PRIVATE_KEYS holding a key that is not EC P-256",
    variant: {
      ...production,
      JWT_PRIVATE_KEYS: JSON.stringify({ keys: [{ kty: "oct", k: "c3VwZXItc2VjcmV0LWhtYWMta2V5LTQ3MTE", kid: "hs" }] }),
    },
    names: "JWT_PRIVATE_KEYS",
    value: "c3VwZXItc2VjcmV0LWhtYWMta2V5LTQ3MTE",
  },
  {
    name: "JWT_PRIVATE_KEYS holding only a public key",
    variant: { ...production, JWT_PRIVATE_KEYS: JSON.stringify({ keys: [{ ...signingJwk(), d: undefined }] }) },
    names: "JWT_PRIVATE_KEYS",
  },
  { name: "ENVIRONMENT=staging", variant: { ...production, ENVIRONMENT: "staging" }, names: "ENVIRONMENT" },
  {
    name: "SMS_PROVIDER=webhook without SMS_WEBHOOK_URL",
    variant: { ...production, SMS_WEBHOOK_URL: undefined },
    names: "SMS_WEBHOOK_URL",
  },
  {
    name: "SMS_PROVIDER=webhook without SMS_WEBHOOK_SECRET",
    variant: { ...production, SMS_WEBHOOK_SECRET: undefined },
    names: "SMS_WEBHOOK_SECRET",
  },
  {
    name: "DELIVERY_ROUTES naming the console provider in production",
    variant: { ...production, DELIVERY_ROUTES: "BY:telegram:console;*:sms:webhook" },
    names: "DELIVERY_ROUTES",
  },
  {
    name: "DELIVERY_ROUTES naming whatsapp_cloud without its token",
    variant: { ...production, DELIVERY_ROUTES: "*:whatsapp:whatsapp_cloud,sms:webhook", WHATSAPP_PHONE_NUMBER_ID: "106540352242922" },
    names: "WHATSAPP_TOKEN",
  },
  {
    name: "DELIVERY_ROUTES pairing a provider with a channel it cannot carry",
    variant: { ...production, DELIVERY_ROUTES: "*:voice:smsru" },
    names: "DELIVERY_ROUTES",
  },
  {
    name: "SMS_PROVIDER=vonage without its key",
    variant: { ...production, SMS_PROVIDER: "vonage", VONAGE_API_SECRET: "vonage-secret-123", VONAGE_FROM: "Acme" },
    names: "VONAGE_API_KEY",
  },
];

type Probe = { method: string; path: string; body?: string; token?: boolean };

const routes: Probe[] = [
  { method: "GET", path: "/health" },
  { method: "GET", path: "/v1" },
  { method: "GET", path: "/openapi.json" },
  { method: "GET", path: "/docs" },
  { method: "GET", path: "/.well-known/jwks.json" },
  { method: "POST", path: "/v1/auth/otp", body: JSON.stringify({ phone: "+375291234567" }) },
  { method: "POST", path: "/v1/auth/otp/verify", body: JSON.stringify({ phone: "+375291234567", code: "123456" }) },
  { method: "POST", path: "/v1/auth/token", body: JSON.stringify({ refresh_token: "rt_x" }) },
  { method: "POST", path: "/v1/auth/logout", body: JSON.stringify({ refresh_token: "rt_x" }) },
  { method: "GET", path: "/v1/me", token: true },
  { method: "GET", path: "/v1/me/sessions", token: true },
  { method: "GET", path: "/nope" },
  { method: "PUT", path: "/v1/auth/otp" },
];

function fetchWith(variant: object, probe: Probe, token?: string) {
  const headers: Record<string, string> = { "CF-Connecting-IP": freshIp() };
  if (probe.body) headers["Content-Type"] = "application/json";
  if (probe.token && token) headers.Authorization = `Bearer ${token}`;
  const request = new Request(`http://api.test${probe.path}`, { method: probe.method, headers, body: probe.body });
  return worker.fetch(request, variant as typeof env, createExecutionContext());
}

describe("an unsafe or invalid configuration", () => {
  it.each(unsafe)("refuses every route with 503 service_unavailable: $name", async ({ variant, names, value }) => {
    const tokens = await signIn();
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    for (const probe of routes) {
      const response = await fetchWith(variant, probe, tokens.access_token);
      const text = await response.clone().text();
      const body = await expectProblem(response, 503, "service_unavailable");
      expect(body.detail).toBeTruthy();
      expect(Number(response.headers.get("Retry-After")), `${probe.method} ${probe.path}`).toBeGreaterThan(0);
      expect(response.headers.get("X-Request-Id")).toBeTruthy();
      expect(response.headers.get("X-Content-Type-Options")).toBe("nosniff");
      for (const secret of [...secrets, value].filter(Boolean) as string[]) expect(text).not.toContain(secret);
      // The reason is for the operator's log, not the wire.
      expect(text).not.toContain(names);
    }
    const output = [...logged.mock.calls, ...log.mock.calls, ...warn.mock.calls].flat().map(String).join("\n");
    expect(output).toContain(names);
    for (const secret of [...secrets, value].filter(Boolean) as string[]) expect(output).not.toContain(secret);
  });
});

describe("a valid production configuration", () => {
  it("serves /health and /v1", async () => {
    const logged = vi.spyOn(console, "error");
    const health = await fetchWith(production, { method: "GET", path: "/health" });
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", checks: { db: "ok", kv: "ok" } });
    expect((await fetchWith(production, { method: "GET", path: "/v1" })).status).toBe(200);
    expect(logged.mock.calls.flat().join("\n")).not.toMatch(/refusing|configuration invalid/);
  });

  it("sends codes through the webhook and never answers dev_code", async () => {
    const sent: { url: string; body: string; headers: Headers }[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      sent.push({ url: request.url, body: await request.text(), headers: request.headers });
      return new Response(null, { status: 204 });
    });
    const phone = freshPhone();
    const response = await fetchWith(production, { method: "POST", path: "/v1/auth/otp", body: JSON.stringify({ phone }) });
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ phone, purpose: "login" });
    expect(body).not.toHaveProperty("dev_code");
    expect(sent).toHaveLength(1);
    expect(sent[0]?.url).toBe(webhook.SMS_WEBHOOK_URL);
    expect(JSON.parse(sent[0]?.body ?? "{}")).toMatchObject({ to: phone, purpose: "login", code: expect.stringMatching(/^\d{6}$/) });
    expect(sent[0]?.headers.get("X-Webhook-Signature")).toMatch(/^sha256=[0-9a-f]{64}$/);
  });
});
