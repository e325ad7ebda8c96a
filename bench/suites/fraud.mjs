// `npm run bench:fraud` (issue #18): does the automatic fraud block stop SMS pumping without
// refusing real people?
//
// The simulation runs inside workerd, where the clock can be injected: Vitest with the main test
// config's pool (bench/fraud/vitest.config.ts) runs bench/fraud/scenarios/*.bench-test.ts, one file
// (fresh D1 and KV) per scenario. Each replays, in time order on the fake clock, a legitimate
// population (bench/fraud/population.ts: many prefixes, 60–95 % conversion, a daily rhythm) mixed
// with the attacks its file describes, through the Worker's HTTP API only, then reads the blocks
// from GET /v1/admin/fraud/blocks (bench/fraud/harness.ts). Each scenario's numbers come back as a
// JSON line; this file writes bench/FRAUD.md and exits 1 when a target is missed: a legitimate send
// refused by a block no attack caused, or an attack of at least FRAUD_MIN_SENDS codes an hour to a
// prefix (FRAUD_COUNTRY_MIN_SENDS to a country) not blocked within FRAUD_WINDOW_SECONDS.
//
// Env: BENCH_FRAUD_SCALE (legitimate volume, 1 = 5,000 sends a day; smoke 0.2), BENCH_FRAUD_SEED
// (1), DELIVERY_PRICES (the price of an SMS; default sms:console:*=0.05, an assumption),
// BENCH_REPORT_ONLY, BENCH_SMOKE.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { factsMarkdown, fmt, outDir, root, setting, sleep, table } from "../lib/common.mjs";

const SCALE = setting("BENCH_FRAUD_SCALE", 1, 0.2);
const SEED = setting("BENCH_FRAUD_SEED", 1);
const ORDER = ["baseline", "prefix-hammered", "busy-prefix", "country-spread", "slow-drip", "many-ips", "fast-burst"];

/** Runs the scenarios in Vitest (its own process group, stopped on every way out) and reads their lines. */
async function main({ work, cleanup, log, facts }) {
  const out = join(work, "results.jsonl");
  const vitest = join(root, "node_modules", "vitest", "vitest.mjs");
  const env = { ...process.env, BENCH_FRAUD_OUT: out, BENCH_FRAUD_SCALE: String(SCALE), BENCH_FRAUD_SEED: String(SEED) };
  const started = Date.now();
  log(`scenarios at scale ${SCALE} (seed ${SEED}) in vitest: bench/fraud/vitest.config.ts`);
  const child = spawn(process.execPath, [vitest, "run", "-c", "bench/fraud/vitest.config.ts"], {
    cwd: root,
    env,
    detached: true,
    stdio: ["ignore", "inherit", "inherit"],
  });
  let exited = false;
  const exit = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  exit.then(() => {
    exited = true;
  });
  cleanup.add(async () => {
    if (exited) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
    await Promise.race([exit, sleep(10_000)]);
  });
  const code = await exit;
  if (code !== 0) throw new Error(`vitest exited with ${code}`);
  const scenarios = readFileSync(out, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .sort((a, b) => ORDER.indexOf(a.key) - ORDER.indexOf(b.key));
  if (scenarios.length === 0) throw new Error("no scenario reported its numbers");
  return { facts, settings: { SCALE, SEED }, seconds: (Date.now() - started) / 1000, scenarios };
}

const duration = (seconds) => {
  if (seconds === null || seconds === undefined) return "never";
  if (seconds < 120) return `${fmt(seconds, 0)} s`;
  if (seconds < 7200) return `${fmt(seconds / 60, 1)} min`;
  return `${fmt(seconds / 3600, 1)} h`;
};
const money = (value) => fmt(value, 2);
const percent = (view) => `${fmt((100 * view.verified) / view.judged, 0)} %`;
/** The lowest conversion the rule could see for the attack's prefix and country, with its numbers. */
const seen = (attack) =>
  [
    ["prefix", attack.lowestPrefixView],
    ["country", attack.lowestCountryView],
  ]
    .map(([scope, view]) =>
      view ? `${scope} ${percent(view)} (${view.verified}/${view.judged} of ${view.sends})` : `${scope}: under its min sends`,
    )
    .join("; ");
const ipsOf = (ips) => (ips === "fresh" ? "one per send" : String(ips));

/** Whether an attack met its target, in words. */
function verdict(attack, config) {
  if (attack.expectBlock) {
    if (attack.met && attack.firstBlockSeconds > attack.lastSendSeconds) return "✅ blocked within the window, ⚠️ after its last send";
    if (attack.met) return "✅ blocked within the window";
    return attack.allBlockedSeconds === null ? "❌ not blocked" : `❌ blocked after ${duration(attack.allBlockedSeconds)}`;
  }
  const below =
    attack.prefixes > 1
      ? `${fmt(attack.perPrefix, 0)}/h a prefix, ${fmt(attack.perCountry, 0)}/h a country: under FRAUD_MIN_SENDS (${config.FRAUD_MIN_SENDS}) and FRAUD_COUNTRY_MIN_SENDS (${config.FRAUD_COUNTRY_MIN_SENDS})`
      : `${fmt(attack.perPrefix, 0)}/h: under FRAUD_MIN_SENDS (${config.FRAUD_MIN_SENDS})`;
  if (attack.prefixesBlocked === 0) return `n/a: ${below} by design`;
  return `blocked although ${below}`;
}

/** Things worth a reader's attention, found in the numbers rather than written by hand. */
function observations(scenarios) {
  const notes = [];
  for (const scenario of scenarios) {
    for (const attack of scenario.attacks) {
      const last = attack.lastSendSeconds;
      if (attack.firstBlockSeconds !== null && attack.firstBlockSeconds > last) {
        notes.push(
          `**${scenario.label} / ${attack.label}**: the block came ${duration(attack.firstBlockSeconds - last)} after the attack's last send, so it prevented nothing (${attack.sent} of ${attack.attempts} codes sent).`,
        );
      }
      if (attack.expectBlock && !attack.met) {
        notes.push(
          `**${scenario.label} / ${attack.label}**: not blocked in time. The lowest conversion the rule could see after one of its codes (verified/judged of sends in the window): ${seen(attack)}; it blocks under ${scenario.config.FRAUD_MIN_CONVERSION * 100} %.`,
        );
      }
      if (attack.sentWhileBlocked > 0) {
        notes.push(
          `**${scenario.label} / ${attack.label}**: ${attack.sentWhileBlocked} codes were sent while a block covered their destination.`,
        );
      }
      for (const [answer, n] of Object.entries(attack.other))
        notes.push(`**${scenario.label} / ${attack.label}**: ${n} sends answered ${answer}.`);
    }
    for (const block of scenario.blocks) {
      const young = block.tripped ? block.tripped.sends - block.tripped.judged : 0;
      if (block.attack && young >= 50) {
        notes.push(
          `**${scenario.label} / ${block.attack}**: when ${block.scope} ${block.value} was blocked, ${young} of its ${block.tripped.sends} codes in the window were younger than FRAUD_GRACE_SECONDS (${scenario.config.FRAUD_GRACE_SECONDS} s), so not judged yet: a fast attack gets that long for free.`,
        );
      }
      if (block.attack && block.trigger === "a legitimate send") {
        notes.push(
          `**${scenario.label} / ${block.attack}**: the ${block.scope} block of ${block.value} was made after a real user's send to it: the rule is judged only when a code is sent.`,
        );
      }
    }
    const countryBlocks = scenario.blocks.filter((block) => block.scope === "country");
    if (scenario.legit.collateral > 0) {
      const via = countryBlocks.length > 0 ? ` (country blocks: ${countryBlocks.map((block) => block.value).join(", ")})` : "";
      notes.push(
        `**${scenario.label}**: ${scenario.legit.collateral} legitimate sends were refused by a block an attack caused${via}: real users of the attacked destination, refused until the block ends (FRAUD_BLOCK_SECONDS).`,
      );
    }
    if (scenario.legit.falsePositives > 0) {
      notes.push(`**${scenario.label}**: ${scenario.legit.falsePositives} legitimate sends were refused by a block no attack caused.`);
    }
    for (const [answer, n] of Object.entries(scenario.legit.other))
      notes.push(`**${scenario.label}**: ${n} legitimate sends answered ${answer}.`);
    for (const [answer, n] of Object.entries(scenario.legit.verifyFailed))
      notes.push(`**${scenario.label}**: ${n} legitimate verifies answered ${answer}.`);
  }
  return notes;
}

function render(results) {
  const { scenarios, settings } = results;
  const config = scenarios[0].config;
  const attacks = scenarios.flatMap((scenario) => scenario.attacks.map((attack) => ({ scenario, attack })));
  const baseline = scenarios.find((scenario) => scenario.key === "baseline");
  const expected = attacks.filter(({ attack }) => attack.expectBlock);
  const caught = expected.filter(({ attack }) => attack.met);
  const notes = observations(scenarios);
  const legitTotal = scenarios.reduce((sum, scenario) => sum + scenario.legit.attempts, 0);
  return `# Fraud guard: SMS pumping against a real population

Generated by \`npm run bench:fraud\` (bench/suites/fraud.mjs) in ${fmt(results.seconds / 60, 1)} min. Each scenario is a file in
\`bench/fraud/scenarios/\`; the real Worker runs in workerd (\`@cloudflare/vitest-pool-workers\`, fresh D1 and KV per scenario)
and is called only through its HTTP API, one request at a time in simulated time order on an injected clock: legitimate
people ask for a code and most of them enter it, attackers ask for codes and never enter them. At the end an admin reads
\`GET /v1/admin/fraud/blocks\`.

## Targets

${table(
  ["target", "result", "met"],
  ["l", "l", "l"],
  [
    [
      "zero legitimate sends blocked in the normal population (baseline)",
      baseline ? `${baseline.legit.blocked} of ${baseline.legit.attempts} blocked, ${baseline.blocks.length} blocks` : "baseline not run",
      baseline && baseline.legit.blocked === 0 && baseline.blocks.length === 0 ? "✅" : "❌",
    ],
    [
      `every attack of at least FRAUD_MIN_SENDS (${config.FRAUD_MIN_SENDS}) codes an hour to a prefix (or FRAUD_COUNTRY_MIN_SENDS, ${config.FRAUD_COUNTRY_MIN_SENDS}, to a country) blocked within FRAUD_WINDOW_SECONDS (${config.FRAUD_WINDOW_SECONDS} s)`,
      `${caught.length} of ${expected.length}`,
      caught.length === expected.length ? "✅" : "❌",
    ],
    [
      "no legitimate send refused by a block no attack caused (every scenario)",
      `${scenarios.reduce((sum, scenario) => sum + scenario.legit.falsePositives, 0)} of ${legitTotal}`,
      scenarios.every((scenario) => scenario.legit.falsePositives === 0) ? "✅" : "❌",
    ],
  ],
)}

## Attacks

"Sent" is codes a provider accepted (what the attacker is paid for); "refused by the block" answered 403
\`destination_blocked\`; "refused by IP limits" answered 429 \`rate_limited\`. "Spend prevented" counts only the codes the
block kept from going out: what the attack would have had sent without it (its attempts, capped by the per-IP windows of
its addresses, ${config.OTP_IP_PER_MINUTE} a minute and ${config.OTP_IP_PER_DAY} a day each) minus what it had sent. Spend is at ${config.pricePerSms} per SMS
(\`DELIVERY_PRICES=${config.DELIVERY_PRICES}\`${config.DELIVERY_PRICES === "sms:console:*=0.05" ? ", an assumption: one segment per code" : ""}).
Time to block is the block's \`created_at\` minus the attack's first send: the first of its destinations / all of them.
An attacker keeps to its plan after a block (it does not give up), so "spend prevented" is measured against the whole plan.

${table(
  [
    "scenario",
    "attack",
    "rate",
    "client IPs",
    "attempts",
    "sent",
    "refused by the block",
    "refused by IP limits",
    "spend let through",
    "spend prevented",
    "time to block",
    "lowest conversion the rule saw (verified/judged of sends)",
    "target",
  ],
  ["l", "l", "r", "l", "r", "r", "r", "r", "r", "r", "l", "l", "l"],
  attacks.map(({ scenario, attack }) => [
    scenario.label,
    `${attack.label} (${attack.prefixes} prefix${attack.prefixes > 1 ? "es" : ""}, ${attack.countries.join(", ")})`,
    attack.prefixes > 1 ? `${attack.perHour}/h (${fmt(attack.perPrefix, 0)}/h a prefix)` : `${attack.perHour}/h`,
    ipsOf(attack.ips),
    String(attack.attempts),
    String(attack.sent),
    String(attack.refused),
    String(attack.rateLimited),
    money(attack.spendSent),
    `${money(attack.spendPrevented)} (${attack.codesPrevented} codes)`,
    attack.prefixes > 1 && attack.firstBlockSeconds !== attack.allBlockedSeconds
      ? `${duration(attack.firstBlockSeconds)} / ${duration(attack.allBlockedSeconds)}${attack.allBlockedSeconds === null ? ` (${attack.prefixesBlocked} of ${attack.prefixes})` : ""}`
      : duration(attack.firstBlockSeconds),
    seen(attack),
    verdict(attack, config),
  ]),
)}

## Legitimate sends

"Blocked, collateral" are real users of a destination an attack made the guard block (its prefix, or its whole country);
"blocked, false positive" are real users refused by a block no attack caused.

${table(
  [
    "scenario",
    "simulated",
    "legitimate sends",
    "verified",
    "blocked, false positive",
    "blocked, collateral",
    "busiest prefix (sends in a clock hour, conversion)",
    "busiest country (sends in a clock hour)",
    "lowest conversion of real traffic alone in a window (verified/judged of sends)",
  ],
  ["l", "l", "r", "r", "r", "r", "l", "l", "l"],
  scenarios.map((scenario) => [
    scenario.label,
    `${scenario.hours} h from ${scenario.from.slice(11, 16)} UTC`,
    String(scenario.legit.attempts),
    `${scenario.legit.verified} (${fmt((100 * scenario.legit.verified) / Math.max(1, scenario.legit.sent), 0)} %)`,
    String(scenario.legit.falsePositives),
    String(scenario.legit.collateral),
    `${scenario.legit.peakPrefix.key}xxxx: ${scenario.legit.peakPrefix.sends} (${fmt(100 * (scenario.legit.peakPrefix.conversion ?? Number.NaN), 0)} %)`,
    `${scenario.legit.peakCountry.key}: ${scenario.legit.peakCountry.sends}`,
    seen(scenario.legit),
  ]),
)}

## Blocks made

${table(
  [
    "scenario",
    "scope",
    "value",
    "source",
    "created (from the scenario's start)",
    "tripped: sent / judged / verified",
    "caused by",
    "made after",
  ],
  ["l", "l", "l", "l", "r", "r", "l", "l"],
  scenarios.flatMap((scenario) =>
    scenario.blocks.map((block) => [
      scenario.label,
      block.scope,
      block.value,
      block.source,
      duration(block.atSeconds),
      block.tripped ? `${block.tripped.sends} / ${block.tripped.judged} / ${block.tripped.verified}` : "n/a",
      block.attack ?? "**no attack (false positive)**",
      block.trigger ?? "?",
    ]),
  ),
)}

${notes.length > 0 ? `## What the numbers show\n\n${notes.map((note) => `- ${note}`).join("\n")}\n` : ""}
## Scenarios

${scenarios.map((scenario) => `- **${scenario.label}** (\`${scenario.key}\`, ${scenario.hours} h from ${scenario.from.slice(11, 16)} UTC, ${scenario.events} requests): ${scenario.description}`).join("\n")}

## The population and the settings

- Legitimate volume: ${Math.round(5000 * settings.SCALE).toLocaleString("en")} sends a day (\`BENCH_FRAUD_SCALE=${settings.SCALE}\`), a Poisson process whose
  hourly rate follows one daily curve (UTC for every country: night ≈ 0.12×, evening peak ≈ 1.7× the mean); countries RU 60 %,
  BY 15 %, KZ 10 %, IR 10 %, DE 5 %, 43 prefixes whose share falls as 1/rank within a country. Each prefix converts at a rate
  drawn from 60–95 %; the busiest prefix gets 60 %, the worst real case the rule must spare. A person who converts enters
  the code after a lognormal delay (median 25 s, σ 0.9, 3–250 s: about 4 % after the 120 s grace). Each person asks and
  verifies from an address of their own; every number is new and valid (the Worker's own libphonenumber-js \`mobile\` metadata).
- Attacks never verify. A scenario's attack sends are evenly spaced over its duration, round-robin over its prefixes.
- Requests run one at a time and each waits for the work its request deferred (delivery record, block, KV copies), so no
  send races the block decision; concurrency at the edge is not simulated.
- Seed \`BENCH_FRAUD_SEED=${settings.SEED}\`; the same seed replays the same run.

${table(
  ["setting", "value"],
  ["l", "r"],
  Object.entries(config).map(([name, value]) => [name, String(value)]),
)}

${factsMarkdown(results.facts)}
`;
}

export default {
  name: "fraud",
  timeoutMs: 20 * 60_000,
  main,
  raw: () => join(outDir, "fraud-last.json"),
  report: () => join(root, "bench", "FRAUD.md"),
  render,
  biome: true,
  exitCode: (results, log) => {
    const missed = [];
    for (const scenario of results.scenarios) {
      if (scenario.legit.falsePositives > 0) missed.push(`${scenario.key}: ${scenario.legit.falsePositives} legitimate sends blocked`);
      for (const block of scenario.blocks)
        if (block.attack === null) missed.push(`${scenario.key}: ${block.scope} ${block.value} blocked, no attack there`);
      for (const attack of scenario.attacks)
        if (attack.expectBlock && !attack.met) missed.push(`${scenario.key}: ${attack.label} not blocked in time`);
    }
    log(missed.length === 0 ? "every target met" : `targets missed: ${missed.join("; ")}`);
    return missed.length === 0 ? 0 : 1;
  },
};
