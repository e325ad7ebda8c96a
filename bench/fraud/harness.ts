import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { inject, it, vi } from "vitest";
import { loadConfig } from "../../src/config";
import { priceOf } from "../../src/delivery/prices";
import worker from "../../src/index";
import { parsePhone } from "../../src/phone";
import { variantEnv } from "../../test/otp-helpers";
import {
  DAY,
  HOUR,
  legitPrefixes,
  legitSendTimes,
  MINUTE,
  pickPrefix,
  type Random,
  SECOND,
  SENDS_PER_DAY,
  seededRandom,
  verifyDelay,
} from "./population";

// The fraud simulation (`npm run bench:fraud`, issue #18): a legitimate population and the attacks
// a scenario file describes, replayed in time order on the injected clock against the real Worker
// (workerd, fresh D1 and KV per scenario file), only through its HTTP API. At the end an admin
// lists the blocks, and one `[bench:fraud] {json}` line carries the scenario's numbers to Node
// (bench/fraud/vitest.config.ts appends it to the file bench/suites/fraud.mjs reads).

declare module "vitest" {
  interface ProvidedContext {
    /** Set by bench/fraud/vitest.config.ts from BENCH_FRAUD_SCALE, BENCH_FRAUD_SEED and DELIVERY_PRICES. */
    fraudScale: number;
    fraudSeed: number;
    fraudPrices: string;
  }
}

/** The line prefix bench/fraud/vitest.config.ts picks results out of the logs by (RESULT_MARK there). */
const RESULT_MARK = "[bench:fraud] ";

/** One attack: `sends` codes asked for, evenly spread over `over` ms from `start`, round-robin over `prefixes`. */
export type Attack = {
  label: string;
  /** Prefixes (E.164 without the last 4 digits) it pumps; each send goes to a number never used before. */
  prefixes: string[];
  /** Offset from the scenario's start (ms). */
  start: number;
  sends: number;
  over: number;
  /** Client addresses: that many, taken in turn (the per-IP windows apply), or a fresh one per send. */
  ips: number | "fresh";
};

/** A scenario: the legitimate population over `hours` from `fromHour` (UTC) of a Monday, plus attacks. */
export type Scenario = {
  key: string;
  label: string;
  /** One sentence for the report. */
  description: string;
  fromHour: number;
  hours: number;
  attacks: Attack[];
};

/** Every number is checked by the Worker's own parser: an invalid one would measure nothing. */
function numberIn(prefix: string, used: Set<string>, random: Random): { e164: string; country: string } {
  for (let tries = 0; tries < 1000; tries++) {
    const e164 = `${prefix}${String(Math.floor(random() * 10_000)).padStart(4, "0")}`;
    if (used.has(e164)) continue;
    const phone = parsePhone(e164);
    if (!phone || phone.e164 !== e164) throw new Error(`${e164} (prefix ${prefix}) is not a valid mobile number`);
    used.add(e164);
    return { e164, country: phone.country };
  }
  throw new Error(`prefix ${prefix} has no unused number left`);
}

/** A min-heap of timed actions: equal times run in the order they were scheduled. */
class Timeline {
  private heap: { at: number; seq: number; run: () => Promise<void> }[] = [];
  private seq = 0;
  schedule(at: number, run: () => Promise<void>) {
    const heap = this.heap;
    heap.push({ at, seq: this.seq++, run });
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent] as (typeof heap)[number], heap[i] as (typeof heap)[number]];
      i = parent;
    }
  }
  next() {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < heap.length && before(heap[left], heap[least])) least = left;
        if (right < heap.length && before(heap[right], heap[least])) least = right;
        if (least === i) break;
        [heap[i], heap[least]] = [heap[least] as (typeof heap)[number], heap[i] as (typeof heap)[number]];
        i = least;
      }
    }
    return top;
  }
}

const before = (a?: { at: number; seq: number }, b?: { at: number; seq: number }) =>
  !!a && !!b && (a.at < b.at || (a.at === b.at && a.seq < b.seq));

/** One send: who asked (-1: the population, else the attack's index), the answer, and when its code was verified. */
type Outcome = { at: number; who: number; prefix: string; country: string; status: number; code: string | null; verifiedAt?: number };
type BlockOut = {
  scope: "prefix" | "country";
  value: string;
  source: string;
  created_at: string;
  until: string;
  tripped: { sends: number; judged: number; verified: number } | null;
};

const ADMIN_PHONE = "+16505550100";
const ADMIN_CODE = "123456";

/** Registers the scenario as one test of its own file (so it gets fresh storage). */
export function runScenario(scenario: Scenario) {
  it(scenario.label, async () => {
    try {
      console.log(`${RESULT_MARK}${JSON.stringify(await simulate(scenario))}`);
    } finally {
      vi.useRealTimers();
    }
  });
}

async function simulate(scenario: Scenario) {
  const random = seededRandom(inject("fraudSeed") * 7919 + [...scenario.key].reduce((sum, c) => sum * 31 + c.charCodeAt(0), 0));
  const benchEnv = variantEnv({
    ADMIN_PHONES: ADMIN_PHONE,
    TEST_PHONES: `${ADMIN_PHONE}:${ADMIN_CODE}`,
    DELIVERY_PRICES: inject("fraudPrices"),
  });
  const loaded = loadConfig(benchEnv);
  if (!loaded.ok) throw new Error(`bench config refused: ${loaded.problems.join("; ")}`);
  const config = loaded.config;

  let ipCount = 0;
  const freshIp = (attacker: boolean) => {
    ipCount++;
    return `10.${(attacker ? 128 : 0) + ((ipCount >> 16) & 127)}.${(ipCount >> 8) & 255}.${ipCount & 255}`;
  };
  async function post(path: string, ip: string, body: unknown, token?: string, method = "POST") {
    const headers: Record<string, string> = { "CF-Connecting-IP": ip };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const ctx = createExecutionContext();
    const request = new Request(`http://api.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const response = await worker.fetch(request, benchEnv, ctx);
    // Work the Worker defers past its answer (edge marks, delivery records) lands before the next event.
    await waitOnExecutionContext(ctx);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  const start = Date.UTC(2026, 5, 1, scenario.fromHour); // a Monday
  const end = start + scenario.hours * HOUR;
  const timeline = new Timeline();
  const used = new Set<string>();
  const outcomes: Outcome[] = [];
  const verifies = { ok: 0, failed: {} as Record<string, number> };

  async function send(at: number, who: number, prefix: string, ip: string, converts: boolean) {
    const { e164, country } = numberIn(prefix, used, random);
    const answer = await post("/v1/auth/otp", ip, { phone: e164 });
    const outcome: Outcome = { at, who, prefix, country, status: answer.status, code: (answer.body.code as string | undefined) ?? null };
    outcomes.push(outcome);
    if (answer.status !== 200 || !converts) return;
    const code = String(answer.body.dev_code);
    const verifyAt = at + verifyDelay(random);
    timeline.schedule(verifyAt, async () => {
      const verified = await post("/v1/auth/otp/verify", ip, { phone: e164, code });
      if (verified.status === 200) {
        verifies.ok++;
        outcome.verifiedAt = verifyAt;
      } else verifies.failed[String(verified.body.code)] = (verifies.failed[String(verified.body.code)] ?? 0) + 1;
    });
  }

  // The legitimate population: each person from an address of their own, verifying with their prefix's conversion.
  const population = legitPrefixes(random);
  for (const at of legitSendTimes(random, start, end, SENDS_PER_DAY * inject("fraudScale"))) {
    const chosen = pickPrefix(random, population);
    const converts = random() < chosen.conversion;
    timeline.schedule(at, () => send(at, -1, chosen.prefix, freshIp(false), converts));
  }
  // The attacks: pumped numbers never verify.
  scenario.attacks.forEach((attack, index) => {
    const ips = Array.from({ length: attack.ips === "fresh" ? 0 : attack.ips }, () => freshIp(true));
    for (let i = 0; i < attack.sends; i++) {
      const at = start + attack.start + Math.floor((i * attack.over) / attack.sends);
      const prefix = attack.prefixes[i % attack.prefixes.length] as string;
      timeline.schedule(at, () => send(at, index, prefix, attack.ips === "fresh" ? freshIp(true) : (ips[i % ips.length] as string), false));
    }
  });

  vi.useFakeTimers({ toFake: ["Date"] });
  let events = 0;
  for (let next = timeline.next(); next; next = timeline.next()) {
    vi.setSystemTime(next.at);
    await next.run();
    // Each send arms real-time timers (the delivery deadlines) that workerd only fires when the
    // isolate waits on a timer; without this pause they pile up to its 10,000 active timers.
    if (++events % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }

  // An admin (a test phone, which no block can refuse) reads the blocks at the end.
  vi.setSystemTime(Math.max(end, Date.now()) + SECOND);
  const adminIp = freshIp(false);
  const asked = await post("/v1/auth/otp", adminIp, { phone: ADMIN_PHONE });
  const signedIn = await post("/v1/auth/otp/verify", adminIp, { phone: ADMIN_PHONE, code: ADMIN_CODE });
  if (asked.status !== 200 || signedIn.status !== 200) throw new Error(`admin sign-in failed: ${asked.status} ${signedIn.status}`);
  const blocks: BlockOut[] = [];
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page = await post(
      `/v1/admin/fraud/blocks?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      adminIp,
      undefined,
      String(signedIn.body.access_token),
      "GET",
    );
    if (page.status !== 200) throw new Error(`GET /v1/admin/fraud/blocks answered ${page.status}`);
    blocks.push(...(page.body.items as BlockOut[]));
    cursor = (page.body.next_cursor as string | null) ?? null;
  }

  return summarize({ scenario, config, start, events, outcomes, verifies, blocks, population });
}

type Summary = {
  scenario: Scenario;
  config: Extract<ReturnType<typeof loadConfig>, { ok: true }>["config"];
  start: number;
  events: number;
  outcomes: Outcome[];
  verifies: { ok: number; failed: Record<string, number> };
  blocks: BlockOut[];
  population: ReturnType<typeof legitPrefixes>;
};

type RuleView = { at: number; sends: number; judged: number; verified: number };

/**
 * The contract's rule replayed from the outcomes (in time order): codes sent in the window up to
 * `at`, and of them the judged and the verified ones at `at`.
 */
function ruleView(outcomes: Outcome[], at: number, mine: (outcome: Outcome) => boolean, config: Summary["config"]): RuleView {
  const view = { at, sends: 0, judged: 0, verified: 0 };
  const from = at - config.FRAUD_WINDOW_SECONDS * SECOND;
  let low = 0;
  for (let high = outcomes.length; low < high; ) {
    const middle = (low + high) >> 1;
    if ((outcomes[middle] as Outcome).at <= from) low = middle + 1;
    else high = middle;
  }
  for (let i = low; i < outcomes.length && (outcomes[i] as Outcome).at <= at; i++) {
    const outcome = outcomes[i] as Outcome;
    if (outcome.status !== 200 || !mine(outcome)) continue;
    const verified = outcome.verifiedAt !== undefined && outcome.verifiedAt <= at;
    view.sends++;
    if (verified) view.verified++;
    if (verified || outcome.at <= at - config.FRAUD_GRACE_SECONDS * SECOND) view.judged++;
  }
  return view;
}

/**
 * Over the accepted sends `sent`, the lowest conversion the rule could see for their prefix and
 * their country, counting only the sends `counted` keeps.
 */
function lowestViews(outcomes: Outcome[], sent: Outcome[], config: Summary["config"], counted = (_: Outcome) => true) {
  const lowest = { prefix: null as RuleView | null, country: null as RuleView | null };
  for (const { at, prefix, country } of sent) {
    for (const scope of ["prefix", "country"] as const) {
      const view = ruleView(outcomes, at, (o) => counted(o) && (scope === "prefix" ? o.prefix === prefix : o.country === country), config);
      const minSends = scope === "prefix" ? config.FRAUD_MIN_SENDS : config.FRAUD_COUNTRY_MIN_SENDS;
      if (view.sends < minSends || view.judged === 0) continue;
      const known = lowest[scope];
      if (!known || view.verified / view.judged < known.verified / known.judged) lowest[scope] = view;
    }
  }
  return lowest;
}

function summarize({ scenario, config, start, events, outcomes, verifies, blocks, population }: Summary) {
  const price = (country: string) => priceOf(config.delivery.prices, "sms", "console", country, 1);
  const windows = blocks.map((block) => ({ ...block, from: Date.parse(block.created_at), to: Date.parse(block.until) }));
  const covers = (block: (typeof windows)[number], prefix: string, country: string) =>
    block.scope === "prefix" ? block.value === prefix : block.value === country;
  // Strictly after its creation: the send that trips a block was accepted before the block existed.
  const activeAt = (at: number, prefix: string, country: string) =>
    windows.filter((block) => block.from < at && at < block.to && covers(block, prefix, country));
  const countryOf = new Map(outcomes.map((outcome) => [outcome.prefix, outcome.country]));
  // A block is the attack's when it covers a destination the attack sent to.
  const attackOf = (block: (typeof windows)[number]) =>
    scenario.attacks.findIndex((attack) => attack.prefixes.some((prefix) => covers(block, prefix, countryOf.get(prefix) ?? "")));
  const count = (list: Outcome[], test: (outcome: Outcome) => boolean) => list.filter(test).length;
  const other = (list: Outcome[]) => {
    const found: Record<string, number> = {};
    for (const outcome of list) {
      if (outcome.status === 200 || outcome.code === "destination_blocked" || outcome.code === "rate_limited") continue;
      const key = `${outcome.status} ${outcome.code}`;
      found[key] = (found[key] ?? 0) + 1;
    }
    return found;
  };

  const legit = outcomes.filter((outcome) => outcome.who === -1);
  const triggerOf = (at: number) => {
    const found = outcomes.find((outcome) => outcome.at === at && outcome.status === 200);
    if (!found) return null;
    return found.who === -1 ? "a legitimate send" : (scenario.attacks[found.who]?.label ?? null);
  };
  const legitBlocked = legit.filter((outcome) => outcome.code === "destination_blocked");
  const collateral = count(legitBlocked, (outcome) => activeAt(outcome.at, outcome.prefix, outcome.country).some((b) => attackOf(b) >= 0));
  // The most legitimate sends one prefix, one country and the whole population had in a clock hour.
  const hourly = (key: (outcome: Outcome) => string) => {
    const counts = new Map<string, number>();
    for (const outcome of legit) {
      const bucket = `${key(outcome)}@${Math.floor(outcome.at / HOUR)}`;
      counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
    }
    const [bucket, most] = [...counts].reduce((top, entry) => (entry[1] > top[1] ? entry : top), ["", 0]);
    return { key: bucket.split("@")[0] ?? "", sends: most };
  };
  const busiestPrefix = hourly((outcome) => outcome.prefix);
  // How close real traffic alone came to a block: the lowest conversion of its own codes in a window.
  const legitLowest = lowestViews(
    outcomes,
    legit.filter((outcome) => outcome.status === 200),
    config,
    (outcome) => outcome.who === -1,
  );

  const attacks = scenario.attacks.map((attack, index) => {
    const mine = outcomes.filter((outcome) => outcome.who === index);
    const attackStart = start + attack.start;
    const blockedAt = attack.prefixes.map((prefix) => {
      const country = countryOf.get(prefix) ?? "";
      const times = windows.filter((block) => block.from >= attackStart && covers(block, prefix, country)).map((block) => block.from);
      return times.length > 0 ? Math.min(...times) : null;
    });
    const known = blockedAt.filter((at): at is number => at !== null);
    const sent = mine.filter((outcome) => outcome.status === 200);
    const refused = mine.filter((outcome) => outcome.code === "destination_blocked");
    // Codes the attack would have had sent without the block: its attempts, capped by the per-IP
    // windows of its addresses (an address per send never fills one). Only the rest is prevented.
    const unblocked =
      attack.ips === "fresh"
        ? attack.sends
        : Math.min(
            attack.sends,
            attack.ips *
              Math.min(config.OTP_IP_PER_MINUTE * Math.ceil(attack.over / MINUTE), config.OTP_IP_PER_DAY * Math.ceil(attack.over / DAY)),
          );
    const prevented = Math.max(0, unblocked - sent.length);
    // Codes in the attack's busiest hour: in all, to each prefix (round-robin), to each country.
    const perHour = attack.sends * Math.min(1, HOUR / Math.max(attack.over, 1));
    const perPrefix = perHour / attack.prefixes.length;
    const perCountry = Math.max(
      ...[...new Set(attack.prefixes.map((prefix) => countryOf.get(prefix)))].map(
        (country) => perPrefix * attack.prefixes.filter((prefix) => countryOf.get(prefix) === country).length,
      ),
    );
    const firstBlock = known.length > 0 ? (Math.min(...known) - attackStart) / SECOND : null;
    const allBlocked = known.length === attack.prefixes.length ? (Math.max(...known) - attackStart) / SECOND : null;
    // The target: an attack that reaches a send threshold of the rule (a prefix's or a country's) is blocked within the window.
    const expectBlock = perPrefix >= config.FRAUD_MIN_SENDS || perCountry >= config.FRAUD_COUNTRY_MIN_SENDS;
    // What the rule could see: after each of the attack's accepted codes, its prefix's and its country's window.
    const lowest = lowestViews(outcomes, sent, config);
    return {
      label: attack.label,
      prefixes: attack.prefixes.length,
      countries: [...new Set(attack.prefixes.map((prefix) => countryOf.get(prefix)))],
      ips: attack.ips,
      sends: attack.sends,
      overSeconds: attack.over / SECOND,
      perHour,
      perPrefix,
      perCountry,
      startSeconds: attack.start / SECOND,
      attempts: mine.length,
      sent: sent.length,
      sentWhileBlocked: count(sent, (outcome) => activeAt(outcome.at, outcome.prefix, outcome.country).length > 0),
      refused: refused.length,
      rateLimited: count(mine, (outcome) => outcome.code === "rate_limited"),
      other: other(mine),
      spendSent: sent.reduce((sum, outcome) => sum + price(outcome.country), 0),
      codesPrevented: prevented,
      spendPrevented: (prevented * mine.reduce((sum, outcome) => sum + price(outcome.country), 0)) / Math.max(1, mine.length),
      prefixesBlocked: known.length,
      firstBlockSeconds: firstBlock,
      allBlockedSeconds: allBlocked,
      lastSendSeconds: (start + attack.start + attack.over - attackStart) / SECOND,
      lowestPrefixView: lowest.prefix,
      lowestCountryView: lowest.country,
      expectBlock,
      met: expectBlock ? allBlocked !== null && allBlocked <= config.FRAUD_WINDOW_SECONDS : null,
    };
  });

  return {
    key: scenario.key,
    label: scenario.label,
    description: scenario.description,
    from: new Date(start).toISOString(),
    hours: scenario.hours,
    events,
    legit: {
      attempts: legit.length,
      sent: count(legit, (outcome) => outcome.status === 200),
      verified: verifies.ok,
      verifyFailed: verifies.failed,
      blocked: legitBlocked.length,
      collateral,
      falsePositives: legitBlocked.length - collateral,
      rateLimited: count(legit, (outcome) => outcome.code === "rate_limited"),
      other: other(legit),
      peakHour: hourly(() => "all").sends,
      peakPrefix: { ...busiestPrefix, conversion: population.find((entry) => entry.prefix === busiestPrefix.key)?.conversion ?? null },
      peakCountry: hourly((outcome) => outcome.country),
      lowestPrefixView: legitLowest.prefix,
      lowestCountryView: legitLowest.country,
    },
    attacks,
    blocks: windows.map((block) => ({
      scope: block.scope,
      value: block.value,
      source: block.source,
      atSeconds: (block.from - start) / SECOND,
      tripped: block.tripped,
      // The accepted send after which the Worker made the block (same instant on the injected clock).
      trigger: triggerOf(block.from),
      attack: attackOf(block) >= 0 ? (scenario.attacks[attackOf(block)]?.label ?? null) : null,
    })),
    config: {
      FRAUD_GUARD: config.FRAUD_GUARD,
      FRAUD_WINDOW_SECONDS: config.FRAUD_WINDOW_SECONDS,
      FRAUD_MIN_SENDS: config.FRAUD_MIN_SENDS,
      FRAUD_COUNTRY_MIN_SENDS: config.FRAUD_COUNTRY_MIN_SENDS,
      FRAUD_GRACE_SECONDS: config.FRAUD_GRACE_SECONDS,
      FRAUD_MIN_CONVERSION: config.FRAUD_MIN_CONVERSION,
      FRAUD_BLOCK_SECONDS: config.FRAUD_BLOCK_SECONDS,
      OTP_IP_PER_MINUTE: config.OTP_IP_PER_MINUTE,
      OTP_IP_PER_DAY: config.OTP_IP_PER_DAY,
      DELIVERY_PRICES: inject("fraudPrices"),
      pricePerSms: price("*"),
      scale: inject("fraudScale"),
      seed: inject("fraudSeed"),
    },
  };
}
