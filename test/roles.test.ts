import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { freshIp, freshPhone } from "./helpers";

// Each variant is its own env object (config is parsed once per env object); all share this file's D1.
const BOSS = "+375291230777";
const listed = { ...env, ADMIN_PHONES: BOSS } as typeof env;
const unlisted = { ...env, ADMIN_PHONES: "" } as typeof env;
const testPhones = { ...env, TEST_PHONES: "+375291230888:424242" } as typeof env;
const strictPasswords = { ...env, PASSWORD_LOCKOUT_FAILURES: "2", PASSWORD_IP_PER_MINUTE: "3" } as typeof env;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

async function callWith(variant: typeof env, method: string, path: string, body?: unknown, token?: string, ip = freshIp()) {
  const headers: Record<string, string> = { "CF-Connecting-IP": ip };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const request = new Request(`http://api.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return worker.fetch(request, variant, createExecutionContext());
}

async function signInWith(variant: typeof env, phone: string) {
  const sent = (await (await callWith(variant, "POST", "/v1/auth/otp", { phone })).json()) as { dev_code: string };
  const response = await callWith(variant, "POST", "/v1/auth/otp/verify", { phone, code: sent.dev_code });
  expect(response.status).toBe(200);
  return (await response.json()) as { access_token: string; user: { id: string; role: string } };
}

function later(seconds: number) {
  const now = Date.now();
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(now + seconds * 1000);
}

describe("ADMIN_PHONES", () => {
  it("grants admin at sign-in, and removing the phone from the var demotes it for good", async () => {
    const boss = await signInWith(listed, BOSS);
    expect(boss.user.role).toBe("admin");
    expect((await callWith(listed, "GET", "/v1/admin/stats", undefined, boss.access_token)).status).toBe(200);
    // The var no longer lists the phone: the same token loses admin at once…
    expect((await callWith(unlisted, "GET", "/v1/admin/stats", undefined, boss.access_token)).status).toBe(403);
    // …and the next sign-in records the demotion.
    later(61);
    const again = await signInWith(unlisted, BOSS);
    expect(again.user.role).toBe("user");
  });

  it("a role granted by another admin does not depend on the var", async () => {
    const admin = await signInWith(listed, "+375291230778");
    expect(admin.user.role).toBe("user");
    // Promote via PATCH as a configured admin, then check the grant survives an empty var.
    const configured = { ...env, ADMIN_PHONES: "+375291230780" } as typeof env;
    const root = await signInWith(configured, "+375291230780");
    const patch = await callWith(configured, "PATCH", `/v1/admin/users/${admin.user.id}`, { role: "admin" }, root.access_token);
    expect(patch.status).toBe(200);
    expect((await callWith(unlisted, "GET", "/v1/admin/stats", undefined, admin.access_token)).status).toBe(200);
    later(61);
    expect((await signInWith(unlisted, "+375291230778")).user.role).toBe("admin");
  });
});

describe("TEST_PHONES", () => {
  it("never get a notice SMS either", async () => {
    const sent = vi.spyOn(console, "log");
    const phone = "+375291230888";
    const sendResponse = await callWith(testPhones, "POST", "/v1/auth/otp", { phone });
    expect(sendResponse.status).toBe(200);
    const tokens = (await (await callWith(testPhones, "POST", "/v1/auth/otp/verify", { phone, code: "424242" })).json()) as {
      access_token: string;
    };
    const set = await callWith(testPhones, "PUT", "/v1/me/password", { new_password: "a perfectly fine passphrase" }, tokens.access_token);
    expect(set.status).toBe(204);
    expect(sent.mock.calls.flat().join("\n")).not.toContain(`to ${phone}`);
  });
});

describe("password limits are configurable", () => {
  it("PASSWORD_LOCKOUT_FAILURES and PASSWORD_IP_PER_MINUTE", async () => {
    const phone = freshPhone();
    const login = (ip?: string) =>
      callWith(strictPasswords, "POST", "/v1/auth/password/login", { phone, password: "wrong wrong wrong" }, undefined, ip);
    expect((await login()).status).toBe(401);
    expect((await login()).status).toBe(401);
    const locked = await login();
    expect(locked.status).toBe(429);
    expect(((await locked.json()) as { code: string }).code).toBe("too_many_attempts");
    const ip = freshIp();
    for (let i = 0; i < 3; i++)
      await callWith(strictPasswords, "POST", "/v1/auth/password/login", { phone: freshPhone(), password: "x".repeat(20) }, undefined, ip);
    const limited = await callWith(
      strictPasswords,
      "POST",
      "/v1/auth/password/login",
      { phone: freshPhone(), password: "x".repeat(20) },
      undefined,
      ip,
    );
    expect(limited.status).toBe(429);
  });
});
