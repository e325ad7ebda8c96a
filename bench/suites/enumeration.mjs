// `npm run bench:enumeration` (issue #10): can the response time tell a phone that has an
// account from one that has none?
//
// It runs the real Worker with `wrangler dev` (throwaway --persist-to dir, migrations applied,
// fresh dev secrets), seeds accounts through the API (POST /v1/auth/otp, sandbox dev_code,
// POST /v1/auth/otp/verify, then PUT /v1/me/password right after sign-in for the accounts that get
// a password), keeps phones that are never signed up, and then times, one request at a time:
//   send_login      POST /v1/auth/otp {purpose: login}            account vs no account
//   send_reset      POST /v1/auth/otp {purpose: reset_password}   account with a password /
//                                                                 account without one vs no account
//   password_login  POST /v1/auth/password/login, wrong password  the same three groups
// Requests are interleaved in blocks (one sample of every group of every comparison, in random
// order), so drift of this shared machine lands on every group alike. Per group: n, median,
// p25/p75/p90; per comparison: difference of medians with a bootstrap 95% CI, a Mann-Whitney U
// test, and the answers (status, problem code, body keys and values but the phone and the code,
// header names) which must be identical. Writes bench/ENUMERATION.md; exits 1 when a difference is
// not within noise or an answer differs. Every wait is bounded; processes and temp dirs are removed
// on exit.
//
// SMS goes through the production `webhook` provider to a sink in this process that answers 200
// after BENCH_SMS_DELAY_MS, a stand-in for a provider's round trip.
//
// Env: BENCH_SAMPLES (per group, default 300), BENCH_SAMPLE_SECONDS (time bound of the sampling,
// 240), BENCH_ACCOUNTS (accounts with a password, 100), BENCH_NO_PASSWORD (accounts without, 80),
// BENCH_UNKNOWN (phones never signed up, 100), BENCH_SMS_DELAY_MS (20), BENCH_SEED (PRNG seed),
// BENCH_REPORT_ONLY (rewrite ENUMERATION.md from bench/.out/enumeration-last.json, no run),
// BENCH_ONLY (comma-separated comparison ids: a subset, reported to bench/.out/enumeration-partial.md),
// BENCH_SMOKE (a quick end-to-end check: 20 accounts, 60 samples, report to bench/.out/).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { join } from "node:path";
import { parsePhoneNumberFromString } from "libphonenumber-js/mobile";
import { factsMarkdown, fmt, foreignLoad, freePort, outDir, quantile, root, setting, sleep, withTimeout } from "../lib/common.mjs";
import { addresses, call, inParallel, signIn } from "../lib/http.mjs";
import { benchConfig, buildWorker, cpuOfAll, devEnvFile, migratedPersistDir, startWranglerDev } from "../lib/workers.mjs";

const SAMPLES = setting("BENCH_SAMPLES", 300, 60);
const SAMPLE_SECONDS = setting("BENCH_SAMPLE_SECONDS", 240, 30);
const ACCOUNTS = setting("BENCH_ACCOUNTS", 100, 20);
const NO_PASSWORD = setting("BENCH_NO_PASSWORD", 80, 20);
const UNKNOWN = setting("BENCH_UNKNOWN", 100, 20);
const SMS_DELAY_MS = setting("BENCH_SMS_DELAY_MS", 20);
const SEED = setting("BENCH_SEED", Date.now() % 2 ** 31);
const WARMUP_BLOCKS = setting("BENCH_WARMUP_BLOCKS", 10, 2);
const BOOTSTRAP = 2000;
// "Within noise": the CI of the difference of medians includes 0, or the difference is under
// max(THRESHOLD_MS, THRESHOLD_SHARE × the no-account median). Why: see the report's method section.
const THRESHOLD_MS = 1;
const THRESHOLD_SHARE = 0.05;
// The production password lockout (PASSWORD_LOCKOUT_FAILURES, 5) is kept: each phone takes at most
// 4 wrong passwords, so no phone is ever locked and every sample runs the hashing path.
const GUESSES_PER_PHONE = 4;
// Raised for this bench only (src/config.ts: positive integers). Same code, same SQL.
const RAISED = {
  OTP_RESEND_SECONDS: {
    value: 1,
    default: 60,
    why: "a phone may get its next code after 1 s, so each phone can be sampled more than once a minute",
  },
  OTP_HOURLY_LIMIT: { value: 100_000, default: 5, why: "per-phone sends per hour" },
  OTP_DAILY_LIMIT: { value: 100_000, default: 10, why: "per-phone sends per day" },
};
// ---------------------------------------------------------------- randomness (seeded, so a run can be replayed)

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const random = mulberry32(SEED);

function shuffle(items) {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// ---------------------------------------------------------------- the Worker and the SMS sink

/**
 * Bundles the Worker once, as `wrangler deploy` would (a dry run), and writes a copy of wrangler.toml
 * that serves that bundle as is: other sessions edit src/ meanwhile, and `wrangler dev` would
 * rebuild on every save. Returns the config path and which code was measured.
 */
function snapshotWorker(work) {
  const config = benchConfig(join(work, "wrangler.bench.toml"), buildWorker(work, "worker"), { prebuilt: true });
  const git = (...args) => spawnSync("git", args, { cwd: root, encoding: "utf8" }).stdout.trim();
  const dirty = git("status", "--porcelain", "--", "src", "migrations", "wrangler.toml")
    .split("\n")
    .filter(Boolean)
    .map((line) => line.replace(/^\s*\S+\s+/, ""));
  return { config, commit: git("rev-parse", "--short", "HEAD"), dirty };
}

/** The SMS provider's stand-in: takes the webhook POST, answers 200 after SMS_DELAY_MS. */
async function startSmsSink(cleanup) {
  const port = await freePort();
  const counts = { login: 0, reset_password: 0, notice: 0, other: 0 };
  const server = createServer((request, response) => {
    let raw = "";
    request.on("data", (chunk) => {
      raw += chunk;
    });
    request.on("end", () => {
      let purpose = "other";
      try {
        purpose = JSON.parse(raw).purpose ?? "other";
      } catch {
        // counted as other
      }
      counts[purpose in counts ? purpose : "other"]++;
      setTimeout(() => response.writeHead(200, { "content-type": "application/json" }).end("{}"), SMS_DELAY_MS);
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  cleanup.add(
    () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${port}/sms`, counts };
}

// ---------------------------------------------------------------- HTTP

// A fresh client address per request (198.18.0.0/15 is reserved for benchmarks, RFC 2544).
const nextIp = addresses("198.18.0.0");
const post = (base, path, options) => call(base, path, { method: "POST", ip: nextIp(), ...options });

// What must not differ between groups: status, content type, caching, header names, body keys and
// every body value except the phone itself, the (sandbox) code's digits and per-request ids.
const PER_REQUEST = new Set(["request_id", "instance"]);
function answerOf(response) {
  const body = response.json ?? {};
  const values = Object.keys(body)
    .sort()
    .map((key) => {
      const value = body[key];
      if (key === "phone") return `phone=${value === undefined ? "absent" : "<the phone>"}`;
      if (key === "dev_code") return `dev_code=${/^\d{6}$/.test(String(value)) ? "<6 digits>" : JSON.stringify(value)}`;
      if (PER_REQUEST.has(key)) return `${key}=<${typeof value}>`;
      if (key === "detail" && typeof value === "string") return `detail=${JSON.stringify(value.replace(/[0-9a-f-]{36}/g, "<id>"))}`;
      return `${key}=${JSON.stringify(value)}`;
    });
  const headerNames = [...response.headers.keys()].filter((name) => !["date", "content-length"].includes(name)).sort();
  return [
    `${response.status} ${response.headers.get("content-type")} cache-control=${response.headers.get("cache-control")}`,
    `body {${values.join(", ")}}`,
    `headers [${headerNames.join(", ")}]`,
  ].join("; ");
}

// ---------------------------------------------------------------- phones and accounts

/** Distinct valid BY mobiles (+375 29 [1-3]xxxxxx), shuffled. */
function makePhones(count) {
  const phones = new Set();
  while (phones.size < count) {
    const phone = `+37529${1 + Math.floor(random() * 3)}${String(Math.floor(random() * 1_000_000)).padStart(6, "0")}`;
    const parsed = parsePhoneNumberFromString(phone);
    if (!parsed?.isValid() || parsed.number !== phone) throw new Error(`${phone} is not a valid mobile; change makePhones`);
    phones.add(phone);
  }
  return shuffle([...phones]);
}

/** Signs a phone up through the API; with `password`, sets it right after (auth_time is fresh). */
async function signUp(base, phone, password) {
  const verified = await signIn(base, phone, { ip: nextIp() });
  if (!verified.is_new_user) throw new Error(`sign-up of ${phone}: not a new user`);
  if (password) {
    const set = await post(base, "/v1/me/password", { method: "PUT", body: { new_password: password }, token: verified.access_token });
    if (set.status !== 204) throw new Error(`first password for ${phone}: ${set.status} ${set.text}`);
  }
}

/** A pool of phones of one kind; hands them out round robin within the per-phone limits. */
function pool(name, phones) {
  let sendTurn = 0;
  let guessTurn = 0;
  const lastSend = new Map();
  const guesses = new Map();
  const touched = new Set();
  return {
    name,
    phones,
    /** The next phone for a send, and how long to wait (unmeasured) for its 1 s cooldown. */
    forSend() {
      const phone = phones[sendTurn++ % phones.length];
      const wait = Math.max(0, (lastSend.get(phone) ?? 0) + RAISED.OTP_RESEND_SECONDS.value * 1000 + 100 - Date.now());
      return { phone, wait };
    },
    sent(phone) {
      lastSend.set(phone, Date.now());
    },
    /** The next phone with wrong-password guesses left, or undefined. */
    forGuess() {
      for (let i = 0; i < phones.length; i++) {
        const phone = phones[guessTurn++ % phones.length];
        if ((guesses.get(phone) ?? 0) < GUESSES_PER_PHONE) {
          guesses.set(phone, (guesses.get(phone) ?? 0) + 1);
          return phone;
        }
      }
      return undefined;
    },
    /** True the first time a phone is used in the sampling (its phone_guards row may not exist yet). */
    firstContact(phone) {
      if (touched.has(phone)) return false;
      touched.add(phone);
      return true;
    },
  };
}

// ---------------------------------------------------------------- statistics

function describe(values) {
  return {
    n: values.length,
    median: quantile(values, 0.5),
    p25: quantile(values, 0.25),
    p75: quantile(values, 0.75),
    p90: quantile(values, 0.9),
  };
}

function medianOfSorted(sorted) {
  const mid = (sorted.length - 1) / 2;
  return (sorted[Math.floor(mid)] + sorted[Math.ceil(mid)]) / 2;
}

/** Bootstrap (percentile) 95% CI of median(a) − median(b), each group resampled on its own. */
function bootstrapDifference(a, b) {
  const resample = (values) => {
    const out = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = values[Math.floor(random() * values.length)];
    return medianOfSorted(out.sort());
  };
  const diffs = [];
  for (let i = 0; i < BOOTSTRAP; i++) diffs.push(resample(a) - resample(b));
  return { low: quantile(diffs, 0.025), high: quantile(diffs, 0.975) };
}

function normalCdf(z) {
  // Abramowitz and Stegun 7.1.26 (error under 1.5e-7).
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Two-sided Mann-Whitney U test (normal approximation with tie correction). */
function mannWhitney(a, b) {
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  const n = all.length;
  let rankA = 0;
  let ties = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && all[j + 1].v === all[i].v) j++;
    const rank = (i + j + 2) / 2;
    const t = j - i + 1;
    ties += t ** 3 - t;
    for (let k = i; k <= j; k++) if (all[k].g === 0) rankA += rank;
    i = j + 1;
  }
  const n1 = a.length;
  const n2 = b.length;
  const u = rankA - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const sd = Math.sqrt(((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1))));
  const z = sd > 0 ? (u - mean) / sd : 0;
  // Common-language effect size: P(a sample of a is slower than one of b).
  return { u, z, p: 2 * (1 - normalCdf(Math.abs(z))), slower: u / (n1 * n2) };
}

// ---------------------------------------------------------------- the comparisons

const COMPARISONS = [
  {
    id: "send_login",
    title: "POST /v1/auth/otp, purpose login",
    groups: ["account", "none"],
    pairs: [["account", "none"]],
  },
  {
    id: "send_reset",
    title: "POST /v1/auth/otp, purpose reset_password",
    groups: ["password", "no_password", "none"],
    pairs: [
      ["password", "none"],
      ["no_password", "none"],
    ],
  },
  {
    id: "password_login",
    title: "POST /v1/auth/password/login, wrong password",
    groups: ["password", "no_password", "none"],
    pairs: [
      ["password", "none"],
      ["no_password", "none"],
    ],
  },
];
// BENCH_ONLY=send_reset,... runs a subset (for a closer look); its report goes to bench/.out.
const ACTIVE = COMPARISONS.filter((comparison) => !process.env.BENCH_ONLY || process.env.BENCH_ONLY.split(",").includes(comparison.id));
const REPORT_FILE = process.env.BENCH_ONLY ? join(outDir, "enumeration-partial.md") : join(root, "bench", "ENUMERATION.md");
const RAW_FILE = join(outDir, process.env.BENCH_ONLY ? "enumeration-partial.json" : "enumeration-last.json");
const GROUP_NAMES = {
  account: "account (with or without a password)",
  password: "account with a password",
  no_password: "account without a password",
  none: "no account",
};

const wrongPassword = () => `wrong ${randomBytes(12).toString("base64url")} guess`;

async function main({ work, cleanup, log, facts }) {
  const started = Date.now();
  log(`seed ${SEED}`);

  const sink = await startSmsSink(cleanup);
  const { file: envFile } = await devEnvFile(work, {
    SMS_PROVIDER: "webhook",
    SMS_WEBHOOK_URL: sink.url,
    SMS_WEBHOOK_SECRET: randomBytes(24).toString("base64url"),
    ...Object.fromEntries(Object.entries(RAISED).map(([name, { value }]) => [name, value])),
  });
  log("applying migrations");
  const { persistTo } = migratedPersistDir(cleanup, work, "enum");
  const code = snapshotWorker(work);
  log(`bundled the Worker at ${code.commit}${code.dirty.length ? ` + uncommitted ${code.dirty.join(", ")}` : ""}`);
  const worker = await startWranglerDev(cleanup, work, { label: "wrangler-dev", persistTo, envFile, config: code.config });
  log(`worker at ${worker.url}, SMS sink at ${sink.url} (${SMS_DELAY_MS} ms)`);

  // ---- seed ----
  const phones = makePhones(ACCOUNTS + NO_PASSWORD + UNKNOWN);
  const pools = {
    password: pool("password", phones.slice(0, ACCOUNTS)),
    no_password: pool("no_password", phones.slice(ACCOUNTS, ACCOUNTS + NO_PASSWORD)),
    none: pool("none", phones.slice(ACCOUNTS + NO_PASSWORD)),
  };
  const seedStarted = Date.now();
  const jobs = [
    ...pools.password.phones.map((phone) => () => signUp(worker.url, phone, `bench ${randomBytes(12).toString("base64url")} staple`)),
    ...pools.no_password.phones.map((phone) => () => signUp(worker.url, phone, undefined)),
  ];
  await withTimeout(
    inParallel(jobs.length, 2, (i) => jobs[i]()),
    180_000,
    "seeding",
  );
  const seedMs = Date.now() - seedStarted;
  log(`seeded ${ACCOUNTS} accounts with a password and ${NO_PASSWORD} without in ${fmt(seedMs / 1000, 1)} s`);

  // ---- sampling ----
  const samples = [];
  const accountTurn = { n: 0 };
  const takeSendPhone = async (group) => {
    // "account" alternates between the accounts with and without a password.
    const source = group === "account" ? (accountTurn.n++ % 2 === 0 ? pools.password : pools.no_password) : pools[group];
    const { phone, wait } = source.forSend();
    if (wait > 0) await sleep(wait);
    return { phone, source };
  };
  const runOne = async (comparison, group, measured) => {
    let response;
    let phone;
    let source;
    if (comparison === "password_login") {
      source = pools[group];
      phone = source.forGuess();
      if (!phone) return false;
      response = await post(worker.url, "/v1/auth/password/login", { body: { phone, password: wrongPassword() } });
    } else {
      ({ phone, source } = await takeSendPhone(group));
      const purpose = comparison === "send_login" ? "login" : "reset_password";
      response = await post(worker.url, "/v1/auth/otp", { body: { phone, purpose } });
      source.sent(phone);
    }
    const first = source.firstContact(phone);
    if (measured) samples.push({ comparison, group, ms: response.ms, answer: answerOf(response), first, status: response.status });
    return true;
  };
  const exhausted = new Set();
  const runBlock = async (measured) => {
    const steps = [];
    for (const comparison of ACTIVE) {
      if (exhausted.has(comparison.id)) continue;
      // One sample of each group of this comparison, in random order, adjacent in time.
      steps.push({ comparison, order: shuffle(comparison.groups) });
    }
    for (const { comparison, order } of shuffle(steps)) {
      for (const group of order) {
        // Password groups run out of phones at GUESSES_PER_PHONE each: the whole comparison stops
        // rather than let one group go on alone.
        if (!(await runOne(comparison.id, group, measured))) {
          exhausted.add(comparison.id);
          break;
        }
      }
    }
  };
  log(`warm-up: ${WARMUP_BLOCKS} blocks (unmeasured)`);
  for (let i = 0; i < WARMUP_BLOCKS; i++) await runBlock(false);
  const ours = cpuOfAll([worker]);
  const foreign = foreignLoad(ours);
  const sampleStarted = Date.now();
  let blocks = 0;
  while (Date.now() - sampleStarted < SAMPLE_SECONDS * 1000 && exhausted.size < ACTIVE.length && blocks < SAMPLES) {
    await runBlock(true);
    blocks++;
    if (blocks % 50 === 0) log(`  ${blocks} blocks, ${fmt((Date.now() - sampleStarted) / 1000, 0)} s`);
  }
  const sampleSeconds = (Date.now() - sampleStarted) / 1000;
  const foreignCores = foreign();
  log(`sampled ${samples.length} requests in ${fmt(sampleSeconds, 0)} s (other processes used ${fmt(foreignCores)} cores)`);

  // ---- analysis ----
  const results = ACTIVE.map((comparison) => {
    const of = (group) => samples.filter((s) => s.comparison === comparison.id && s.group === group);
    const groups = Object.fromEntries(
      comparison.groups.map((group) => {
        const rows = of(group);
        const answers = [...new Set(rows.map((r) => r.answer))];
        const firstRows = rows.filter((r) => r.first).map((r) => r.ms);
        const laterRows = rows.filter((r) => !r.first).map((r) => r.ms);
        return [group, { ...describe(rows.map((r) => r.ms)), answers, first: describe(firstRows), later: describe(laterRows) }];
      }),
    );
    const pairs = comparison.pairs.map(([a, b]) => {
      const msA = of(a).map((s) => s.ms);
      const msB = of(b).map((s) => s.ms);
      const difference = quantile(msA, 0.5) - quantile(msB, 0.5);
      const ci = bootstrapDifference(msA, msB);
      const test = mannWhitney(msA, msB);
      const threshold = Math.max(THRESHOLD_MS, THRESHOLD_SHARE * quantile(msB, 0.5));
      const ciIncludesZero = ci.low <= 0 && ci.high >= 0;
      const within = ciIncludesZero || Math.abs(difference) < threshold;
      const sameAnswers = groups[a].answers.length === 1 && groups[b].answers.length === 1 && groups[a].answers[0] === groups[b].answers[0];
      // Samples per group an observer would need to see this shift (one-sided α = 0.05, 80% power),
      // with σ estimated from the pooled local IQR; network jitter only adds to σ.
      const sigma = (groups[a].p75 - groups[a].p25 + groups[b].p75 - groups[b].p25) / 2 / 1.349;
      const needed = difference === 0 ? Number.POSITIVE_INFINITY : 2 * (1.645 + 0.842) ** 2 * (sigma / difference) ** 2;
      const enough = msA.length >= 50 && msB.length >= 50;
      return { a, b, difference, ci, test, threshold, ciIncludesZero, within: within && enough, enough, sameAnswers, sigma, needed };
    });
    return { ...comparison, groups, pairs };
  });
  const failed = results.flatMap((r) => r.pairs.filter((p) => !p.within || !p.sameAnswers).map((p) => `${r.id}: ${p.a} vs ${p.b}`));
  const report = {
    facts,
    seed: SEED,
    code: { commit: code.commit, dirty: code.dirty },
    settings: { SAMPLES, SAMPLE_SECONDS, ACCOUNTS, NO_PASSWORD, UNKNOWN, SMS_DELAY_MS, WARMUP_BLOCKS, BOOTSTRAP, GUESSES_PER_PHONE },
    seedSeconds: seedMs / 1000,
    sampleSeconds,
    blocks,
    foreignCores,
    sink: sink.counts,
    totalSeconds: (Date.now() - started) / 1000,
    results,
    failed,
  };
  for (const r of results) {
    for (const p of r.pairs) {
      log(
        `${r.id}: ${p.a} ${fmt(r.groups[p.a].median)} ms (n ${r.groups[p.a].n}) vs ${p.b} ${fmt(r.groups[p.b].median)} ms (n ${r.groups[p.b].n}): Δ ${fmt(p.difference)} ms [${fmt(p.ci.low)}, ${fmt(p.ci.high)}], p ${fmt(p.test.p, 3)} → ${verdict(p)}`,
      );
    }
  }
  log(`${fmt(report.totalSeconds, 0)} s in all`);
  return { ...report, samples };
}

function verdict(pair) {
  if (!pair.sameAnswers) return "ANSWERS DIFFER";
  if (!pair.enough) return "TOO FEW SAMPLES";
  if (pair.ciIncludesZero) return "within noise (CI includes 0)";
  if (pair.within) return `within noise (|Δ| < ${fmt(pair.threshold)} ms)`;
  return "NOT within noise";
}

// ---------------------------------------------------------------- report

function markdown(report) {
  const { facts: f, results } = report;
  const rows = [];
  const verdictRows = [];
  for (const r of results) {
    for (const [group, s] of Object.entries(r.groups)) {
      rows.push(`| ${r.title} | ${GROUP_NAMES[group]} | ${s.n} | ${fmt(s.median)} | ${fmt(s.p25)} | ${fmt(s.p75)} | ${fmt(s.p90)} |`);
    }
    for (const p of r.pairs) {
      verdictRows.push(
        `| ${r.title} | ${GROUP_NAMES[p.a]} − ${GROUP_NAMES[p.b]} | ${fmt(p.difference)} | [${fmt(p.ci.low)}, ${fmt(p.ci.high)}] | ${fmt(p.test.p, 3)} | ${fmt(p.test.slower, 2)} | ${fmt(p.threshold)} | ${Number.isFinite(p.needed) ? Math.ceil(p.needed).toLocaleString("en") : "∞"} | ${p.sameAnswers ? "identical" : "**DIFFER**"} | **${verdict(p)}** |`,
      );
    }
  }
  const answers = results
    .map((r) => {
      const lines = Object.entries(r.groups).map(
        ([group, s]) => `- ${GROUP_NAMES[group]}: ${s.answers.map((a) => `\`${a}\``).join(" **and** ") || "none"}`,
      );
      return `**${r.title}**\n\n${lines.join("\n")}`;
    })
    .join("\n\n");
  const firstRows = results.flatMap((r) =>
    Object.entries(r.groups).map(
      ([group, s]) =>
        `| ${r.title} | ${GROUP_NAMES[group]} | ${s.first.n} | ${fmt(s.first.median)} | ${s.later.n} | ${fmt(s.later.median)} |`,
    ),
  );
  const headline = results
    .flatMap((r) => r.pairs.map((p) => `${r.id} ${p.a}/${p.b}: ${fmt(r.groups[p.a].median)} / ${fmt(r.groups[p.b].median)} ms`))
    .join("; ");
  const raised = Object.entries(RAISED)
    .map(([name, r]) => `\`${name}\` ${r.default} → ${r.value.toLocaleString("en")} (${r.why})`)
    .join("; ");
  const s = report.settings;
  const codeLine = report.code
    ? `commit ${report.code.commit}${report.code.dirty.length ? ` plus uncommitted changes to ${report.code.dirty.join(", ")}` : ""}`
    : "the working tree";
  const resolution = Math.max(...results.flatMap((r) => r.pairs.map((p) => Math.max(Math.abs(p.ci.low), Math.abs(p.ci.high)))));
  return `# Enumeration benchmark: does response time reveal which phones have accounts?

Generated by \`npm run bench:enumeration\` (bench/suites/enumeration.mjs) on ${f.date}, on this machine
(facts at the end). Seed ${report.seed} (\`BENCH_SEED=${report.seed}\` replays the same phones and order).

**Result: ${report.failed.length === 0 ? "every comparison is within noise and every answer is identical" : `NOT within noise or answers differ: ${report.failed.join("; ")}`}.**
Medians (account / no account): ${headline}.

## A difference this bench found (fixed)

The first run (20 ms sink) measured POST /v1/auth/otp with purpose reset_password at a median of
61.97 ms for accounts with a password against 33.48 ms for phones without an account: +28.50 ms,
95% CI [25.73, 31.11], n = 300 each. Only password holders get that SMS, and the answer waited for
the provider (and would have answered its failure with a 502, which no other phone can get). Since
then \`sendCode\` (src/otp/service.ts) delivers the reset SMS after the answer (\`waitUntil\`); a failed
delivery still withdraws the code and clears the cooldown. Login codes are sent to every phone, so
they still wait for the provider and still answer 502 when it fails.

What is left: five runs after the fix (two of them reset-only, 700 samples per group,
\`BENCH_ONLY=send_reset\`) put reset codes for accounts with a password 1.0 to 3.5 ms above phones
without an account at the median, every CI including 0 but Mann-Whitney p between 0.008 and 0.10,
so a shift of about a millisecond is probably real. Accounts without a password show none. Such a
send writes two rows the others do not (the challenge and its \`code_sent\` audit event), and its SMS
then goes out in the same isolate. Starting that delivery one macrotask later did not change it
(+1.51 ms, n = 700). It is under the threshold below, and an observer gets 5 samples per phone per hour.

## Verdicts

Difference of medians = first group − no account, in ms, with a bootstrap 95% confidence interval
(${s.BOOTSTRAP} resamples of each group) and a two-sided Mann-Whitney U test. "P(slower)" is the chance
that a request of the first group took longer than one of the second (0.50: no tendency).
**Within noise** means the CI includes 0, or the difference is under the threshold,
max(${THRESHOLD_MS} ms, ${THRESHOLD_SHARE * 100}% of the no-account median). "Samples to see it" is how many requests per group
an observer would need to detect that difference (one-sided α 0.05, power 80%, σ from this run's
IQR); over a network, jitter only makes that larger.

| route | groups | Δ median ms | 95% CI ms | Mann-Whitney p | P(slower) | threshold ms | samples to see it | answers | verdict |
| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |
${verdictRows.join("\n")}

## Latency per group (ms, wall time of one request: send to last body byte)

| route | group | n | median | p25 | p75 | p90 |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
${rows.join("\n")}

## Answers (every distinct answer seen per group; one each, identical across groups, is the pass)

The phone, the sandbox code's digits and per-request ids are masked; every other body value, the
status, content type, \`Cache-Control\` and the set of header names are compared.

${answers}

## Why this threshold

The threshold matters only when the CI excludes 0, i.e. when a shift is measurable at all here; a
shift whose CI excludes 0 and that reaches the threshold fails. A shift under ${THRESHOLD_MS} ms (or ${THRESHOLD_SHARE * 100}% of the median) is far below the jitter of a path over the internet, and
the per-phone limits cap what an observer can collect about one phone: 5 codes per hour and 10 per
day (\`OTP_HOURLY_LIMIT\`, \`OTP_DAILY_LIMIT\`), 5 wrong passwords per 15 min before the lock
(\`PASSWORD_LOCKOUT_FAILURES\`), whose 429 answers the same for every phone. The "samples to see it"
column puts a number on it with this run's own spread.

The other side of it: a CI that includes 0 only rules out shifts beyond its bounds. On this run
the widest bound is ${fmt(resolution)} ms (other processes kept ${fmt(report.foreignCores)} of the ${f.cores} cores busy); a
quieter machine narrows the CIs, and so would more samples. The difference found before the fix
(above) had a CI of [25.73, 31.11] ms, nowhere near 0.

## Settings and what was changed for the bench

- The real Worker: bundled once at the start with \`wrangler deploy --dry-run --outdir\` (the
  production build, minified) from ${codeLine}, then served by \`wrangler dev\` from a copy of the project's
  wrangler.toml that points \`main\` at that bundle (\`no_bundle\`), so edits to src/ during the run
  cannot rebuild it; a fresh \`--persist-to\` directory (simulated D1 and KV), migrations applied with
  \`wrangler d1 migrations apply DB --local\`, fresh secrets (scripts/secrets.mjs) in a generated
  \`--env-file\`. Same config for every group; the code paths are the production ones.
- \`ENVIRONMENT=development\` (sandbox) so sign-ups can read \`dev_code\`; every group's send answer
  carries one (for phones that get no SMS it is a decoy), so it is part of the compared shape.
- SMS: \`SMS_PROVIDER=webhook\`, the production provider code (HMAC-signed POST with a timeout), to a
  sink in the bench process that answers 200 after ${s.SMS_DELAY_MS} ms (\`BENCH_SMS_DELAY_MS\`), standing in for
  a provider's round trip. Sink calls during the run, by purpose: ${JSON.stringify(report.sink)} (the
  reset_password ones are the accounts with a password, warm-up included: those SMS still go out).
- Raised for the bench only (Worker vars, same statements run): ${raised}.
- Not raised: the per-IP windows (\`OTP_IP_PER_MINUTE\` 5, \`OTP_IP_PER_DAY\` 50,
  \`VERIFY_IP_PER_MINUTE\` 10, \`PASSWORD_IP_PER_MINUTE\` 10): every request has its own
  \`CF-Connecting-IP\` in 198.18.0.0/15, so each is the first of its window for every group alike;
  the password lockout (\`PASSWORD_LOCKOUT_FAILURES\` 5): each phone takes at most ${s.GUESSES_PER_PHONE} wrong passwords,
  so no phone is locked and every login sample runs the hashing path.
- Phones: ${s.ACCOUNTS} accounts with a password and ${s.NO_PASSWORD} without, signed up through the API
  (POST /v1/auth/otp, POST /v1/auth/otp/verify, then PUT /v1/me/password within the 300 s re-auth
  window) in ${fmt(report.seedSeconds, 1)} s; ${s.UNKNOWN} valid BY mobiles never signed up. All drawn at random from
  +375 29 [1-3]xxxxxx and shuffled before being split, so no group has its own number range.
- Sampling: after ${s.WARMUP_BLOCKS} unmeasured blocks, ${report.blocks} blocks in ${fmt(report.sampleSeconds, 0)} s (bounds: ${s.SAMPLES} blocks,
  ${s.SAMPLE_SECONDS} s). A block takes one sample of every group of every comparison: the comparisons in
  random order, and within each the groups in random order back to back, so drift of this shared
  machine hits every group alike. One request at a time over a kept-alive connection (Node's fetch),
  no concurrency. "account" in the login send alternates between accounts with and without a password.
  Phones rotate round robin within each group; a send to a phone waits (unmeasured) until 1.1 s
  after its previous send.
- Other processes on this shared machine used ${fmt(report.foreignCores)} cores on average during the sampling
  (/proc/stat busy time minus this bench's processes). Whole run ${fmt(report.totalSeconds, 0)} s.

## First contact

A phone that has never been seen has no \`phone_guards\` row until its first send or login creates
it; accounts got theirs at sign-up. The samples above include that, as an observer probing fresh
numbers would see it. Split by a phone's first request of this run, on any route (first uses in the
warm-up are not samples; password logins only ever reach phones the sends have already used):

| route | group | n first use | median first use | n later | median later |
| --- | --- | ---: | ---: | ---: | ---: |
${firstRows.join("\n")}

## Machine

${factsMarkdown(f)}
`;
}

export default {
  name: "enumeration",
  timeoutMs: 10 * 60_000,
  main,
  raw: () => RAW_FILE,
  report: () => REPORT_FILE,
  render: markdown,
  biome: true,
  exitCode(report) {
    if (report.failed.length === 0) return 0;
    console.error(`bench:enumeration: not within noise or answers differ: ${report.failed.join("; ")}`);
    return 1;
  },
};
