import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ADMIN_ENV, callWorker } from "./admin-helpers";
import { expectProblem, row } from "./helpers";
import { advance, freezeClock, interceptWebhook, variantEnv, WEBHOOK_SECRET, WEBHOOK_URL } from "./otp-helpers";

// The automatic fraud guard (spec: Fraud guard and analytics): a prefix (or country) whose codes
// stop converting is blocked for FRAUD_BLOCK_SECONDS, exactly once under concurrency, and its sends
// answer 403 destination_blocked without reaching a provider. Every window edge is tried on the
// injected clock. Codes go out through the webhook SMS provider, so provider calls can be counted.

const ADMINS = (ADMIN_ENV as unknown as { ADMIN_PHONES: string }).ADMIN_PHONES;
const TEST_PHONE = "+375447770001";
const base = {
  ADMIN_PHONES: ADMINS,
  SMS_PROVIDER: "webhook",
  SMS_WEBHOOK_URL: WEBHOOK_URL,
  SMS_WEBHOOK_SECRET: WEBHOOK_SECRET,
  TEST_PHONES: `${TEST_PHONE}:123456`,
  // Every test here sends to Belarus within the same hour: only the country test judges a country.
  FRAUD_COUNTRY_MIN_SENDS: "1000000",
};
const GUARDED = variantEnv(base);
const UNGUARDED = variantEnv({ ...base, FRAUD_GUARD: "off" });
const COUNTRY_GUARD = variantEnv({ ...base, FRAUD_MIN_SENDS: "1000000", FRAUD_COUNTRY_MIN_SENDS: "30" });

const GRACE_MS = 120_000;
const WINDOW_MS = 3_600_000;
const BLOCK_MS = 43_200_000;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** Where this run's prefixes start; each test takes the next one, so no two tests share a prefix. */
let prefixCounter = Math.floor(Math.random() * 500);
/** A Belarusian prefix no other test uses (+37544…, 10,000 numbers each). */
function freshPrefix(): string {
  prefixCounter += 1;
  return `+37544${String(prefixCounter % 1000).padStart(3, "0")}`;
}
const numberIn = (prefix: string, n: number) => `${prefix}${String(n).padStart(4, "0")}`;

const send = (phone: string, variant = GUARDED) => callWorker("POST", "/v1/auth/otp", { env: variant, body: { phone } });

/** Sends one code to each of `count` numbers of `prefix` (from `from` on), all answered 200; returns their codes. */
async function sendMany(prefix: string, count: number, variant = GUARDED, from = 0): Promise<string[]> {
  const codes: string[] = [];
  for (let n = from; n < from + count; n++) {
    const response = await send(numberIn(prefix, n), variant);
    const body = (await response.json()) as { dev_code: string };
    expect(response.status, JSON.stringify(body)).toBe(200);
    codes.push(body.dev_code);
  }
  return codes;
}

/** A fresh prefix the guard has just blocked: 20 unverified codes, then past the grace, the send that judges them. */
async function blockedPrefix(): Promise<string> {
  const prefix = freshPrefix();
  await sendMany(prefix, 20);
  advance(GRACE_MS + 1000);
  await sendMany(prefix, 1, GUARDED, 20);
  return prefix;
}

const blocksOf = (value: string) =>
  env.DB.prepare(
    "SELECT id, scope, source, sends, judged, verified, until, created_at FROM fraud_blocks WHERE value = ? ORDER BY created_at",
  )
    .bind(value)
    .all<{ id: string; scope: string; source: string; sends: number; judged: number; verified: number; until: number }>()
    .then((result) => result.results);

const eventsOf = async (blockId: string) =>
  (await row<{ n: number }>(
    "SELECT COUNT(*) AS n FROM audit_events WHERE type = 'destination_blocked' AND json_extract(detail, '$.block_id') = ?",
    blockId,
  )) as { n: number };

describe("automatic blocks (SMS pumping)", () => {
  it("blocks a prefix whose codes stop converting: the judging send still goes out, the next ones answer 403 and reach no provider", async () => {
    const { calls } = interceptWebhook(async () => new Response(null, { status: 204 }));
    const start = freezeClock();
    const prefix = freshPrefix();
    await sendMany(prefix, 20);
    advance(GRACE_MS + 1000);
    expect(await blocksOf(prefix)).toHaveLength(0);
    await sendMany(prefix, 1, GUARDED, 20);
    const [block] = await blocksOf(prefix);
    expect(block).toMatchObject({ scope: "prefix", source: "auto", sends: 21, judged: 20, verified: 0 });
    expect(block?.until).toBe(start + GRACE_MS + 1000 + BLOCK_MS);
    expect(await eventsOf(block?.id as string)).toEqual({ n: 1 });
    expect(calls).toHaveLength(21);

    const refused = await send(numberIn(prefix, 21));
    const problem = await expectProblem(refused, 403, "destination_blocked");
    expect(problem.retry_after).toBe(BLOCK_MS / 1000);
    expect(calls).toHaveLength(21);
    expect(await row("SELECT COUNT(*) AS n FROM otp_challenges WHERE phone = ?", numberIn(prefix, 21))).toEqual({ n: 0 });
    // Another prefix of the same country, and a test phone, are not affected.
    expect((await send(numberIn(freshPrefix(), 1))).status).toBe(200);
  });

  it("the grace boundary: unverified codes are judged once FRAUD_GRACE_SECONDS old, not a millisecond before", async () => {
    interceptWebhook(async () => new Response(null, { status: 204 }));
    freezeClock();
    const early = freshPrefix();
    const onTime = freshPrefix();
    await sendMany(early, 20);
    await sendMany(onTime, 20);
    advance(GRACE_MS - 1);
    await sendMany(early, 1, GUARDED, 20);
    expect(await blocksOf(early)).toHaveLength(0);
    advance(1);
    await sendMany(onTime, 1, GUARDED, 20);
    expect(await blocksOf(onTime)).toMatchObject([{ sends: 21, judged: 20 }]);
  });

  it("the window boundary: sends FRAUD_WINDOW_SECONDS old no longer count", async () => {
    interceptWebhook(async () => new Response(null, { status: 204 }));
    const start = freezeClock();
    const inside = freshPrefix();
    const outside = freshPrefix();
    await sendMany(inside, 19);
    await sendMany(outside, 19);
    freezeClock(start + WINDOW_MS - 1);
    await sendMany(inside, 1, GUARDED, 19);
    expect(await blocksOf(inside)).toMatchObject([{ sends: 20, judged: 19 }]);
    freezeClock(start + WINDOW_MS);
    await sendMany(outside, 1, GUARDED, 19);
    expect(await blocksOf(outside)).toHaveLength(0);
  });

  it("the conversion boundary: 4 of 20 verified (0.2) keeps a prefix open, 3 of 20 blocks it", async () => {
    interceptWebhook(async () => new Response(null, { status: 204 }));
    freezeClock();
    const healthy = freshPrefix();
    const pumped = freshPrefix();
    const healthyCodes = await sendMany(healthy, 20);
    const pumpedCodes = await sendMany(pumped, 20);
    advance(30_000);
    for (const [n, code] of healthyCodes.slice(0, 4).entries()) await verify(numberIn(healthy, n), code);
    for (const [n, code] of pumpedCodes.slice(0, 3).entries()) await verify(numberIn(pumped, n), code);
    advance(GRACE_MS);
    await sendMany(healthy, 1, GUARDED, 20);
    await sendMany(pumped, 1, GUARDED, 20);
    expect(await blocksOf(healthy)).toHaveLength(0);
    expect(await blocksOf(pumped)).toMatchObject([{ sends: 21, judged: 20, verified: 3 }]);
  });

  it("a burst is judged while it runs: codes verified at once are judged, so a fast real crowd is not blocked", async () => {
    interceptWebhook(async () => new Response(null, { status: 204 }));
    freezeClock();
    const crowd = freshPrefix();
    // 30 people ask within a minute and 24 of them type the code within seconds; 6 never do.
    for (let n = 0; n < 30; n++) {
      const [code] = await sendMany(crowd, 1, GUARDED, n);
      advance(2000);
      if (n % 5 !== 0) await verify(numberIn(crowd, n), code as string);
    }
    advance(GRACE_MS);
    await sendMany(crowd, 1, GUARDED, 30);
    expect(await blocksOf(crowd)).toHaveLength(0);
  });

  it("parallel sends at the threshold make one block, one audit event and one webhook event", async () => {
    interceptWebhook(async () => new Response(null, { status: 204 }));
    freezeClock();
    const admin = await signInAdmin();
    const endpoint = await callWorker("POST", "/v1/admin/webhooks", {
      env: GUARDED,
      token: admin.access_token,
      body: { url: "https://receiver.test/fraud", event_types: ["destination.blocked"] },
    });
    expect(endpoint.status).toBe(201);
    const prefix = TEST_PHONE.slice(0, -4);
    await sendMany(prefix, 20, GUARDED, 100);
    advance(GRACE_MS + 1000);
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => send(numberIn(prefix, 200 + i))));
    expect(answers.map((answer) => answer.status).every((status) => status === 200 || status === 403)).toBe(true);
    const blocks = await blocksOf(prefix);
    expect(blocks).toHaveLength(1);
    expect(await eventsOf(blocks[0]?.id as string)).toEqual({ n: 1 });
    expect(
      await row(
        "SELECT COUNT(*) AS n FROM webhook_events WHERE type = 'destination.blocked' AND json_extract(payload, '$.data.block_id') = ?",
        blocks[0]?.id,
      ),
    ).toEqual({ n: 1 });
    const event = await row<{ payload: string }>(
      "SELECT payload FROM webhook_events WHERE type = 'destination.blocked' AND json_extract(payload, '$.data.block_id') = ?",
      blocks[0]?.id,
    );
    const data = (JSON.parse(event?.payload ?? "{}") as { data: Record<string, unknown> }).data;
    expect(data).toMatchObject({ block_id: blocks[0]?.id, scope: "prefix", value: prefix, source: "auto", reason: expect.any(String) });
    expect(Date.parse(data.until as string) - Date.now()).toBe(BLOCK_MS);
    expect(data.sends).toBeGreaterThanOrEqual(20);
    expect(data.judged).toBeGreaterThanOrEqual(20);
    expect(data.verified).toBe(0);
    // The block's numbers ride in its webhook event, and the block is refused from then on; the test phone never is.
    await expectProblem(await send(numberIn(prefix, 300)), 403, "destination_blocked");
    expect((await send(TEST_PHONE)).status).toBe(200);
  });

  it("a block ends by time: after FRAUD_BLOCK_SECONDS the prefix gets codes again, and the old sends are out of the window", async () => {
    interceptWebhook(async () => new Response(null, { status: 204 }));
    freezeClock();
    const prefix = await blockedPrefix();
    await expectProblem(await send(numberIn(prefix, 21)), 403, "destination_blocked");
    advance(BLOCK_MS - 1000);
    await expectProblem(await send(numberIn(prefix, 22)), 403, "destination_blocked");
    advance(1000);
    await sendMany(prefix, 2, GUARDED, 23);
    expect(await blocksOf(prefix)).toHaveLength(1);
  });

  it("an admin's lift ends a block at once, and the sends before the lift are not judged again", async () => {
    interceptWebhook(async () => new Response(null, { status: 204 }));
    freezeClock();
    const prefix = await blockedPrefix();
    const [block] = await blocksOf(prefix);
    const admin = await signInAdmin();
    const lifted = await callWorker("DELETE", `/v1/admin/fraud/blocks/${block?.id}`, { env: GUARDED, token: admin.access_token });
    expect(lifted.status).toBe(204);
    advance(1000);
    await sendMany(prefix, 3, GUARDED, 21);
    expect(await blocksOf(prefix)).toHaveLength(1);
    const listed = (await (await callWorker("GET", "/v1/admin/fraud/blocks", { env: GUARDED, token: admin.access_token })).json()) as {
      items: { id: string; active: boolean; source: string; tripped: unknown }[];
    };
    expect(listed.items.find((item) => item.id === block?.id)).toMatchObject({
      active: false,
      source: "auto",
      tripped: { sends: 21, judged: 20, verified: 0 },
    });
  });

  it("FRAUD_GUARD=off blocks nothing automatically", async () => {
    interceptWebhook(async () => new Response(null, { status: 204 }));
    freezeClock();
    const prefix = freshPrefix();
    await sendMany(prefix, 20, UNGUARDED);
    advance(GRACE_MS + 1000);
    await sendMany(prefix, 3, UNGUARDED, 20);
    expect(await blocksOf(prefix)).toHaveLength(0);
  });

  it("a country whose codes stop converting across many prefixes is blocked (FRAUD_COUNTRY_MIN_SENDS), other countries are not", async () => {
    interceptWebhook(async () => new Response(null, { status: 204 }));
    freezeClock();
    // Kazakhstan: 10 prefixes, 3 codes each, none over the prefix threshold.
    const prefixes = Array.from({ length: 10 }, (_, i) => `+7701${String(100 + i * 7 + (Date.now() % 50)).padStart(3, "0")}`);
    for (const prefix of prefixes) await sendMany(prefix, 3, COUNTRY_GUARD);
    advance(GRACE_MS + 1000);
    await sendMany(prefixes[0] as string, 1, COUNTRY_GUARD, 3);
    expect(await blocksOf("KZ")).toMatchObject([{ scope: "country", source: "auto", sends: 31, judged: 30, verified: 0 }]);
    await expectProblem(await send("+77012223344", COUNTRY_GUARD), 403, "destination_blocked");
    expect((await send(numberIn(freshPrefix(), 5), COUNTRY_GUARD)).status).toBe(200);
  });

  it("test phones never count toward a block (they reach no provider)", async () => {
    const { calls } = interceptWebhook(async () => new Response(null, { status: 204 }));
    const prefix = TEST_PHONE.slice(0, -4);
    const before = await row("SELECT COUNT(*) AS n FROM code_sends WHERE prefix = ?", prefix);
    freezeClock(Date.now() + 86_400_000);
    expect((await send(TEST_PHONE)).status).toBe(200);
    expect(calls).toHaveLength(0);
    expect(await row("SELECT COUNT(*) AS n FROM code_sends WHERE prefix = ?", prefix)).toEqual(before);
  });
});

let adminIndex = 40;
/**
 * An admin signed in through GUARDED (one of the pool's last numbers): a send through the default
 * env would judge Belarus with the default country threshold, which this file's sends trip.
 */
async function signInAdmin() {
  const phone = `+37533100${String(++adminIndex).padStart(4, "0")}`;
  const [code] = await sendMany(phone.slice(0, -4), 1, GUARDED, Number(phone.slice(-4)));
  const response = await callWorker("POST", "/v1/auth/otp/verify", { env: GUARDED, body: { phone, code } });
  expect(response.status).toBe(200);
  return (await response.json()) as { access_token: string };
}

async function verify(phone: string, code: string) {
  const response = await callWorker("POST", "/v1/auth/otp/verify", { env: GUARDED, body: { phone, code } });
  expect(response.status, await response.clone().text()).toBe(200);
}
