import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AnalyticsItem as Item } from "../src/fraud/analytics";
import { VERIFY_BUCKETS, VERIFY_COLUMNS } from "../src/fraud/rollups";
import worker from "../src/index";
import { ADMIN_ENV, callWorker } from "./admin-helpers";
import { creds, fakeProviders, type Seen } from "./delivery-fakes";
import { expectProblem, freshIp } from "./helpers";
import { advance, freezeClock, variantEnv } from "./otp-helpers";

// The hourly rollups and GET /v1/admin/analytics (spec: Fraud guard and analytics): what the test
// sent, verified and was charged comes back, grouped every way the contract names. Codes go out
// through the fake Twilio and Vonage APIs (test/delivery-fakes.ts) with prices, receipts are
// signed as Twilio signs them, and codes are read from the message each provider was given.

const ADMINS = (ADMIN_ENV as unknown as { ADMIN_PHONES: string }).ADMIN_PHONES;
const routed = variantEnv({
  ...creds,
  ADMIN_PHONES: ADMINS,
  SMS_PROVIDER: undefined,
  SMS_TIMEOUT_MS: "200",
  DELIVERY_ROUTES: "*:sms:twilio,sms:vonage",
  DELIVERY_PRICES: "sms:twilio:*=0.05,sms:vonage:*=0.04",
  // These tests judge analytics, not pumping.
  FRAUD_GUARD: "off",
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

let prefixCounter = 0;
/** A Belarusian prefix (+375255…+375257, valid mobile ranges) only this file uses. */
const freshPrefix = () => {
  prefixCounter += 1;
  // 300 distinct prefixes, taken in turn: no two tests of a run share one.
  return `+37525${5 + (prefixCounter % 3)}${String(Math.floor(prefixCounter / 3) % 100).padStart(2, "0")}`;
};
const numberIn = (prefix: string, n: number) => `${prefix}${String(n).padStart(4, "0")}`;

/** Sends a code (through `variant`'s routes) and returns the code the provider was asked to deliver, and its message id. */
async function send(phone: string, modes: Parameters<typeof fakeProviders>[0] = {}, variant = routed) {
  const seen = fakeProviders(modes);
  const response = await callWorker("POST", "/v1/auth/otp", { env: variant, body: { phone } });
  expect(response.status, await response.clone().text()).toBe(200);
  vi.restoreAllMocks();
  const carried = seen.at(-1) as Seen;
  const body = new URLSearchParams(carried.body).get("Body") ?? new URLSearchParams(carried.body).get("text") ?? "";
  const code = /\d{6}/.exec(body)?.[0] as string;
  const attempt = await env.DB.prepare(
    "SELECT provider_message_id AS id FROM delivery_attempts WHERE code_id = (SELECT code_id FROM otp_challenges WHERE phone = ?) ORDER BY attempt DESC",
  )
    .bind(phone)
    .first<{ id: string }>();
  return { code, messageId: attempt?.id as string };
}

async function verify(phone: string, code: string, variant = routed) {
  const response = await callWorker("POST", "/v1/auth/otp/verify", { env: variant, body: { phone, code } });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as { access_token: string };
}

const encoder = new TextEncoder();
/** A Twilio status callback, signed as Twilio signs it (HMAC-SHA1 of the URL and the sorted form). */
async function twilioReceipt(messageId: string, status: string) {
  const params: Record<string, string> = { AccountSid: creds.TWILIO_ACCOUNT_SID, MessageSid: messageId, MessageStatus: status };
  const signed = `${creds.PUBLIC_URL}/v1/hooks/delivery/twilio${Object.keys(params)
    .sort()
    .map((name) => name + params[name])
    .join("")}`;
  const key = await crypto.subtle.importKey("raw", encoder.encode(creds.TWILIO_AUTH_TOKEN), { name: "HMAC", hash: "SHA-1" }, false, [
    "sign",
  ]);
  const signature = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(signed)))));
  const response = await callWorker("POST", "/v1/hooks/delivery/twilio", {
    env: routed,
    body: new URLSearchParams(params).toString(),
    headers: { "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature },
  });
  expect(response.status).toBe(204);
}

let adminIndex = 30;
async function admin() {
  const phone = `+37533100${String(++adminIndex).padStart(4, "0")}`;
  return verify(phone, (await send(phone)).code);
}

async function report(token: string, query: string): Promise<Item[]> {
  const response = await callWorker("GET", `/v1/admin/analytics?${query}`, { env: routed, token });
  const body = (await response.json()) as { items: Item[] };
  expect(response.status, JSON.stringify(body)).toBe(200);
  expect(response.headers.get("Cache-Control")).toBe("no-store");
  return body.items;
}

describe("analytics", () => {
  it("counts what was sent, delivered, failed, verified and charged, by prefix, channel, provider, country, day and hour", async () => {
    const start = freezeClock(Date.UTC(2031, 4, 6, 9, 10));
    const prefix = freshPrefix();
    const sent = [];
    for (let n = 0; n < 4; n++) sent.push(await send(numberIn(prefix, n)));
    // A failover: Twilio fails, Vonage carries the fifth code (two attempts, one send).
    const failover = await send(numberIn(prefix, 4), { twilio: "fail" });
    await twilioReceipt(sent[0]?.messageId as string, "delivered");
    await twilioReceipt(sent[1]?.messageId as string, "undelivered");
    // A repeated receipt changes nothing.
    await twilioReceipt(sent[0]?.messageId as string, "delivered");
    advance(15_000);
    await verify(numberIn(prefix, 0), sent[0]?.code as string);
    advance(10_000);
    await verify(numberIn(prefix, 1), sent[1]?.code as string);
    advance(75_000);
    await verify(numberIn(prefix, 4), failover.code);
    const { access_token: token } = await admin();
    const window = `from=${new Date(start).toISOString()}&to=${new Date(start + 3_600_000).toISOString()}`;

    const [byPrefix] = (await report(token, `${window}&group_by=prefix`)).filter((item) => item.key === prefix);
    expect(byPrefix).toEqual({
      key: prefix,
      attempts: 6,
      sent: 5,
      delivered: 1,
      failed: 2,
      verified: 3,
      conversion: 0.6,
      // Verified after 15 s, 25 s and 100 s: the median falls in (20, 30], the p90 in (90, 120].
      p50_seconds_to_verify: expect.any(Number),
      p90_seconds_to_verify: expect.any(Number),
      cost: 0.24,
    });
    expect(byPrefix?.p50_seconds_to_verify).toBeGreaterThan(20);
    expect(byPrefix?.p50_seconds_to_verify).toBeLessThanOrEqual(30);
    expect(byPrefix?.p90_seconds_to_verify).toBeGreaterThan(90);
    expect(byPrefix?.p90_seconds_to_verify).toBeLessThanOrEqual(120);

    const providers = await report(token, `${window}&group_by=provider`);
    expect(providers.find((item) => item.key === "vonage")).toMatchObject({ attempts: 1, sent: 1, verified: 1, cost: 0.04 });
    // The admin's own sign-in went through Twilio in this hour too.
    expect(providers.find((item) => item.key === "twilio")).toMatchObject({ attempts: 6, sent: 5, failed: 2, verified: 3, cost: 0.25 });
    expect(await report(token, `${window}&group_by=channel`)).toEqual([expect.objectContaining({ key: "sms", sent: 6, verified: 4 })]);
    expect(await report(token, `${window}&group_by=country`)).toEqual([expect.objectContaining({ key: "BY", sent: 6, verified: 4 })]);
    const hour = new Date(Date.UTC(2031, 4, 6, 9)).toISOString();
    expect(await report(token, `${window}&group_by=hour`)).toEqual([expect.objectContaining({ key: hour, attempts: 7, sent: 6 })]);
    const day = new Date(Date.UTC(2031, 4, 6)).toISOString();
    expect(await report(token, `${window}&group_by=day`)).toEqual([expect.objectContaining({ key: day, sent: 6, conversion: 0.6667 })]);
    // Another period has none of it.
    expect(await report(token, `from=2031-05-07T00:00:00Z&to=2031-05-08T00:00:00Z&group_by=prefix`)).toEqual([]);
  });

  it("a verification counts in its code's send hour, once, even when the verify lands before the send's record", async () => {
    const start = freezeClock(Date.UTC(2031, 4, 7, 10, 59, 50));
    const phone = numberIn(freshPrefix(), 1);
    // Hold the send's delivery record (the batch that opens with the attempts) until the verify is done.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const real = new WeakMap<object, D1PreparedStatement>();
    const queries = new WeakMap<object, string>();
    const tracked = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
      const wrapper = {
        bind: (...values: unknown[]) => tracked(statement.bind(...values), query),
        all: () => statement.all(),
        run: () => statement.run(),
        first: (column?: string) => (column ? statement.first(column) : statement.first()),
        raw: (options?: { columnNames?: boolean }) => statement.raw(options as { columnNames: true }),
      } as unknown as D1PreparedStatement;
      real.set(wrapper, statement);
      queries.set(wrapper, query);
      return wrapper;
    };
    const heldDb = {
      prepare: (query: string) => tracked(env.DB.prepare(query), query),
      batch: async (statements: D1PreparedStatement[]) => {
        if (/^\s*INSERT INTO delivery_attempts/.test(queries.get(statements[0] as object) ?? "")) await held;
        return env.DB.batch(statements.map((statement) => real.get(statement) ?? statement));
      },
      exec: (query: string) => env.DB.exec(query),
      withSession: () => ({ prepare: heldDb.prepare, batch: heldDb.batch, getBookmark: () => null }),
    } as unknown as D1Database & { prepare: D1Database["prepare"]; batch: D1Database["batch"] };
    const heldEnv = { ...routed, DB: heldDb } as typeof env;
    const seen = fakeProviders();
    const ctx = createExecutionContext();
    const request = new Request("http://api.test/v1/auth/otp", {
      method: "POST",
      headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
      body: JSON.stringify({ phone }),
    });
    expect((await worker.fetch(request, heldEnv, ctx)).status).toBe(200);
    const code = /\d{6}/.exec(new URLSearchParams((seen.at(-1) as Seen).body).get("Body") ?? "")?.[0] as string;
    advance(20_000);
    await verify(phone, code);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM code_sends WHERE sent_at = ?").bind(start).first()).toEqual({ n: 0 });
    release();
    await waitOnExecutionContext(ctx);
    vi.restoreAllMocks();
    const { access_token: token } = await admin();
    const items = await report(token, `from=2031-05-07T10:00:00Z&to=2031-05-07T12:00:00Z&group_by=hour`);
    // The code was sent at 10:59:50 and verified at 11:00:10: it counts in the 10:00 hour.
    expect(items.find((item) => item.key === "2031-05-07T10:00:00.000Z")).toMatchObject({ sent: 1, verified: 1 });
  });

  it("puts each send-to-verify time in its histogram column: a bound itself in its own column, a millisecond over in the next", async () => {
    // Codes live long enough to be verified after the last bound.
    const slow = variantEnv({ ...(routed as unknown as Record<string, string>), OTP_TTL_SECONDS: "900" });
    const prefix = freshPrefix();
    const start = freezeClock(Date.UTC(2031, 5, 3, 8, 0, 0));
    const columns = [...VERIFY_COLUMNS];
    // Verify delays in ms, with the column each must land in.
    const cases = VERIFY_BUCKETS.flatMap((bound, i) => [
      { delay: bound * 1000, column: columns[i] },
      { delay: bound * 1000 + 1, column: columns[i + 1] },
    ]);
    const codes = [];
    for (const [n] of cases.entries()) codes.push((await send(numberIn(prefix, n), {}, slow)).code);
    for (const [n, { delay }] of [...cases.entries()].sort((a, b) => a[1].delay - b[1].delay)) {
      freezeClock(start + delay);
      await verify(numberIn(prefix, n), codes[n] as string, slow);
    }
    const row = await env.DB.prepare(`SELECT verified, ${columns.join(", ")} FROM traffic_hourly WHERE prefix = ? AND hour = ?`)
      .bind(prefix, start)
      .first<Record<string, number>>();
    const expected: Record<string, number> = Object.fromEntries(columns.map((column) => [column, 0]));
    for (const { column } of cases) expected[column as string] = (expected[column as string] ?? 0) + 1;
    expect(row).toEqual({ verified: cases.length, ...expected });
  });

  it("a receipt for a message id nobody sent answers 204 and counts nothing; a time series is never cut short by limit", async () => {
    const start = Date.UTC(2031, 4, 8, 12, 0);
    const prefix = freshPrefix();
    // Traffic in two hours, so a series cut to `limit=1` would lose one of them.
    freezeClock(start - 3_600_000);
    await send(numberIn(prefix, 2));
    freezeClock(start);
    await send(numberIn(prefix, 3));
    await twilioReceipt(`SM${"f".repeat(32)}`, "delivered");
    const { access_token: token } = await admin();
    const hours = await report(
      token,
      `from=${new Date(start - 7 * 86_400_000).toISOString()}&to=${new Date(start + 3_600_000).toISOString()}&group_by=hour&limit=1`,
    );
    expect(hours.map((item) => item.key)).toEqual(
      expect.arrayContaining([new Date(start - 3_600_000).toISOString(), new Date(start).toISOString()]),
    );
    expect(hours.at(-1)).toMatchObject({ key: new Date(start).toISOString(), delivered: 0 });
  });

  it("refuses bad periods and groupings with validation_failed, and non-admins with 403", async () => {
    const { access_token: token } = await admin();
    for (const query of [
      "group_by=week",
      "from=yesterday",
      "from=2031-05-08T00:00:00Z&to=2031-05-07T00:00:00Z",
      "from=2020-01-01T00:00:00Z&to=2031-01-01T00:00:00Z",
      "limit=0",
    ]) {
      await expectProblem(await callWorker("GET", `/v1/admin/analytics?${query}`, { env: routed, token }), 400, "validation_failed");
    }
    const phone = numberIn(freshPrefix(), 7);
    const user = await verify(phone, (await send(phone)).code);
    await expectProblem(await callWorker("GET", "/v1/admin/analytics", { env: routed, token: user.access_token }), 403, "forbidden");
    await expectProblem(await callWorker("GET", "/v1/admin/analytics", { env: routed }), 401, "unauthorized");
  });
});
