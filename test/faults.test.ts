import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { call, freshIp, freshPhone, row, sendCode, signIn, type TokenBody } from "./helpers";
import { advance, guardColumns } from "./otp-helpers";
import { SoftAuthenticator } from "./passkey-authenticator";

// Fault injection (issue #10): the D1 and KV bindings are wrapped so that one chosen call throws
// or never answers. Every route must then answer 503 service_unavailable with Retry-After (or,
// where the failing call is only a best-effort one, succeed), write nothing partial, and work
// again on the next request.

type Dependency = "db" | "kv";
type Fault = { dependency: Dependency; at: number; mode: "throw" | "hang" };

/** Counts storage calls and breaks the one the fault names. */
class Injector {
  calls: Record<Dependency, number> = { db: 0, kv: 0 };
  constructor(readonly fault: Fault | null) {}

  hit<T>(dependency: Dependency, run: () => Promise<T>): Promise<T> {
    this.calls[dependency] += 1;
    if (this.fault?.dependency === dependency && this.fault.at === this.calls[dependency]) {
      if (this.fault.mode === "hang") return new Promise<T>(() => {});
      return Promise.reject(
        new Error(dependency === "db" ? "D1_ERROR: Network connection lost." : "KV GET failed: 503 Service Unavailable"),
      );
    }
    return run();
  }
}

const real = Symbol("real statement");
type Wrapped = D1PreparedStatement & { [real]: D1PreparedStatement };

function wrapStatement(statement: D1PreparedStatement, injector: Injector): Wrapped {
  return {
    [real]: statement,
    bind: (...values: unknown[]) => wrapStatement(statement.bind(...values), injector),
    all: () => injector.hit("db", () => statement.all()),
    first: (column?: string) => injector.hit("db", () => (column ? statement.first(column) : statement.first())),
    run: () => injector.hit("db", () => statement.run()),
    raw: () => injector.hit("db", () => statement.raw()),
  } as unknown as Wrapped;
}

function wrapSession(session: D1Database | D1DatabaseSession, injector: Injector) {
  return {
    prepare: (query: string) => wrapStatement(session.prepare(query), injector),
    batch: (statements: Wrapped[]) => injector.hit("db", () => session.batch(statements.map((s) => s[real]))),
    getBookmark: () => ("getBookmark" in session ? session.getBookmark() : null),
  };
}

function faultyEnv(injector: Injector) {
  const db = {
    ...wrapSession(env.DB, injector),
    withSession: (anchor?: string) => wrapSession(env.DB.withSession(anchor as "first-primary"), injector),
  };
  const kv = {
    get: (key: string, type?: unknown) => injector.hit("kv", () => env.KV.get(key, type as "text")),
    put: (key: string, value: string, options?: KVNamespacePutOptions) => injector.hit("kv", () => env.KV.put(key, value, options)),
    delete: (key: string) => injector.hit("kv", () => env.KV.delete(key)),
  };
  // A short deadline so a hanging call fails the request quickly.
  return { ...env, DB: db, KV: kv, STORAGE_TIMEOUT_MS: "150" } as unknown as typeof env;
}

type Request_ = { method: string; path: string; body?: unknown; token?: string; ip: string };

async function send(target: typeof env, request: Request_) {
  const headers: Record<string, string> = { "CF-Connecting-IP": request.ip };
  if (request.token) headers.Authorization = `Bearer ${request.token}`;
  if (request.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await worker.fetch(
    new Request(`http://api.test${request.path}`, {
      method: request.method,
      headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
    }),
    target,
    createExecutionContext(),
  );
  return {
    status: response.status,
    type: response.headers.get("Content-Type"),
    retryAfter: response.headers.get("Retry-After"),
    body: await response.text(),
  };
}

type Scenario = {
  name: string;
  /** Fresh state for one run: returns the request to break and how to check what is stored. */
  setup: () => Promise<{ request: Request_; ok: number; invariant: (succeeded: boolean) => Promise<void> }>;
};

const scenarios: Scenario[] = [
  {
    name: "POST /v1/auth/otp",
    async setup() {
      const phone = freshPhone();
      return {
        request: { method: "POST", path: "/v1/auth/otp", body: { phone }, ip: freshIp() },
        ok: 200,
        async invariant(succeeded) {
          // A failed send records nothing (no code, no cooldown), so the retry goes through.
          const challenge = await row("SELECT code_id FROM otp_challenges WHERE phone = ?", phone);
          expect(Boolean(challenge)).toBe(succeeded);
        },
      };
    },
  },
  {
    name: "POST /v1/auth/otp/verify (first sign-in)",
    async setup() {
      const phone = freshPhone();
      const code = await sendCode(phone);
      return {
        request: { method: "POST", path: "/v1/auth/otp/verify", body: { phone, code }, ip: freshIp() },
        ok: 200,
        async invariant() {
          const user = await row<{ id: string }>("SELECT id FROM users WHERE phone = ?", phone);
          const challenge = await row<{ consumed_at: number | null; attempts: number }>(
            "SELECT consumed_at, attempts FROM otp_challenges WHERE phone = ? AND purpose = 'login'",
            phone,
          );
          const sessions = await row<{ n: number }>(
            "SELECT COUNT(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.phone = ?",
            phone,
          );
          // All or nothing: a user exists exactly when the code was consumed and a session opened.
          expect(Boolean(user)).toBe(challenge?.consumed_at != null);
          expect(sessions?.n ?? 0).toBe(user ? 1 : 0);
          // A failed attempt is not charged to the guesser.
          if (!user) expect(challenge?.attempts).toBe(0);
        },
      };
    },
  },
  {
    name: "GET /v1/me",
    async setup() {
      const tokens = await signIn();
      return { request: { method: "GET", path: "/v1/me", token: tokens.access_token, ip: freshIp() }, ok: 200, invariant: async () => {} };
    },
  },
  {
    name: "POST /v1/auth/token",
    async setup() {
      const tokens = await signIn();
      return {
        request: { method: "POST", path: "/v1/auth/token", body: { refresh_token: tokens.refresh_token }, ip: freshIp() },
        ok: 200,
        async invariant() {
          const live = await row<{ n: number }>(
            "SELECT COUNT(*) AS n FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.user_id = ? AND t.rotated_at IS NULL",
            tokens.user.id,
          );
          // Exactly one current refresh token: the old one, or its replacement, never both or none.
          expect(live?.n).toBe(1);
        },
      };
    },
  },
  {
    name: "POST /v1/me/invite",
    async setup() {
      const inviter = await signIn();
      const invitee = await signIn();
      return {
        request: {
          method: "POST",
          path: "/v1/me/invite",
          token: invitee.access_token,
          body: { invite_code: inviter.user.invite_code },
          ip: freshIp(),
        },
        ok: 200,
        async invariant() {
          const activated = await row<{ activated_invite_code: string | null }>(
            "SELECT activated_invite_code FROM users WHERE id = ?",
            invitee.user.id,
          );
          const counts = await row<{ referrals_count: number; points: number }>(
            "SELECT referrals_count, points FROM users WHERE id = ?",
            inviter.user.id,
          );
          const referrals = await row<{ n: number }>("SELECT COUNT(*) AS n FROM referrals WHERE inviter_id = ?", inviter.user.id);
          const done = activated?.activated_invite_code != null;
          expect(counts).toEqual({ referrals_count: done ? 1 : 0, points: done ? 100 : 0 });
          expect(referrals?.n).toBe(done ? 1 : 0);
        },
      };
    },
  },
  {
    name: "PUT /v1/me/password",
    async setup() {
      const tokens = await signIn();
      return {
        request: {
          method: "PUT",
          path: "/v1/me/password",
          token: tokens.access_token,
          body: { new_password: "a long enough passphrase 42" },
          ip: freshIp(),
        },
        ok: 204,
        invariant: async () => {},
      };
    },
  },
  {
    name: "POST /v1/auth/password/login",
    async setup() {
      const tokens = await signIn();
      const password = "a long enough passphrase 42";
      const set = await call("PUT", "/v1/me/password", { token: tokens.access_token, body: { new_password: password } });
      expect(set.status).toBe(204);
      return {
        request: { method: "POST", path: "/v1/auth/password/login", body: { phone: tokens.user.phone, password }, ip: freshIp() },
        ok: 200,
        async invariant() {
          const guard = await guardColumns<{ pw_fail_count: number | null }>(["pw_fail_count"], tokens.user.phone);
          // A right password is never charged as a failure, even when the sign-in failed on D1.
          expect(guard?.pw_fail_count ?? 0).toBe(0);
        },
      };
    },
  },
  {
    name: "DELETE /v1/me",
    async setup() {
      const tokens: TokenBody = await signIn();
      return {
        request: { method: "DELETE", path: "/v1/me", token: tokens.access_token, ip: freshIp() },
        ok: 204,
        async invariant() {
          const user = await row("SELECT id FROM users WHERE id = ?", tokens.user.id);
          const sessions = await row<{ n: number }>("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?", tokens.user.id);
          if (!user) expect(sessions?.n).toBe(0);
        },
      };
    },
  },
  {
    name: "POST /v1/auth/password/reset",
    async setup() {
      const tokens = await signIn();
      const phone = tokens.user.phone;
      const set = await call("PUT", "/v1/me/password", {
        token: tokens.access_token,
        body: { new_password: "a long enough passphrase 42" },
      });
      expect(set.status).toBe(204);
      advance(61_000); // past the sign-in code's resend cooldown
      const code = await sendCode(phone, { purpose: "reset_password" });
      return {
        request: {
          method: "POST",
          path: "/v1/auth/password/reset",
          body: { phone, code, new_password: "another long passphrase 43" },
          ip: freshIp(),
        },
        ok: 200,
        async invariant(succeeded) {
          const challenge = await row<{ consumed_at: number | null; attempts: number }>(
            "SELECT consumed_at, attempts FROM otp_challenges WHERE phone = ? AND purpose = 'reset_password'",
            phone,
          );
          expect(challenge?.consumed_at != null).toBe(succeeded);
          // A reset that failed on storage is not charged to the guesser: the same code works next.
          if (!succeeded) expect(challenge?.attempts).toBe(0);
        },
      };
    },
  },
  {
    name: "POST /v1/me/phone",
    async setup() {
      const tokens = await signIn();
      const target = freshPhone();
      const sent = await call("POST", "/v1/auth/otp", { token: tokens.access_token, body: { phone: target, purpose: "change_phone" } });
      expect(sent.status).toBe(200);
      const { dev_code: code } = (await sent.json()) as { dev_code: string };
      return {
        request: { method: "POST", path: "/v1/me/phone", token: tokens.access_token, body: { phone: target, code }, ip: freshIp() },
        ok: 200,
        async invariant(succeeded) {
          const user = await row<{ phone: string }>("SELECT phone FROM users WHERE id = ?", tokens.user.id);
          expect(user?.phone === target).toBe(succeeded);
          if (!succeeded) {
            const challenge = await row<{ attempts: number }>(
              "SELECT attempts FROM otp_challenges WHERE phone = ? AND purpose = 'change_phone'",
              target,
            );
            expect(challenge?.attempts).toBe(0);
          }
        },
      };
    },
  },
  {
    name: "POST /users/verify-code/ (compatibility API)",
    async setup() {
      const phone = freshPhone();
      const code = await sendCode(phone);
      return {
        request: { method: "POST", path: "/users/verify-code/", body: { phone_number: phone, verification_code: code }, ip: freshIp() },
        ok: 200,
        async invariant() {
          const user = await row("SELECT id FROM users WHERE phone = ?", phone);
          const challenge = await row<{ consumed_at: number | null }>(
            "SELECT consumed_at FROM otp_challenges WHERE phone = ? AND purpose = 'login'",
            phone,
          );
          expect(Boolean(user)).toBe(challenge?.consumed_at != null);
        },
      };
    },
  },
  {
    name: "POST /v1/auth/passkey/verify",
    async setup() {
      const tokens = await signIn();
      const authenticator = await SoftAuthenticator.create("auth.test", "https://auth.test");
      const creation = (await (await call("POST", "/v1/me/passkeys/options", { token: tokens.access_token })).json()) as {
        challenge: string;
        user: { id: string };
      };
      const response = await authenticator.register(creation);
      expect((await call("POST", "/v1/me/passkeys", { token: tokens.access_token, body: { response } })).status).toBe(201);
      const options = (await (await call("POST", "/v1/auth/passkey/options")).json()) as { challenge: string };
      const assertion = await authenticator.assert(options, creation.user.id);
      return {
        request: { method: "POST", path: "/v1/auth/passkey/verify", body: { response: assertion }, ip: freshIp() },
        ok: 200,
        async invariant(succeeded) {
          const challenge = await row<{ consumed_at: number | null }>(
            "SELECT consumed_at FROM passkey_challenges WHERE challenge = ?",
            options.challenge,
          );
          const sessions = await row<{ n: number }>("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?", tokens.user.id);
          // All or nothing: the challenge is spent exactly when the passkey's session exists.
          expect(challenge?.consumed_at != null).toBe(succeeded);
          expect(sessions?.n).toBe(succeeded ? 2 : 1);
        },
      };
    },
  },
];

beforeEach(() => {
  vi.spyOn(console, "error").mockImplementation(() => {});
  vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("fault injection: each D1 and KV call of each route fails in turn", () => {
  for (const scenario of scenarios) {
    it(`${scenario.name}: 503 with Retry-After or success, nothing partial, then recovery`, async () => {
      // How many calls does the route make when healthy?
      const probe = new Injector(null);
      const first = await scenario.setup();
      const healthy = await send(faultyEnv(probe), first.request);
      expect(healthy.status, healthy.body).toBe(first.ok);
      let broken = 0;
      for (const dependency of ["db", "kv"] as const) {
        for (let at = 1; at <= probe.calls[dependency]; at++) {
          for (const mode of ["throw", "hang"] as const) {
            const { request, ok, invariant } = await scenario.setup();
            const answer = await send(faultyEnv(new Injector({ dependency, at, mode })), request);
            const label = `${dependency} call ${at} ${mode}: ${answer.status} ${answer.body}`;
            if (answer.status === ok) {
              await invariant(true);
              continue;
            }
            broken += 1;
            expect(answer.status, label).toBe(503);
            if (request.path.startsWith("/users/")) {
              // The old API's envelope: `{ "error" }`, same status and header.
              expect(answer.type, label).toMatch(/^application\/json/);
              expect(Object.keys(JSON.parse(answer.body)), label).toEqual(["error"]);
            } else {
              expect(answer.type, label).toBe("application/problem+json");
              expect(JSON.parse(answer.body).code, label).toBe("service_unavailable");
            }
            expect(Number(answer.retryAfter), label).toBeGreaterThan(0);
            await invariant(false);
            // Recovery: the very same request on healthy storage.
            const retried = await send(env, { ...request, ip: freshIp() });
            expect(retried.status, `${label}, then retry: ${retried.body}`).toBe(ok);
            await invariant(true);
          }
        }
      }
      // Every route has calls whose failure must be visible.
      expect(broken).toBeGreaterThan(0);
    }, 60_000); // dozens of requests per route (password hashing included) on a shared machine
  }
});

describe("GET /health under faults", () => {
  it("names the failing dependency, including one that hangs", async () => {
    for (const [dependency, mode] of [
      ["db", "throw"],
      ["kv", "hang"],
    ] as const) {
      const answer = await send(faultyEnv(new Injector({ dependency, at: 1, mode })), { method: "GET", path: "/health", ip: freshIp() });
      expect(answer.status).toBe(503);
      const body = JSON.parse(answer.body);
      expect(body.code).toBe("service_unavailable");
      expect(body.checks).toEqual(dependency === "db" ? { db: "fail", kv: "ok" } : { db: "ok", kv: "fail" });
    }
    const healthy = await send(faultyEnv(new Injector(null)), { method: "GET", path: "/health", ip: freshIp() });
    expect(healthy.status).toBe(200);
  });
});
