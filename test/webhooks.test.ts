import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { ADMIN_ENV, callWorker, sharedAdmin } from "./admin-helpers";
import { expectProblem, freshPhone, row, sendCode, type TokenBody, wrongCode } from "./helpers";
import { advance, CRON, freezeClock, runCron, SECOND, variantEnv } from "./otp-helpers";
import { SoftAuthenticator } from "./passkey-authenticator";

// Webhooks through the real Worker and Miniflare's Queue: the outbox row is written in the batch
// of the change, the producer hands it to the Queue after the answer, the consumer (this Worker's
// `queue` handler) delivers it. Receivers are a mocked `fetch` at their URL; signatures are checked
// with the `standardwebhooks` package, a client nobody here wrote.

type Received = { url: string; headers: Record<string, string>; body: string };

let received: Received[] = [];
let answer: (request: Received) => Promise<Response> = async () => new Response(null, { status: 204 });
const realFetch = globalThis.fetch;

beforeEach(() => {
  received = [];
  answer = async () => new Response(null, { status: 204 });
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    if (!request.url.startsWith("https://receiver.test/")) return realFetch(input as RequestInfo, init);
    const got = { url: request.url, headers: Object.fromEntries(request.headers), body: await request.text() };
    received.push(got);
    return answer(got);
  });
});

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  // Endpoints subscribe to every later event: each test leaves none behind.
  await env.DB.prepare("UPDATE webhook_endpoints SET enabled = 0").run();
});

let endpointCounter = 0;

async function createEndpoint(admin: TokenBody, body: Record<string, unknown> = {}) {
  endpointCounter += 1;
  const response = await callWorker("POST", "/v1/admin/webhooks", {
    token: admin.access_token,
    body: { url: `https://receiver.test/hooks/${endpointCounter}`, event_types: ["*"], ...body },
  });
  const created = (await response.json()) as { id: string; url: string; secret: string; event_types: string[] };
  expect(response.status, JSON.stringify(created)).toBe(201);
  return created;
}

/** Signs a phone up through ADMIN_ENV's Worker (the producer runs after the answer). */
async function signUp(phone = freshPhone()): Promise<TokenBody> {
  const code = await sendCode(phone);
  const response = await callWorker("POST", "/v1/auth/otp/verify", { body: { phone, code } });
  const body = (await response.json()) as TokenBody;
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body;
}

const bodyOf = (delivery: Received) => JSON.parse(delivery.body) as { type: string; timestamp: string; data: Record<string, unknown> };
const toEndpoint = (endpoint: { url: string }) => received.filter((delivery) => delivery.url === endpoint.url);
const eventsOf = async (type: string, userId: string) =>
  (
    await env.DB.prepare("SELECT id, payload FROM webhook_events WHERE type = ? AND json_extract(payload, '$.data.user_id') = ?")
      .bind(type, userId)
      .all<{ id: string; payload: string }>()
  ).results;

/** Runs the Queue consumer on one message, as Miniflare would, and returns what it decided. */
async function consume(eventId: string) {
  const batch = createMessageBatch("phone-auth-edge-webhooks", [
    { id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body: { event_id: eventId } },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch as never, env, ctx);
  return getQueueResult(batch, ctx);
}

describe("events and their delivery", () => {
  it("a sign-up is delivered as user.created and user.signed_in, signed so the standardwebhooks package verifies it", async () => {
    const admin = await sharedAdmin();
    const endpoint = await createEndpoint(admin);
    const user = await signUp();
    await vi.waitFor(
      () =>
        expect(
          toEndpoint(endpoint)
            .map((delivery) => bodyOf(delivery).type)
            .sort(),
        ).toEqual(["user.created", "user.signed_in"]),
      {
        timeout: 10_000,
      },
    );
    const receiver = new Webhook(endpoint.secret);
    for (const delivery of toEndpoint(endpoint)) {
      const verified = receiver.verify(delivery.body, delivery.headers) as { data: { user_id: string; phone: string } };
      expect(verified.data).toMatchObject({ user_id: user.user.id, phone: user.user.phone });
      expect(delivery.headers["webhook-id"]).toMatch(/^msg_/);
    }
    // A tampered body fails the same verification.
    const first = toEndpoint(endpoint)[0] as Received;
    expect(() => receiver.verify(first.body.replace(user.user.id, "someone-else"), first.headers)).toThrow();
  });

  it("each event type fires once for its change and never for a refused one", async () => {
    const admin = await sharedAdmin();
    await createEndpoint(admin);
    const phone = freshPhone();
    // Refused: a wrong code creates nobody and writes no event.
    const code = await sendCode(phone);
    await expectProblem(await callWorker("POST", "/v1/auth/otp/verify", { body: { phone, code: wrongCode(code) } }), 400, "invalid_code");
    expect(await row("SELECT COUNT(*) AS n FROM webhook_events WHERE json_extract(payload, '$.data.phone') = ?", phone)).toEqual({ n: 0 });

    const user = (await (await callWorker("POST", "/v1/auth/otp/verify", { body: { phone, code } })).json()) as TokenBody;
    const token = user.access_token;
    expect((await callWorker("PATCH", "/v1/me", { token, body: { first_name: "Ada" } })).status).toBe(200);
    const set = await callWorker("PUT", "/v1/me/password", { token, body: { new_password: "a long enough new password" } });
    expect(set.status, await set.clone().text()).toBe(204);
    const inviter = await signUp();
    expect((await callWorker("POST", "/v1/me/invite", { token, body: { invite_code: inviter.user.invite_code } })).status).toBe(200);
    expect(
      (await callWorker("PATCH", `/v1/admin/users/${user.user.id}`, { token: admin.access_token, body: { is_active: false } })).status,
    ).toBe(200);
    expect(
      (await callWorker("PATCH", `/v1/admin/users/${user.user.id}`, { token: admin.access_token, body: { is_active: false } })).status,
    ).toBe(200);
    expect(
      (await callWorker("PATCH", `/v1/admin/users/${user.user.id}`, { token: admin.access_token, body: { is_active: true } })).status,
    ).toBe(200);

    for (const type of ["user.created", "user.signed_in", "user.updated", "password.changed", "user.deactivated", "user.reactivated"]) {
      expect(await eventsOf(type, user.user.id), type).toHaveLength(1);
    }
    // Deactivation revoked the session: one session.revoked event.
    expect(await eventsOf("session.revoked", user.user.id)).toHaveLength(1);
    const referral = await env.DB.prepare(
      "SELECT payload FROM webhook_events WHERE type = 'referral.activated' AND json_extract(payload, '$.data.invitee_id') = ?",
    )
      .bind(user.user.id)
      .all<{ payload: string }>();
    expect(referral.results).toHaveLength(1);
    expect(JSON.parse(referral.results[0]?.payload ?? "{}").data).toEqual({
      inviter_id: inviter.user.id,
      invitee_id: user.user.id,
      level_2_inviter_id: null,
      points: 100,
    });
  });

  it("passkey.added fires once, in the batch that stores the passkey", async () => {
    const admin = await sharedAdmin();
    await createEndpoint(admin, { event_types: ["passkey.added"] });
    const user = await signUp();
    const authenticator = await SoftAuthenticator.create("auth.test", "https://auth.test");
    const options = await callWorker("POST", "/v1/me/passkeys/options", { token: user.access_token });
    const creation = (await options.json()) as { challenge: string; user: { id: string } };
    const added = await callWorker("POST", "/v1/me/passkeys", {
      token: user.access_token,
      body: { response: await authenticator.register(creation) },
    });
    expect(added.status).toBe(201);
    const { id } = (await added.json()) as { id: string };
    const events = await eventsOf("passkey.added", user.user.id);
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]?.payload ?? "{}").data).toEqual({ user_id: user.user.id, phone: user.user.phone, passkey_id: id });
  });

  it("an endpoint whose secret no longer opens fails alone, as an attempt, while the others get the event", async () => {
    const admin = await sharedAdmin();
    const broken = await createEndpoint(admin, { event_types: ["user.created"] });
    const healthy = await createEndpoint(admin, { event_types: ["user.created"] });
    // As if PASSWORD_PEPPER had changed since the secret was sealed.
    await env.DB.prepare("UPDATE webhook_endpoints SET secret = 'AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' WHERE id = ?")
      .bind(broken.id)
      .run();
    const user = await signUp();
    const [event] = await eventsOf("user.created", user.user.id);
    await vi.waitFor(() => expect(toEndpoint(healthy)).toHaveLength(1), { timeout: 10_000 });
    await vi.waitFor(async () =>
      expect(
        await row(
          "SELECT status, attempts, last_error FROM webhook_deliveries WHERE event_id = ? AND endpoint_id = ?",
          event?.id,
          broken.id,
        ),
      ).toMatchObject({ status: "pending", attempts: 1, last_error: expect.stringContaining("secret unreadable") }),
    );
    expect(toEndpoint(broken)).toHaveLength(0);
  });

  it("a passkey sign-in fires user.signed_in with method passkey", async () => {
    const admin = await sharedAdmin();
    await createEndpoint(admin, { event_types: ["user.signed_in"] });
    const user = await signUp();
    const authenticator = await SoftAuthenticator.create("auth.test", "https://auth.test");
    const creation = (await (await callWorker("POST", "/v1/me/passkeys/options", { token: user.access_token })).json()) as {
      challenge: string;
      user: { id: string };
    };
    const body = { response: await authenticator.register(creation) };
    expect((await callWorker("POST", "/v1/me/passkeys", { token: user.access_token, body })).status).toBe(201);
    const options = (await (await callWorker("POST", "/v1/auth/passkey/options")).json()) as { challenge: string };
    const signedIn = await callWorker("POST", "/v1/auth/passkey/verify", {
      body: { response: await authenticator.assert(options, creation.user.id) },
    });
    expect(signedIn.status).toBe(200);
    const methods = (await eventsOf("user.signed_in", user.user.id)).map((event) => JSON.parse(event.payload).data.method);
    expect(methods).toContain("passkey");
  });

  it("logout, a phone change and an account deletion fire session.revoked, phone.changed and user.deleted with their data", async () => {
    const admin = await sharedAdmin();
    await createEndpoint(admin, { event_types: ["session.revoked", "phone.changed", "user.deleted"] });
    const user = await signUp();
    // Logout of one session.
    expect((await callWorker("POST", "/v1/auth/logout", { body: { refresh_token: user.refresh_token } })).status).toBe(204);
    const [revoked] = await eventsOf("session.revoked", user.user.id);
    expect(JSON.parse(revoked?.payload ?? "{}").data).toMatchObject({ user_id: user.user.id, reason: "logout" });
    // A phone change, with a fresh session (the first one is gone).
    freezeClock();
    advance(61 * SECOND);
    const fresh = await signUp(user.user.phone);
    const target = freshPhone();
    const sent = (await (
      await callWorker("POST", "/v1/auth/otp", { token: fresh.access_token, body: { phone: target, purpose: "change_phone" } })
    ).json()) as { dev_code: string };
    const moved = await callWorker("POST", "/v1/me/phone", { token: fresh.access_token, body: { phone: target, code: sent.dev_code } });
    expect(moved.status).toBe(200);
    const [changed] = await eventsOf("phone.changed", user.user.id);
    expect(JSON.parse(changed?.payload ?? "{}").data).toEqual({ user_id: user.user.id, phone: target, previous_phone: user.user.phone });
    // Deletion.
    expect((await callWorker("DELETE", "/v1/me", { token: fresh.access_token })).status).toBe(204);
    const [deleted] = await eventsOf("user.deleted", user.user.id);
    expect(JSON.parse(deleted?.payload ?? "{}").data).toEqual({ user_id: user.user.id, phone: target });
  });

  it("parallel logouts of one session, and parallel logouts everywhere, each record one session.revoked event", async () => {
    const admin = await sharedAdmin();
    await createEndpoint(admin, { event_types: ["session.revoked"] });
    const user = await signUp();
    const logouts = await Promise.all(
      Array.from({ length: 8 }, () => callWorker("POST", "/v1/auth/logout", { body: { refresh_token: user.refresh_token } })),
    );
    expect(logouts.map((response) => response.status)).toEqual(Array(8).fill(204));
    expect(await eventsOf("session.revoked", user.user.id)).toHaveLength(1);
    expect(await row("SELECT COUNT(*) AS n FROM audit_events WHERE type = 'session_revoked' AND user_id = ?", user.user.id)).toEqual({
      n: 1,
    });

    const other = await signUp();
    const everywhere = await Promise.all(
      Array.from({ length: 8 }, () =>
        callWorker("POST", "/v1/auth/logout", { token: other.access_token, body: { refresh_token: other.refresh_token, all: true } }),
      ),
    );
    expect(everywhere.every((response) => response.status === 204 || response.status === 401)).toBe(true);
    expect(await eventsOf("session.revoked", other.user.id)).toHaveLength(1);
  });

  it("an endpoint can be turned off, re-subscribed and moved (PATCH), and removed (DELETE, then 404)", async () => {
    const admin = await sharedAdmin();
    const endpoint = await createEndpoint(admin, { event_types: ["user.created"] });
    const patched = await callWorker("PATCH", `/v1/admin/webhooks/${endpoint.id}`, {
      token: admin.access_token,
      body: { enabled: false, event_types: ["user.deleted"], url: "https://receiver.test/moved" },
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ enabled: false, event_types: ["user.deleted"], url: "https://receiver.test/moved" });
    await expectProblem(
      await callWorker("PATCH", "/v1/admin/webhooks/no-such-endpoint", { token: admin.access_token, body: { enabled: true } }),
      404,
      "not_found",
    );
    expect((await callWorker("DELETE", `/v1/admin/webhooks/${endpoint.id}`, { token: admin.access_token })).status).toBe(204);
    await expectProblem(await callWorker("DELETE", `/v1/admin/webhooks/${endpoint.id}`, { token: admin.access_token }), 404, "not_found");
    expect(await row("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE id = ?", endpoint.id)).toEqual({ n: 0 });
  });

  it("writes no outbox row while no endpoint subscribes to the type", async () => {
    const admin = await sharedAdmin();
    await createEndpoint(admin, { event_types: ["user.deleted"] });
    const user = await signUp();
    expect(await eventsOf("user.created", user.user.id)).toHaveLength(0);
    expect((await callWorker("DELETE", "/v1/me", { token: user.access_token })).status).toBe(204);
    expect(await eventsOf("user.deleted", user.user.id)).toHaveLength(1);
  });
});

describe("retries, dead letters and replay", () => {
  it("a receiver that answers 500 three times then 200 gets the event on the fourth try, with the same webhook-id", async () => {
    const admin = await sharedAdmin();
    const endpoint = await createEndpoint(admin, { event_types: ["user.created"] });
    let calls = 0;
    answer = async () => new Response(null, { status: ++calls <= 3 ? 500 : 200 });
    const t0 = freezeClock();
    const user = await signUp();
    const [event] = await eventsOf("user.created", user.user.id);
    // The first attempt comes from the Queue itself.
    await vi.waitFor(
      async () => expect(await row("SELECT attempts FROM webhook_deliveries WHERE event_id = ?", event?.id)).toEqual({ attempts: 1 }),
      {
        timeout: 10_000,
      },
    );
    expect(toEndpoint(endpoint)).toHaveLength(1);
    // Not due yet: nothing is sent, and the message comes back when the next attempt is.
    const early = await consume(event?.id as string);
    expect(early.retryMessages).toHaveLength(1);
    expect(toEndpoint(endpoint)).toHaveLength(1);
    // The next attempts, each when due (30 s, then 60 s, then 120 s later).
    for (const wait of [30, 60, 120]) {
      freezeClock(Date.now() + wait * SECOND);
      await consume(event?.id as string);
    }
    const ids = toEndpoint(endpoint).map((delivery) => delivery.headers["webhook-id"]);
    expect(ids).toEqual([event?.id, event?.id, event?.id, event?.id]);
    expect(await row("SELECT status, attempts, last_status FROM webhook_deliveries WHERE event_id = ?", event?.id)).toEqual({
      status: "delivered",
      attempts: 4,
      last_status: 200,
    });
    expect(Date.now()).toBeGreaterThanOrEqual(t0 + 210 * SECOND);
  });

  it("a receiver that never answers ends dead after WEBHOOK_MAX_ATTEMPTS, and a replay delivers the same event", async () => {
    const admin = await sharedAdmin();
    const endpoint = await createEndpoint(admin, { event_types: ["user.created"] });
    answer = (got) =>
      new Promise((_, reject) => {
        // Never answers: the consumer's deadline (WEBHOOK_TIMEOUT_MS) aborts it.
        void got;
        setTimeout(() => reject(new DOMException("The operation timed out.", "TimeoutError")), 10);
      });
    freezeClock();
    const user = await signUp();
    const [event] = await eventsOf("user.created", user.user.id);
    await vi.waitFor(
      async () => expect(await row("SELECT attempts FROM webhook_deliveries WHERE event_id = ?", event?.id)).toEqual({ attempts: 1 }),
      {
        timeout: 10_000,
      },
    );
    for (let attempt = 2; attempt <= 8; attempt++) {
      advance(3600 * SECOND);
      await consume(event?.id as string);
    }
    const delivery = await row<{ id: string; status: string; attempts: number; last_error: string }>(
      "SELECT id, status, attempts, last_error FROM webhook_deliveries WHERE event_id = ?",
      event?.id,
    );
    expect(delivery, JSON.stringify({ delivery, sent: toEndpoint(endpoint).length })).toMatchObject({ status: "dead", attempts: 8 });
    expect(delivery?.last_error).toMatch(/no answer within|connection failed/);
    // Dead stays dead: the consumer acks and sends nothing more.
    advance(3600 * SECOND);
    expect((await consume(event?.id as string)).explicitAcks).toHaveLength(1);
    expect(toEndpoint(endpoint)).toHaveLength(8);

    answer = async () => new Response(null, { status: 200 });
    // Hours have passed on the clock: a fresh admin sign-in.
    const later = await sharedAdmin();
    const listing = await callWorker("GET", `/v1/admin/webhooks/${endpoint.id}/deliveries?status=dead`, { token: later.access_token });
    const listed = (await listing.json()) as { items: { id: string; event_id: string }[] };
    expect(listing.status, JSON.stringify(listed)).toBe(200);
    expect(listed.items.map((item) => item.id)).toContain(delivery?.id);
    const replay = await callWorker("POST", `/v1/admin/webhooks/deliveries/${delivery?.id}/replay`, { token: later.access_token });
    expect(replay.status).toBe(202);
    // (The fresh admin's own sign-up is another user.created: count this event's deliveries only.)
    const ofEvent = () => toEndpoint(endpoint).filter((got) => got.headers["webhook-id"] === event?.id);
    await vi.waitFor(() => expect(ofEvent()).toHaveLength(9), { timeout: 10_000 });
    await vi.waitFor(async () =>
      expect(await row("SELECT status FROM webhook_deliveries WHERE id = ?", delivery?.id)).toEqual({ status: "delivered" }),
    );
  });

  it("a Queue send that throws leaves the row for the cron, which hands it over and it is delivered", async () => {
    const admin = await sharedAdmin();
    const endpoint = await createEndpoint(admin, { event_types: ["user.created"] });
    const broken = {
      ...ADMIN_ENV,
      WEBHOOK_QUEUE: {
        send: () => Promise.reject(new Error("queue unavailable")),
        sendBatch: () => Promise.reject(new Error("queue unavailable")),
      },
    } as unknown as typeof env;
    freezeClock();
    const phone = freshPhone();
    const code = await sendCode(phone);
    const response = await callWorker("POST", "/v1/auth/otp/verify", { env: broken, body: { phone, code } });
    expect(response.status).toBe(200);
    const user = (await response.json()) as TokenBody;
    const [event] = await eventsOf("user.created", user.user.id);
    expect(event).toBeDefined();
    expect(await row("SELECT status FROM webhook_deliveries WHERE event_id = ?", event?.id)).toEqual({ status: "pending" });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(toEndpoint(endpoint)).toHaveLength(0);

    advance(3 * 60 * SECOND);
    await runCron(CRON.sweep);
    await vi.waitFor(() => expect(toEndpoint(endpoint)).toHaveLength(1), { timeout: 10_000 });
    expect(toEndpoint(endpoint)[0]?.headers["webhook-id"]).toBe(event?.id);
  });
});

describe("endpoints", () => {
  it("a rotated secret signs beside the new one for 24 h: receivers holding either verify", async () => {
    const admin = await sharedAdmin();
    const endpoint = await createEndpoint(admin, { event_types: ["user.created"] });
    const rotated = (await (
      await callWorker("POST", `/v1/admin/webhooks/${endpoint.id}/rotate-secret`, { token: admin.access_token })
    ).json()) as { secret: string; previous_secret_expires_at: string };
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(endpoint.secret);
    expect(rotated.previous_secret_expires_at).not.toBeNull();
    await signUp();
    await vi.waitFor(() => expect(toEndpoint(endpoint)).toHaveLength(1), { timeout: 10_000 });
    const delivery = toEndpoint(endpoint)[0] as Received;
    expect(delivery.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    expect(() => new Webhook(endpoint.secret).verify(delivery.body, delivery.headers)).not.toThrow();
    expect(() => new Webhook(rotated.secret).verify(delivery.body, delivery.headers)).not.toThrow();
  });

  it("lists endpoints without secrets, and stores the secret encrypted", async () => {
    const admin = await sharedAdmin();
    const endpoint = await createEndpoint(admin, { description: "CRM" });
    const listed = await (await callWorker("GET", "/v1/admin/webhooks", { token: admin.access_token })).text();
    expect(listed).toContain(endpoint.id);
    expect(listed).not.toContain("whsec_");
    const stored = await row<{ secret: string }>("SELECT secret FROM webhook_endpoints WHERE id = ?", endpoint.id);
    expect(stored?.secret).not.toContain(endpoint.secret.slice(6));
  });

  it("refuses a non-admin (403) and a bad body (validation_failed)", async () => {
    const user = await signUp();
    await expectProblem(
      await callWorker("POST", "/v1/admin/webhooks", {
        token: user.access_token,
        body: { url: "https://receiver.test/x", event_types: ["*"] },
      }),
      403,
      "forbidden",
    );
    const admin = await sharedAdmin();
    await expectProblem(
      await callWorker("POST", "/v1/admin/webhooks", {
        token: admin.access_token,
        body: { url: "https://receiver.test/x", event_types: ["nope"] },
      }),
      400,
      "validation_failed",
    );
  });

  describe("in production", () => {
    const production = variantEnv({
      ENVIRONMENT: undefined,
      ADMIN_PHONES: (ADMIN_ENV as unknown as { ADMIN_PHONES: string }).ADMIN_PHONES,
      SMS_PROVIDER: "webhook",
      SMS_WEBHOOK_URL: "https://sms.example.com/hook",
      SMS_WEBHOOK_SECRET: "webhook-secret-0123456789",
    });
    const dns = (answers: Record<string, string[]>) =>
      vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
        const url = new URL(String(input instanceof Request ? input.url : input));
        const name = url.searchParams.get("name") ?? "";
        const type = url.searchParams.get("type") === "AAAA" ? 28 : 1;
        const data = (answers[name] ?? []).filter((ip) => (type === 28) === ip.includes(":"));
        return Response.json({ Status: 0, Answer: data.map((ip) => ({ name, type, TTL: 60, data: ip })) });
      });
    const create = (admin: TokenBody, url: string) =>
      callWorker("POST", "/v1/admin/webhooks", { env: production, token: admin.access_token, body: { url, event_types: ["*"] } });

    it.each([
      ["plain http", "http://hooks.example.com/x", "must be https"],
      ["a loopback address", "https://127.0.0.1/x", "private"],
      ["a private address", "https://10.1.2.3/x", "private"],
      ["a link-local address", "https://[fe80::1]/x", "private"],
      ["localhost", "https://localhost/x", "public host"],
      ["a name that resolves to a private address", "https://internal.example.com/x", "resolves to a private"],
      ["loopback written as IPv4-mapped IPv6", "https://[::ffff:127.0.0.1]/x", "private"],
      ["a private address as IPv4-mapped IPv6 in hex", "https://[::ffff:a00:1]/x", "private"],
      ["a private address behind NAT64", "https://[64:ff9b::a00:1]/x", "private"],
      ["a private address inside 6to4", "https://[2002:a00:1::1]/x", "private"],
      ["a name whose AAAA is IPv4-mapped loopback", "https://mapped.example.com/x", "resolves to a private"],
    ])("refuses %s", async (_name, url, message) => {
      const admin = await sharedAdmin();
      dns({ "internal.example.com": ["192.168.1.10"], "hooks.example.com": ["93.184.216.34"], "mapped.example.com": ["::ffff:7f00:1"] });
      const problem = await expectProblem(await create(admin, url), 400, "validation_failed");
      expect(problem.errors).toEqual([{ path: "url", message: expect.stringContaining(message) }]);
    });

    it("accepts an https host that resolves only to public addresses", async () => {
      const admin = await sharedAdmin();
      dns({ "hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"] });
      expect((await create(admin, "https://hooks.example.com/x")).status).toBe(201);
    });
  });
});
