import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { callWorker } from "./admin-helpers";
import { expectProblem, freshPhone, row } from "./helpers";
import { advance, freezeClock, variantEnv, wrongCodes } from "./otp-helpers";

// The guess storm (spec: Fraud guard and analytics): wrong guesses across all phones within an
// hour above FRAUD_GLOBAL_FAILURES raise one `guess_storm` event, and while it lasts the JSON verify
// needs a Turnstile token where Turnstile is configured. Sends carry a token too (Turnstile on).

const SECRET = "turnstile-secret-key-0123";
const STORMY = variantEnv({ FRAUD_GLOBAL_FAILURES: "5", TURNSTILE_SECRET_KEY: SECRET, TURNSTILE_SITE_KEY: "site-key" });
const NO_TURNSTILE = variantEnv({ FRAUD_GLOBAL_FAILURES: "5" });
const HOUR = 3_600_000;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** Cloudflare's siteverify, faked at its real URL: accepts the token "good" only. */
function siteverify() {
  const seen: string[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url !== "https://challenges.cloudflare.com/turnstile/v0/siteverify") return new Response("unexpected", { status: 599 });
    const form = new URLSearchParams(String(init?.body));
    seen.push(form.get("response") ?? "");
    return Response.json({ success: form.get("secret") === SECRET && form.get("response") === "good" });
  });
  return seen;
}

async function sendCode(variant: typeof env, phone: string): Promise<string> {
  const response = await callWorker("POST", "/v1/auth/otp", { env: variant, body: { phone, turnstile_token: "good" } });
  const body = (await response.json()) as { dev_code: string };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body.dev_code;
}

const verify = (variant: typeof env, body: Record<string, unknown>) => callWorker("POST", "/v1/auth/otp/verify", { env: variant, body });

/** `n` phones with a live code each. */
async function phonesWithCodes(variant: typeof env, n: number) {
  const phones = [];
  for (let i = 0; i < n; i++) {
    const phone = freshPhone();
    phones.push({ phone, code: await sendCode(variant, phone) });
  }
  return phones;
}

/** The alarms raised in the 3 hours from `since` (each test runs on a day of its own). */
const alarms = (since: number) =>
  env.DB.prepare("SELECT id, failures, until FROM fraud_alarms WHERE kind = 'guess_storm' AND raised_at >= ? AND raised_at < ?")
    .bind(since, since + 3 * HOUR)
    .all<{ id: string; failures: number; until: number }>()
    .then((result) => result.results);

const stormEvents = (since: number) =>
  row<{ n: number }>(
    "SELECT COUNT(*) AS n FROM audit_events WHERE type = 'guess_storm' AND created_at >= ? AND created_at < ?",
    since,
    since + 3 * HOUR,
  );

describe("guess storm", () => {
  it("raises one alarm past FRAUD_GLOBAL_FAILURES; then the JSON verify needs a Turnstile token until it ends", async () => {
    siteverify();
    const start = freezeClock(Date.UTC(2032, 2, 1, 10, 0, 0));
    const [target, ...others] = await phonesWithCodes(STORMY, 4);
    // Five wrong guesses over three phones: at the threshold, no storm.
    for (const [i, { phone, code }] of others.entries()) {
      for (const wrong of wrongCodes(code, i === 0 ? 1 : 2))
        await expectProblem(await verify(STORMY, { phone, code: wrong }), 400, "invalid_code");
    }
    expect(await alarms(start)).toHaveLength(0);
    expect((await verify(STORMY, { phone: others[0]?.phone, code: "000000" })).status).toBe(400);
    const [alarm] = await alarms(start);
    expect(alarm).toMatchObject({ failures: 6, until: start + HOUR });
    expect(await stormEvents(start)).toEqual({ n: 1 });

    // During the storm: no token → captcha_required, nothing counted; a rejected one → captcha_failed; "good" → signed in.
    const { phone, code } = target as { phone: string; code: string };
    await expectProblem(await verify(STORMY, { phone, code }), 400, "captcha_required");
    await expectProblem(await verify(STORMY, { phone, code, turnstile_token: "bad" }), 403, "captcha_failed");
    expect(await row("SELECT attempts FROM otp_challenges WHERE phone = ?", phone)).toEqual({ attempts: 0 });
    expect((await verify(STORMY, { phone, code, turnstile_token: "good" })).status).toBe(200);

    // An hour later the alarm has ended and the rate fell back: no token needed.
    advance(HOUR + 1000);
    const [later] = await phonesWithCodes(STORMY, 1);
    expect((await verify(STORMY, { phone: later?.phone, code: later?.code })).status).toBe(200);
  });

  it("the alarm's end on the injected clock: a token is still needed a millisecond before it, not at it; a storm still raging then raises a new alarm", async () => {
    siteverify();
    // After the first test's alarm ended and before the next test's day: an active alarm anywhere ahead would hold back theirs.
    const start = freezeClock(Date.UTC(2032, 2, 1, 14, 0, 0));
    for (const { phone, code } of await phonesWithCodes(STORMY, 6)) await verify(STORMY, { phone, code: wrongCodes(code, 1)[0] });
    const [alarm] = await alarms(start);
    expect(alarm?.until).toBe(start + HOUR);
    freezeClock(start + HOUR - 1);
    const [before] = await phonesWithCodes(STORMY, 1);
    await expectProblem(await verify(STORMY, { phone: before?.phone, code: before?.code }), 400, "captcha_required");
    freezeClock(start + HOUR);
    expect((await verify(STORMY, { phone: before?.phone, code: before?.code })).status).toBe(200);
    // The hour before still weighs almost fully: the next wrong guesses raise a second alarm at once.
    const again = await phonesWithCodes(STORMY, 1);
    await verify(STORMY, { phone: again[0]?.phone, code: wrongCodes(again[0]?.code as string, 1)[0] });
    expect(await alarms(start)).toHaveLength(2);
    expect(await stormEvents(start)).toEqual({ n: 2 });
  });

  it("parallel wrong guesses past the threshold raise exactly one alarm and one event", async () => {
    siteverify();
    const start = freezeClock(Date.UTC(2032, 2, 2, 10, 0, 0));
    const phones = await phonesWithCodes(STORMY, 20);
    const answers = await Promise.all(phones.map(({ phone, code }) => verify(STORMY, { phone, code: wrongCodes(code, 1)[0] })));
    expect(answers.every((answer) => answer.status === 400)).toBe(true);
    expect(await alarms(start)).toHaveLength(1);
    expect(await stormEvents(start)).toEqual({ n: 1 });
    expect(await row("SELECT value FROM counters WHERE name = ?", `wrong_guesses:${String(start).padStart(13, "0")}`)).toEqual({
      value: 20,
    });
  });

  it("the previous hour counts for the part of it still inside the sliding hour", async () => {
    siteverify();
    const hour = Date.UTC(2032, 2, 3, 10, 0, 0);
    freezeClock(hour + 50 * 60_000);
    const first = await phonesWithCodes(STORMY, 4);
    for (const { phone, code } of first) await verify(STORMY, { phone, code: wrongCodes(code, 1)[0] });
    // 4 wrong guesses at 10:50; at 11:30 half of the 10:00 hour is still inside: 4 × 0.5 = 2, plus 3 new = 5: no storm.
    freezeClock(hour + 90 * 60_000);
    const second = await phonesWithCodes(STORMY, 4);
    for (const { phone, code } of second.slice(0, 3)) await verify(STORMY, { phone, code: wrongCodes(code, 1)[0] });
    expect(await alarms(hour)).toHaveLength(0);
    await verify(STORMY, { phone: second[3]?.phone, code: wrongCodes(second[3]?.code as string, 1)[0] });
    expect(await alarms(hour)).toMatchObject([{ failures: 6 }]);
  });

  it("without Turnstile configured the storm is recorded and verifies go on without a token", async () => {
    const start = freezeClock(Date.UTC(2032, 2, 4, 10, 0, 0));
    const phones = [];
    for (let i = 0; i < 7; i++) {
      const phone = freshPhone();
      const response = await callWorker("POST", "/v1/auth/otp", { env: NO_TURNSTILE, body: { phone } });
      phones.push({ phone, code: ((await response.json()) as { dev_code: string }).dev_code });
    }
    for (const { phone, code } of phones.slice(0, 6)) await verify(NO_TURNSTILE, { phone, code: wrongCodes(code, 1)[0] });
    expect(await alarms(start)).toHaveLength(1);
    const last = phones[6] as { phone: string; code: string };
    expect((await verify(NO_TURNSTILE, { phone: last.phone, code: last.code })).status).toBe(200);
  });
});
