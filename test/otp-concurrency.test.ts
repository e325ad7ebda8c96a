import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { expectProblem, freshPhone, row, sendCode, signIn } from "./helpers";
import {
  advance,
  callWith,
  challengeOf,
  freezeClock,
  guardOf,
  HOUR,
  requestCode,
  SECOND,
  userCount,
  verifyCode,
  wrongCodes,
} from "./otp-helpers";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/**
 * One env per request of a race, whose KV holds reads of code hashes (`otp:<id>`) until every
 * request has issued its first D1 batch — its reservation. A guess reads the hash only after it
 * has reserved, so every reservation is decided before any guess is evaluated: the widest race,
 * made deterministic. (A safety timer opens the gate if some request never reaches D1.)
 */
function raceEnvs(n: number): (typeof env)[] {
  let reserved = 0;
  let open = () => {};
  const allReserved = new Promise<void>((resolve) => {
    open = resolve;
  });
  const safety = setTimeout(open, 3000);
  const wrap = <T extends object>(target: T, method: string, around: (call: () => unknown, args: unknown[]) => unknown) =>
    new Proxy(target, {
      get(real, property) {
        const value = Reflect.get(real, property) as unknown;
        if (typeof value !== "function") return value;
        if (property !== method) return value.bind(real);
        return (...args: unknown[]) => around(() => value.apply(real, args), args);
      },
    });
  return Array.from({ length: n }, () => {
    let counted = false;
    const countFirstBatch = (run: () => unknown) => {
      if (!counted) {
        counted = true;
        reserved++;
        if (reserved === n) {
          clearTimeout(safety);
          open();
        }
      }
      return run();
    };
    // Requests run their statements in a D1 session (read replication): count batches made there too.
    const DB = new Proxy(wrap(env.DB, "batch", countFirstBatch), {
      get(real, property) {
        if (property !== "withSession") return Reflect.get(real, property);
        return (...args: unknown[]) => wrap(env.DB.withSession(...(args as [string?])), "batch", countFirstBatch);
      },
    });
    const KV = wrap(env.KV, "get", async (run, [key]) => {
      if (String(key).startsWith("otp:")) await allReserved;
      return run();
    });
    return { ...env, DB, KV } as typeof env;
  });
}

/** Fires all guesses at once, each with its own race env (see `raceEnvs`). */
async function gatedRace(phone: string, codes: string[]): Promise<Outcome[]> {
  const envs = raceEnvs(codes.length);
  const responses = await Promise.all(
    codes.map((code, i) => callWith(envs[i] as typeof env, "POST", "/v1/auth/otp/verify", { body: { phone, code } })),
  );
  return Promise.all(responses.map(outcomeOf));
}

type Outcome = { status: number; code: string; attempts_left?: number; is_new_user?: boolean; user?: { id: string } };

/** Fires every guess at once (each from its own IP) and returns status plus error code (or "ok"). */
async function race(phone: string, codes: string[]): Promise<Outcome[]> {
  const responses = await Promise.all(codes.map((code) => verifyCode(phone, code)));
  return Promise.all(responses.map(outcomeOf));
}

async function outcomeOf(response: Response): Promise<Outcome> {
  const body = (await response.json()) as Record<string, unknown>;
  return { ...body, status: response.status, code: response.status === 200 ? "ok" : String(body.code) } as Outcome;
}

const tally = (outcomes: Outcome[]) =>
  outcomes.reduce<Record<string, number>>((counts, { status, code }) => {
    const key = `${status} ${code}`;
    counts[key] = (counts[key] ?? 0) + 1;
    return counts;
  }, {});

describe("guesses under concurrency", () => {
  it("30 parallel wrong guesses on one code get at most 5 evaluated; the rest answer too_many_attempts", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const outcomes = await race(phone, wrongCodes(code, 30));
    const evaluated = outcomes.filter((o) => o.code === "invalid_code");
    expect(evaluated.length, JSON.stringify(tally(outcomes))).toBeGreaterThanOrEqual(1);
    expect(evaluated.length, JSON.stringify(tally(outcomes))).toBeLessThanOrEqual(5);
    expect(tally(outcomes)).toEqual({ "400 invalid_code": evaluated.length, "429 too_many_attempts": 30 - evaluated.length });
    // Each evaluated guess used its own slot of the code's budget.
    const lefts = evaluated.map((o) => o.attempts_left as number).sort();
    expect(new Set(lefts).size).toBe(lefts.length);
    for (const left of lefts) expect(left).toBeLessThanOrEqual(4);

    const challenge = await challengeOf(phone);
    const guard = await guardOf(phone);
    expect(challenge?.attempts).toBeLessThanOrEqual(5);
    expect(challenge?.attempts).toBe(evaluated.length);
    expect(guard?.fail_count).toBeLessThanOrEqual(10);
    expect(guard?.fail_count).toBe(evaluated.length);
    if (evaluated.length === 5) {
      expect(lefts).toEqual([0, 1, 2, 3, 4]);
      await expectProblem(await verifyCode(phone, code), 429, "too_many_attempts");
    }
  });

  it("parallel wrong guesses cannot overrun the phone's failure budget", async () => {
    const phone = freshPhone();
    freezeClock();
    const first = await sendCode(phone);
    for (const guess of wrongCodes(first, 5)) await expectProblem(await verifyCode(phone, guess), 400, "invalid_code");
    advance(61 * SECOND);
    const second = await sendCode(phone);
    for (const guess of wrongCodes(second, 3)) await expectProblem(await verifyCode(phone, guess), 400, "invalid_code");
    expect((await guardOf(phone))?.fail_count).toBe(8);

    const outcomes = await race(phone, wrongCodes(second, 30).slice(3));
    const evaluated = outcomes.filter((o) => o.code === "invalid_code");
    expect(evaluated.length, JSON.stringify(tally(outcomes))).toBeLessThanOrEqual(2);
    expect(outcomes.filter((o) => o.code !== "invalid_code").every((o) => o.status === 429 && o.code === "too_many_attempts")).toBe(true);
    const guard = await guardOf(phone);
    expect(guard?.fail_count).toBe(8 + evaluated.length);
    expect(guard?.fail_count).toBeLessThanOrEqual(10);
    if (evaluated.length === 2) {
      expect(guard?.locked_until).toBe(Date.now() + HOUR);
      const locked = await expectProblem(await verifyCode(phone, second), 429, "too_many_attempts");
      expect(locked.retry_after).toBe(3600);
    }
  });

  it("20 parallel right guesses give exactly one success; the others answer code_expired", async () => {
    const { user } = await signIn();
    advance(61 * SECOND);
    const code = await sendCode(user.phone);
    const outcomes = await race(user.phone, Array(20).fill(code));
    expect(tally(outcomes)).toEqual({ "200 ok": 1, "400 code_expired": 19 });
    expect(outcomes.find((o) => o.status === 200)).toMatchObject({ is_new_user: false, user: { id: user.id } });
    expect(await row("SELECT count(*) AS n FROM sessions WHERE user_id = ?", user.id)).toEqual({ n: 2 });
    expect((await challengeOf(user.phone))?.consumed_at).not.toBeNull();
    // Right guesses are not failures, won or lost.
    expect((await guardOf(user.phone))?.fail_count).toBe(0);
  });

  it("20 parallel first sign-ins of a new phone create exactly one user", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const outcomes = await race(phone, Array(20).fill(code));
    const winners = outcomes.filter((o) => o.status === 200);
    expect(winners, JSON.stringify(tally(outcomes))).toHaveLength(1);
    expect(winners[0]).toMatchObject({ is_new_user: true });
    expect(await userCount(phone)).toBe(1);
    const created = await row<{ id: string }>("SELECT id FROM users WHERE phone = ?", phone);
    expect(created?.id).toBe(winners[0]?.user?.id);
    expect(await row("SELECT count(*) AS n FROM sessions WHERE user_id = ?", created?.id)).toEqual({ n: 1 });
    expect(tally(outcomes)).toEqual({ "200 ok": 1, "400 code_expired": 19 });
  });

  it("mixed parallel right and wrong guesses: at most one success, at most 5 evaluated, failures counted exactly", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const wrong = wrongCodes(code, 10);
    const guesses = wrong.flatMap((guess) => [guess, code]);
    const outcomes = await race(phone, guesses);
    const counts = tally(outcomes);
    const allowed = ["200 ok", "400 invalid_code", "400 code_expired", "429 too_many_attempts"];
    expect(
      Object.keys(counts).every((key) => allowed.includes(key)),
      JSON.stringify(counts),
    ).toBe(true);
    const successes = counts["200 ok"] ?? 0;
    const invalid = counts["400 invalid_code"] ?? 0;
    expect(successes).toBeLessThanOrEqual(1);
    expect(invalid).toBeLessThanOrEqual(5);
    expect(successes + invalid).toBeLessThanOrEqual(5);
    // Only wrong guesses were ever answered invalid_code.
    outcomes.forEach((outcome, i) => {
      if (outcome.code === "invalid_code") expect(guesses[i]).not.toBe(code);
      if (outcome.status === 200) expect(guesses[i]).toBe(code);
    });
    expect((await challengeOf(phone))?.attempts).toBeLessThanOrEqual(5);
    expect((await guardOf(phone))?.fail_count).toBe(invalid);
    expect(await userCount(phone)).toBe(successes);
    if (successes === 1) await expectProblem(await verifyCode(phone, code), 400, "code_expired");
  });
});

describe("guesses racing with every reservation decided before any evaluation", () => {
  it("30 wrong guesses all reserved before any is evaluated: exactly 5 evaluated, attempts_left 4..0", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const outcomes = await gatedRace(phone, wrongCodes(code, 30));
    expect(tally(outcomes)).toEqual({ "400 invalid_code": 5, "429 too_many_attempts": 25 });
    const lefts = outcomes.filter((o) => o.code === "invalid_code").map((o) => o.attempts_left);
    expect(lefts.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(await challengeOf(phone)).toMatchObject({ attempts: 5 });
    expect((await guardOf(phone))?.fail_count).toBe(5);
  });

  it("right guesses racing the winner answer code_expired, not too_many_attempts", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const outcomes = await gatedRace(phone, Array(20).fill(code));
    expect(tally(outcomes)).toEqual({ "200 ok": 1, "400 code_expired": 19 });
    expect(await userCount(phone)).toBe(1);
    expect((await guardOf(phone))?.fail_count).toBe(0);
  });

  it("right guesses racing a winner that used the code's last attempt answer code_expired", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    for (const guess of wrongCodes(code, 4)) await expectProblem(await verifyCode(phone, guess), 400, "invalid_code");
    const outcomes = await gatedRace(phone, Array(10).fill(code));
    expect(tally(outcomes)).toEqual({ "200 ok": 1, "400 code_expired": 9 });
    expect(await userCount(phone)).toBe(1);
  });

  it("parallel first sign-ins held at the same point still create exactly one user and one session", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const outcomes = await gatedRace(phone, Array(20).fill(code));
    const winners = outcomes.filter((o) => o.status === 200);
    expect(winners, JSON.stringify(tally(outcomes))).toHaveLength(1);
    expect(await userCount(phone)).toBe(1);
    expect(await row("SELECT count(*) AS n FROM sessions WHERE user_id = ?", winners[0]?.user?.id)).toEqual({ n: 1 });
  });
});

describe("sends under concurrency", () => {
  it("10 parallel sends to one phone issue exactly one code; the rest answer resend_too_soon", async () => {
    const phone = freshPhone();
    const responses = await Promise.all(Array.from({ length: 10 }, () => requestCode(phone)));
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([200, ...Array(9).fill(429)]);
    const bodies = await Promise.all(responses.map((response) => response.json() as Promise<Record<string, unknown>>));
    const refused = bodies.filter((body) => body.code !== undefined && typeof body.dev_code !== "string");
    expect(refused.map((body) => body.code)).toEqual(Array(9).fill("resend_too_soon"));
    expect(await guardOf(phone)).toMatchObject({ hour_count: 1, day_count: 1 });
    const issued = bodies.find((body) => typeof body.dev_code === "string");
    expect((await verifyCode(phone, String(issued?.dev_code))).status).toBe(200);
  });
});
