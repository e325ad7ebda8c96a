import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../src/index";
import { freshIp, freshPhone } from "./helpers";
import { SoftAuthenticator } from "./passkey-authenticator";

// Storage round trips are the latency of an edge API. These budgets are counted, not timed:
// the bindings are wrapped so every D1 round trip (a statement or a batch) and KV call is seen.

const counts = { d1: 0, kv: 0 };
const realStatement = new WeakMap<object, D1PreparedStatement>();

/** Counts one D1 round trip, then makes it. */
function roundTrip<T>(run: () => T): T {
  counts.d1++;
  return run();
}

function countedStatement(statement: D1PreparedStatement): D1PreparedStatement {
  const counted = {
    bind: (...values: unknown[]) => countedStatement(statement.bind(...values)),
    all: () => roundTrip(() => statement.all()),
    run: () => roundTrip(() => statement.run()),
    first: (column?: string) => roundTrip(() => (column ? statement.first(column) : statement.first())),
    raw: (options?: { columnNames?: boolean }) => roundTrip(() => statement.raw(options as { columnNames: true })),
  } as unknown as D1PreparedStatement;
  realStatement.set(counted, statement);
  return counted;
}

const countedDb: D1Database = {
  prepare: (query: string) => countedStatement(env.DB.prepare(query)),
  batch: (statements: D1PreparedStatement[]) => {
    counts.d1++;
    return env.DB.batch(statements.map((s) => realStatement.get(s) ?? s));
  },
  exec: (query: string) => roundTrip(() => env.DB.exec(query)),
  // Requests run in a D1 session (read replication); count its round trips the same way.
  withSession: () => ({ prepare: countedDb.prepare, batch: countedDb.batch, getBookmark: () => null }),
} as unknown as D1Database;

const countedKv = new Proxy(env.KV, {
  get(target, property) {
    const value = Reflect.get(target, property);
    if (typeof value !== "function") return value;
    return (...args: unknown[]) => {
      counts.kv++;
      return value.apply(target, args);
    };
  },
});

const countedEnv = { ...env, DB: countedDb, KV: countedKv } as typeof env;

async function call(method: string, path: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = { "CF-Connecting-IP": freshIp() };
  if (body) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const request = new Request(`http://api.test${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  return worker.fetch(request, countedEnv, createExecutionContext());
}

beforeEach(() => {
  counts.d1 = 0;
  counts.kv = 0;
});

describe("storage round-trip budgets", () => {
  it("send code: at most 1 D1 round trip and 3 KV operations", async () => {
    const response = await call("POST", "/v1/auth/otp", { phone: freshPhone() });
    expect(response.status).toBe(200);
    expect(counts.d1).toBeLessThanOrEqual(1);
    expect(counts.kv).toBeLessThanOrEqual(3);
  });

  it("verify (first sign-in): at most 2 D1 round trips", async () => {
    const phone = freshPhone();
    const sent = (await (await call("POST", "/v1/auth/otp", { phone })).json()) as { dev_code: string };
    counts.d1 = 0;
    const response = await call("POST", "/v1/auth/otp/verify", { phone, code: sent.dev_code });
    expect(response.status).toBe(200);
    expect(counts.d1).toBeLessThanOrEqual(2);
  });

  it("GET /v1/me: exactly 1 D1 round trip and no KV", async () => {
    const phone = freshPhone();
    const sent = (await (await call("POST", "/v1/auth/otp", { phone })).json()) as { dev_code: string };
    const tokens = (await (await call("POST", "/v1/auth/otp/verify", { phone, code: sent.dev_code })).json()) as { access_token: string };
    counts.d1 = 0;
    counts.kv = 0;
    const response = await call("GET", "/v1/me", undefined, tokens.access_token);
    expect(response.status).toBe(200);
    expect(counts).toEqual({ d1: 1, kv: 0 });
  });

  it("refresh: 1 D1 round trip and no KV", async () => {
    const phone = freshPhone();
    const sent = (await (await call("POST", "/v1/auth/otp", { phone })).json()) as { dev_code: string };
    const tokens = (await (await call("POST", "/v1/auth/otp/verify", { phone, code: sent.dev_code })).json()) as { refresh_token: string };
    counts.d1 = 0;
    counts.kv = 0;
    const response = await call("POST", "/v1/auth/token", { refresh_token: tokens.refresh_token });
    expect(response.status).toBe(200);
    expect(counts).toEqual({ d1: 1, kv: 0 });
  });

  it("passkey sign-in: options 1 D1 round trip, verify 2 (read the credential; consume, counter, session), 2 KV each", async () => {
    const phone = freshPhone();
    const sent = (await (await call("POST", "/v1/auth/otp", { phone })).json()) as { dev_code: string };
    const tokens = (await (await call("POST", "/v1/auth/otp/verify", { phone, code: sent.dev_code })).json()) as { access_token: string };
    const authenticator = await SoftAuthenticator.create("auth.test", "https://auth.test");
    const creation = (await (await call("POST", "/v1/me/passkeys/options", undefined, tokens.access_token)).json()) as {
      challenge: string;
      user: { id: string };
    };
    const added = await call("POST", "/v1/me/passkeys", { response: await authenticator.register(creation) }, tokens.access_token);
    expect(added.status).toBe(201);

    counts.d1 = 0;
    counts.kv = 0;
    const options = (await (await call("POST", "/v1/auth/passkey/options")).json()) as { challenge: string };
    expect(counts).toEqual({ d1: 1, kv: 2 });
    counts.d1 = 0;
    counts.kv = 0;
    const response = await call("POST", "/v1/auth/passkey/verify", { response: await authenticator.assert(options, creation.user.id) });
    expect(response.status).toBe(200);
    expect(counts).toEqual({ d1: 2, kv: 2 });
  });
});
