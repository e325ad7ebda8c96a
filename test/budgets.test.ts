import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { callWorker, sharedAdmin } from "./admin-helpers";
import { freshIp, freshPhone, rateLimit } from "./helpers";
import { freezeClock } from "./otp-helpers";
import { SoftAuthenticator } from "./passkey-authenticator";

// Storage round trips are the latency of an edge API. These budgets are counted, not timed:
// the bindings are wrapped so every D1 round trip (a statement or a batch) and KV call is seen.

const counts = { d1: 0, kv: 0 };
let deferredWrites = 0;
const realStatement = new WeakMap<object, D1PreparedStatement>();
const queryOf = new WeakMap<object, string>();
// The delivery record of a send (its attempts, the hourly counters, the fraud guard's judgement)
// is written after the answer (waitUntil), in one batch that opens with the attempts. It is counted
// apart, and held until the test releases it: the answer arriving while it is held proves the
// request path does not wait for it.
const ATTEMPTS_WRITE = /^\s*INSERT INTO delivery_attempts/;
let releaseDeferred: () => void = () => {};
let deferredGate = Promise.resolve();

/** Counts one D1 round trip, then makes it. */
function roundTrip<T>(run: () => T): T {
  counts.d1++;
  return run();
}

function countedStatement(statement: D1PreparedStatement, query: string): D1PreparedStatement {
  const counted = {
    bind: (...values: unknown[]) => countedStatement(statement.bind(...values), query),
    all: () => roundTrip(() => statement.all()),
    run: () => roundTrip(() => statement.run()),
    first: (column?: string) => roundTrip(() => (column ? statement.first(column) : statement.first())),
    raw: (options?: { columnNames?: boolean }) => roundTrip(() => statement.raw(options as { columnNames: true })),
  } as unknown as D1PreparedStatement;
  realStatement.set(counted, statement);
  queryOf.set(counted, query);
  return counted;
}

const countedDb: D1Database = {
  prepare: (query: string) => countedStatement(env.DB.prepare(query), query),
  batch: async (statements: D1PreparedStatement[]) => {
    if (ATTEMPTS_WRITE.test(queryOf.get(statements[0] as object) ?? "")) {
      deferredWrites++;
      await deferredGate;
    } else {
      counts.d1++;
    }
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

/** Calls the Worker and waits for its work after the response too (audit, KV marks), which counts. */
async function call(method: string, path: string, body?: unknown, token?: string, ip = freshIp()) {
  const headers: Record<string, string> = { "CF-Connecting-IP": ip };
  if (body) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const request = new Request(`http://api.test${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const ctx = createExecutionContext();
  const response = await worker.fetch(request, countedEnv, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

const GOOD_PASSWORD = "correct horse battery staple";

/** A new account (signed in by code) with the password GOOD_PASSWORD: its phone. */
async function userWithPassword() {
  const phone = freshPhone();
  const sent = (await (await call("POST", "/v1/auth/otp", { phone })).json()) as { dev_code: string };
  const user = (await (await call("POST", "/v1/auth/otp/verify", { phone, code: sent.dev_code })).json()) as { access_token: string };
  expect((await call("PUT", "/v1/me/password", { new_password: GOOD_PASSWORD }, user.access_token)).status).toBe(204);
  return phone;
}

const FRESH_PASSWORD = "a brand new passphrase 2026";

/** Resets `phone`'s password to FRESH_PASSWORD by SMS, 61 s on (past the login code's cooldown). */
async function resetBySms(phone: string, from = Date.now()) {
  freezeClock(from + 61_000);
  const resetCode = (await (await call("POST", "/v1/auth/otp", { phone, purpose: "reset_password" })).json()) as { dev_code: string };
  expect((await call("POST", "/v1/auth/password/reset", { phone, code: resetCode.dev_code, new_password: FRESH_PASSWORD })).status).toBe(
    200,
  );
}

afterEach(() => {
  vi.useRealTimers();
});

beforeEach(() => {
  counts.d1 = 0;
  counts.kv = 0;
  deferredWrites = 0;
});

describe("storage round-trip budgets", () => {
  it("send code: 1 D1 round trip (IP windows, phone gate, code, audit in one batch) and 3 KV operations; the attempts are written after the answer, in 1 more", async () => {
    deferredGate = new Promise((resolve) => {
      releaseDeferred = resolve;
    });
    const ctx = createExecutionContext();
    const phone = freshPhone();
    const request = new Request("http://api.test/v1/auth/otp", {
      method: "POST",
      headers: { "CF-Connecting-IP": freshIp(), "Content-Type": "application/json" },
      body: JSON.stringify({ phone }),
    });
    const response = await worker.fetch(request, countedEnv, ctx);
    expect(response.status).toBe(200);
    expect(counts.d1).toBeLessThanOrEqual(1);
    expect(counts.kv).toBeLessThanOrEqual(3);
    releaseDeferred();
    await waitOnExecutionContext(ctx);
    expect(deferredWrites).toBe(1);
    // KV: one bulk read of the edge marks, the code's own key, then the latest-code key after the answer.
    expect(counts).toEqual({ d1: 1, kv: 3 });
  });

  it("send code for change_phone: still 1 D1 round trip (the caller's session is checked in the same batch)", async () => {
    const phone = freshPhone();
    const sent = (await (await call("POST", "/v1/auth/otp", { phone })).json()) as { dev_code: string };
    const tokens = (await (await call("POST", "/v1/auth/otp/verify", { phone, code: sent.dev_code })).json()) as { access_token: string };
    counts.d1 = 0;
    const response = await call("POST", "/v1/auth/otp", { phone: freshPhone(), purpose: "change_phone" }, tokens.access_token);
    expect(response.status).toBe(200);
    // (The delivery attempts' write after the answer is counted apart, as in the send test above.)
    expect(counts.d1).toBe(1);
  });

  it("verify (first sign-in): 1 D1 round trip and 1 KV read", async () => {
    const phone = freshPhone();
    const sent = (await (await call("POST", "/v1/auth/otp", { phone })).json()) as { dev_code: string };
    counts.d1 = 0;
    counts.kv = 0;
    const response = await call("POST", "/v1/auth/otp/verify", { phone, code: sent.dev_code });
    expect(response.status).toBe(200);
    expect(counts).toEqual({ d1: 1, kv: 1 });
  });

  it("verify (first sign-in with an invite code): still 1 D1 round trip", async () => {
    const inviterPhone = freshPhone();
    const inviterCode = (await (await call("POST", "/v1/auth/otp", { phone: inviterPhone })).json()) as { dev_code: string };
    const inviter = (await (await call("POST", "/v1/auth/otp/verify", { phone: inviterPhone, code: inviterCode.dev_code })).json()) as {
      user: { invite_code: string };
    };
    const phone = freshPhone();
    const sent = (await (await call("POST", "/v1/auth/otp", { phone })).json()) as { dev_code: string };
    counts.d1 = 0;
    const response = await call("POST", "/v1/auth/otp/verify", { phone, code: sent.dev_code, invite_code: inviter.user.invite_code });
    expect(response.status).toBe(200);
    expect(counts.d1).toBe(1);
  });

  it("a wrong guess: 1 D1 round trip", async () => {
    const phone = freshPhone();
    const sent = (await (await call("POST", "/v1/auth/otp", { phone })).json()) as { dev_code: string };
    counts.d1 = 0;
    const wrong = sent.dev_code === "000000" ? "000001" : "000000";
    expect((await call("POST", "/v1/auth/otp/verify", { phone, code: wrong })).status).toBe(400);
    expect(counts.d1).toBe(1);
  });

  it("a send or a guess from a tripped IP: 0 D1 round trips (refused from the KV edge copy)", async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) expect((await call("POST", "/v1/auth/otp", { phone: freshPhone() }, undefined, ip)).status).toBe(200);
    counts.d1 = 0;
    expect((await call("POST", "/v1/auth/otp", { phone: freshPhone() }, undefined, ip)).status).toBe(429);
    expect(counts.d1).toBe(0);

    const guesser = freshIp();
    for (let i = 0; i < 10; i++) {
      expect((await call("POST", "/v1/auth/otp/verify", { phone: freshPhone(), code: "123456" }, undefined, guesser)).status).toBe(400);
    }
    counts.d1 = 0;
    expect((await call("POST", "/v1/auth/otp/verify", { phone: freshPhone(), code: "123456" }, undefined, guesser)).status).toBe(429);
    expect(counts.d1).toBe(0);
  });

  it("a password login for a locked phone: 0 D1 round trips (the lock's KV edge copy); a reset by SMS takes the copy off", async () => {
    const phone = await userWithPassword();
    for (let i = 0; i < 5; i++) {
      expect((await call("POST", "/v1/auth/password/login", { phone, password: `wrong passphrase ${i} here` })).status).toBe(401);
    }
    const mark = (await env.KV.get(`edge:phone:${phone}`, "json")) as { password_lock?: { until: number; limit: number } } | null;
    expect(mark?.password_lock?.limit).toBe(5);
    expect((mark?.password_lock?.until ?? 0) - Date.now()).toBeGreaterThan(890_000);
    counts.d1 = 0;
    const refused = await call("POST", "/v1/auth/password/login", { phone, password: GOOD_PASSWORD });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { code: string }).code).toBe("too_many_attempts");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(890);
    expect(rateLimit(refused)).toEqual({ limit: "5", remaining: "0", reset: refused.headers.get("Retry-After") });
    expect(counts.d1).toBe(0);

    // Past the login code's cooldown (the lock and its copy have 14 minutes to go).
    await resetBySms(phone);
    expect(((await env.KV.get(`edge:phone:${phone}`, "json")) as { password_lock?: unknown } | null)?.password_lock).toBeUndefined();
    expect((await call("POST", "/v1/auth/password/login", { phone, password: FRESH_PASSWORD })).status).toBe(200);
  });

  it("a password window full of failures but no lock in D1 refuses without an edge copy; a reset keeps the phone's other marks", async () => {
    const phone = await userWithPassword();
    // Five failures in the window with no lock written (as while right passwords in flight are
    // yet to give theirs back): refused by D1, and nothing copied to the edge.
    const now = Date.now();
    await env.DB.batch(
      Array.from({ length: 5 }, (_, i) =>
        env.DB.prepare("INSERT INTO rate_events (scope, key, at, marker) VALUES ('password_fail', ?, ?, ?)").bind(
          phone,
          now - 1000 + i,
          `m${i}`,
        ),
      ),
    );
    const refused = await call("POST", "/v1/auth/password/login", { phone, password: GOOD_PASSWORD });
    expect(refused.status).toBe(429);
    // Refused until the oldest failure slides out of the 15 minutes, as both headers say.
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(890);
    expect(rateLimit(refused)).toMatchObject({ remaining: "0", reset: refused.headers.get("Retry-After") });
    expect(((await env.KV.get(`edge:phone:${phone}`, "json")) as { password_lock?: unknown } | null)?.password_lock).toBeUndefined();

    // A password lock beside a send window mark: the reset lifts the lock's copy only.
    const until = now + 600_000;
    await env.KV.put(
      `edge:phone:${phone}`,
      JSON.stringify({ password_lock: { until, limit: 5 }, send_phone: { until, limit: 5, from: until - 1000 } }),
      { expirationTtl: 600 },
    );
    await resetBySms(phone, now);
    expect(await env.KV.get(`edge:phone:${phone}`, "json")).toEqual({ send_phone: { until, limit: 5, from: until - 1000 } });
  });

  it("verify with a webhook endpoint subscribed: still 1 D1 round trip (the outbox rows ride in the sign-in batch)", async () => {
    const admin = await sharedAdmin();
    const created = await callWorker("POST", "/v1/admin/webhooks", {
      token: admin.access_token,
      body: { url: "https://receiver.test/budget", event_types: ["user.created", "user.signed_in"] },
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    try {
      const phone = freshPhone();
      const sent = (await (await call("POST", "/v1/auth/otp", { phone })).json()) as { dev_code: string };
      counts.d1 = 0;
      const response = await call("POST", "/v1/auth/otp/verify", { phone, code: sent.dev_code });
      expect(response.status).toBe(200);
      expect(counts.d1).toBe(1);
      const { user } = (await response.json()) as { user: { id: string } };
      const events = await env.DB.prepare("SELECT type FROM webhook_events WHERE json_extract(payload, '$.data.user_id') = ?")
        .bind(user.id)
        .all();
      expect(events.results.map((event) => event.type).sort()).toEqual(["user.created", "user.signed_in"]);
    } finally {
      await env.DB.prepare("UPDATE webhook_endpoints SET enabled = 0 WHERE id = ?").bind(id).run();
    }
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

  it("passkey sign-in: options 2 D1 round trips (the per-IP window, the challenge), verify 3 (the window; read the credential; consume, counter, session), 1 KV each", async () => {
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
    expect(counts).toEqual({ d1: 2, kv: 1 });
    counts.d1 = 0;
    counts.kv = 0;
    const response = await call("POST", "/v1/auth/passkey/verify", { response: await authenticator.assert(options, creation.user.id) });
    expect(response.status).toBe(200);
    expect(counts).toEqual({ d1: 3, kv: 1 });
  });
});
