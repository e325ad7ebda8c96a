// `npm run bench` (the endpoints suite): load per endpoint and for the sign-in flows, our Worker vs
// a bare baseline and, for issue #15's sign-in flow, vs the floor.
//
// 1. Builds three bench-only entries with wrangler's own bundler (`wrangler deploy --dry-run`, the
//    same minify and aliases as production): bench/workers/bench-entry.ts (the real src/index.ts
//    behind the counting bindings of bench/workers/counting.ts), bench/workers/baseline-worker.ts
//    (a plain fetch handler doing the same storage calls and signatures) and
//    bench/workers/floor-worker.ts (only the storage calls the contract cannot do without). None is
//    ever in the production bundle.
// 2. Runs each in its own Miniflare (one workerd process each, which also runs the simulated D1, KV
//    and Rate Limiting), production settings (ENVIRONMENT unset), the SMS webhook provider answered
//    in Node by Miniflare's outboundService (which is how the bench learns the codes), D1 migrated,
//    the Rate Limiting bindings present with raised limits.
// 3. Counting pass: a few sequential requests per scenario (bench/scenarios/); D1 round trips and
//    statements, KV operations, limiter calls and WebCrypto calls per request, and the SQL texts.
// 4. Load: autocannon per scenario, the sides back to back, ROUNDS rounds; CPU per request from
//    /proc/<workerd pid>/stat.
// 5. `node scripts/size.mjs` for the bundle, then the budgets; writes bench/RESULTS.md and exits 1
//    only when a budget is broken (2 on a bench failure or timeout).
//
// Env: BENCH_SMOKE (a quick end-to-end check: 1 s runs, 1 round, report to bench/.out/),
// BENCH_DURATION (s per run, default 4), BENCH_ROUNDS (4), BENCH_CONNECTIONS (4),
// BENCH_OPS_REQUESTS (10), BENCH_QUIET_CORES (0.3), BENCH_REPORT_ONLY (rewrite RESULTS.md from
// bench/.out/bench-last.json), BENCH_OPS_ONLY (counting pass only: checks that the baseline still
// sends our SQL, in about a minute; exit 1 on a difference), BENCH_ENDPOINTS (comma-separated scenario
// keys, e.g. `verify,signin`: counting pass and load on those only, ratios logged, neither
// RESULTS.md nor bench-last.json written; for quick before/after checks of a change), BENCH_SIDES
// (with BENCH_ENDPOINTS: e.g. `ours,floor` leaves the baseline out), BENCH_STORAGE=apart (each side's
// D1 and KV in a workerd process of their own, so a side's CPU is its Worker's alone, as Cloudflare
// bills it; bench/workers/storage-apart.ts), BENCH_PROFILE (1 or a side's name: a V8 CPU profile of our
// Worker, or that side's, built unminified, over the load runs: top modules and functions logged,
// bench/.out/<side>.cpuprofile).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { generateDevSecrets } from "../../scripts/secrets.mjs";
import { CLK_TCK, factsMarkdown, fmt, freePort, outDir, quantile, ratio, root, setting, sleep } from "../lib/common.mjs";
import { addresses, call, expectStatus, inParallel, signIn } from "../lib/http.mjs";
import { loadRun as autocannonRun, expectAllOk, inRounds, summarize as merge, noiseGuard } from "../lib/load.mjs";
import { bundleModules, profiler, summarizeProfile } from "../lib/profile.mjs";
import { phoneFor } from "../lib/seed.mjs";
import { buildWorker, compatibilityDate, cpuOfAll, migrateMiniflare, startMiniflare, wranglerVars } from "../lib/workers.mjs";
import flow from "../scenarios/flow.mjs";
import invite from "../scenarios/invite.mjs";
import me from "../scenarios/me.mjs";
import password from "../scenarios/password.mjs";
import refresh from "../scenarios/refresh.mjs";
import send from "../scenarios/send.mjs";
import signin from "../scenarios/signin.mjs";
import verify from "../scenarios/verify.mjs";

const DURATION = setting("BENCH_DURATION", 4, 1);
const ROUNDS = setting("BENCH_ROUNDS", 4, 1);
const CONNECTIONS = setting("BENCH_CONNECTIONS", 4);
const OPS_REQUESTS = setting("BENCH_OPS_REQUESTS", 10, 2);
const QUIET_CORES = setting("BENCH_QUIET_CORES", 0.3);
const RETRIES = 1;
// After this long, noisy runs are kept rather than repeated, so the bench ends in ~12 minutes.
const RETRY_DEADLINE_MS = 8 * 60_000;
const RAISED_LIMIT = 1_000_000_000;
const POOL_USERS = 16;

/** The budgets of issue #8 as issue #15 tightened them (D1 round trips exact), and issue #15's targets against the floor. */
const BUDGET = { bundleKiB: 215, cpuRatio: 1.25, flowRateRatio: 0.8, meD1: 1, meKv: 0, verifyD1: 1, sendKv: 3, sendD1: 2, refreshD1: 1 };
const FLOOR_TARGET = { rateRatio: 1.0, cpuRatio: 1.25 };

/** Every scenario, in report order; `floor`: the floor implements it ("count": counting pass only, "load": also load). */
const SCENARIOS = [send, verify, me, refresh, invite, password, flow, signin];
const ENDPOINTS = process.env.BENCH_ENDPOINTS?.split(",")
  .map((key) => key.trim())
  .filter(Boolean);
const unknownEndpoints = ENDPOINTS?.filter((key) => !SCENARIOS.some((scenario) => scenario.key === key)) ?? [];
if (unknownEndpoints.length > 0) {
  console.error(`BENCH_ENDPOINTS: unknown ${unknownEndpoints.join(", ")} (known: ${SCENARIOS.map((s) => s.key).join(", ")})`);
  process.exit(2);
}
/** The scenarios this run measures: all, or BENCH_ENDPOINTS's. */
const MEASURED = ENDPOINTS ? SCENARIOS.filter(({ key }) => ENDPOINTS.includes(key)) : SCENARIOS;
const WEBHOOK_URL = "http://sms-webhook.bench.invalid/send";
/** BENCH_PROFILE=1 (our Worker) or a side's name: the side whose Worker is profiled. */
const PROFILE = process.env.BENCH_PROFILE ? (process.env.BENCH_PROFILE === "1" ? "ours" : process.env.BENCH_PROFILE) : undefined;
/** BENCH_STORAGE=apart: each side's D1 and KV in a process of their own (bench/workers/storage-apart.ts). */
const STORAGE_APART = process.env.BENCH_STORAGE === "apart";
if (process.env.BENCH_STORAGE && !STORAGE_APART) {
  console.error(`BENCH_STORAGE: "apart" or unset (got ${process.env.BENCH_STORAGE})`);
  process.exit(2);
}
const SIDES = ["ours", "baseline", "floor"];
// BENCH_SIDES=ours,floor (with BENCH_ENDPOINTS): leave a side out, e.g. the baseline while its SQL is
// being brought in line with src/ after a change.
const RUN_SIDES = process.env.BENCH_SIDES?.split(",").map((side) => side.trim()) ?? SIDES;
if (!RUN_SIDES.includes("ours") || RUN_SIDES.some((side) => !SIDES.includes(side)) || (RUN_SIDES.length < 3 && !ENDPOINTS)) {
  console.error(`BENCH_SIDES: ours and any of baseline, floor, and only with BENCH_ENDPOINTS (a report needs every side)`);
  process.exit(2);
}
if (PROFILE && !RUN_SIDES.includes(PROFILE)) {
  console.error(`BENCH_PROFILE: 1 or one of the sides run (${RUN_SIDES.join(", ")}), got ${process.env.BENCH_PROFILE}`);
  process.exit(2);
}
const sidesOf = (scenario, pass) =>
  (scenario.floor === "load" || (pass === "count" && scenario.floor) ? SIDES : SIDES.slice(0, 2)).filter((side) =>
    RUN_SIDES.includes(side),
  );

// ---------------------------------------------------------------- build

function build(work) {
  const scripts = {};
  // BENCH_PROFILE: the profiled Worker unminified, so the profile names functions and modules.
  for (const [kind, entry] of [
    ["ours", "bench-entry.ts"],
    ["baseline", "baseline-worker.ts"],
    ["floor", "floor-worker.ts"],
    ...(STORAGE_APART ? [["storage", "storage-worker.ts"]] : []),
  ])
    scripts[kind] = buildWorker(work, kind, join(root, "bench", "workers", entry), kind === PROFILE ? ["--minify=false"] : []);
  // The production bundle must not contain bench code (its entry is src/index.ts).
  const metafile = join(work, "production-meta.json");
  buildWorker(work, "production", undefined, ["--metafile", metafile]);
  const inputs = Object.values(JSON.parse(readFileSync(metafile, "utf8")).outputs).flatMap((output) => Object.keys(output.inputs ?? {}));
  const benchInputs = inputs.filter((path) => /(^|\/)bench\//.test(path));
  return { scripts, benchInputs, productionInputs: inputs.length };
}

function bundleSize() {
  const result = spawnSync(process.execPath, [join(root, "scripts", "size.mjs")], { cwd: root, encoding: "utf8", timeout: 180_000 });
  const gzip = /gzip:\s+([\d.]+) KiB/.exec(result.stdout ?? "")?.[1];
  const raw = /raw:\s+([\d.]+) KiB/.exec(result.stdout ?? "")?.[1];
  if (!gzip) throw new Error(`scripts/size.mjs gave no size (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  return { gzipKiB: Number(gzip), rawKiB: Number(raw) };
}

// ---------------------------------------------------------------- workers

/** The ASSETS binding: files under assets/ by URL path, as Workers Static Assets would serve them. */
function serveAsset(request) {
  const dir = join(root, "assets");
  const file = join(dir, decodeURIComponent(new URL(request.url).pathname));
  if (!file.startsWith(`${dir}/`) || !existsSync(file)) return new Response("not found", { status: 404 });
  return new Response(readFileSync(file));
}

/**
 * BENCH_STORAGE=apart: the side's D1 and KV in a Miniflare (workerd process) of their own, migrated;
 * the side reaches them over its BENCH_STORAGE service binding (bench/workers/storage-apart.ts).
 */
async function startStorage(cleanup, kind, scriptPath) {
  const storage = await startMiniflare(cleanup, `${kind}-storage`, {
    scriptPath,
    compatibilityDate: compatibilityDate(),
    d1Databases: { DB: `bench-${kind}` },
    kvNamespaces: { KV: `bench-${kind}` },
  });
  await migrateMiniflare(storage.mf);
  return storage;
}

/** A side in its own Miniflare, with what the scenarios use to drive it (phones, addresses, sign-in). */
async function startSide(cleanup, kind, scripts, bindings, firstPhone) {
  const codes = new Map();
  const sms = { delivered: 0 };
  const storage = STORAGE_APART ? await startStorage(cleanup, kind, scripts.storage) : undefined;
  const inspectorPort = kind === PROFILE ? await freePort() : undefined;
  const worker = await startMiniflare(cleanup, kind, {
    scriptPath: scripts[kind],
    compatibilityDate: compatibilityDate(),
    compatibilityFlags: [],
    ...(inspectorPort ? { inspectorPort } : {}),
    bindings,
    d1Databases: { DB: `bench-${kind}` },
    kvNamespaces: { KV: `bench-${kind}` },
    // The same binding names as wrangler.toml, limits raised so one bench user is never refused.
    ratelimits: {
      ME_LIMITER: { simple: { limit: RAISED_LIMIT, period: 60 } },
      INVITE_LIMITER: { simple: { limit: RAISED_LIMIT, period: 60 } },
    },
    // wrangler.toml's [assets] (static data the Worker reads, e.g. the common-password list).
    serviceBindings: {
      ASSETS: serveAsset,
      ...(storage ? { BENCH_STORAGE: { external: { address: new URL(storage.url).host, http: {} } } } : {}),
    },
    // The SMS webhook provider's POST lands here: the bench reads the code out of it.
    outboundService: async (request) => {
      if (!request.url.startsWith(WEBHOOK_URL)) return new Response("no network in the bench", { status: 502 });
      const message = await request.json();
      if (message.code) codes.set(message.to, message.code);
      sms.delivered++;
      return new Response(null, { status: 204 });
    },
  });
  if (!storage) await migrateMiniflare(worker.mf);
  let phones = firstPhone;
  const ip = addresses("10.0.0.0"); // a fresh client address per request, so per-IP windows never refuse
  const codeOf = (_sent, phone) => {
    const code = codes.get(phone);
    codes.delete(phone);
    return code;
  };
  const workerCpu = worker.cpu;
  return Object.assign(worker, {
    kind,
    /** The inspector's port when this side's Worker is the one profiled (BENCH_PROFILE). */
    inspectorPort,
    /** The side's D1 (in the storage process with BENCH_STORAGE=apart). */
    d1: () => (storage ?? worker).mf.getD1Database("DB"),
    // The Worker's process; the storage process apart (not in the Worker's CPU, but ours for the noise guard).
    cpu: () => ({ ...workerCpu(), ...(storage ? { storage: storage.cpu().workerd } : {}) }),
    codes,
    sms,
    refreshQueue: [],
    passwordUsers: [],
    connections: CONNECTIONS,
    poolUsers: POOL_USERS,
    phone: () => phoneFor(phones++),
    ip,
    jsonHeaders: (address) => ({ "content-type": "application/json", ...(address ? { "cf-connecting-ip": address } : {}) }),
    many: (count, task) => inParallel(count, CONNECTIONS, task),
    signIn: () => signIn(worker.url, worker.phone(), { ip: ip(), codeOf }),
    async sendCode() {
      const phone = worker.phone();
      expectStatus(await call(worker.url, "/v1/auth/otp", { method: "POST", body: { phone }, ip: ip() }), 200, `${kind} send`);
      const code = codes.get(phone);
      if (!code) throw new Error(`${kind}: the SMS webhook did not receive a code for ${phone}`);
      return { phone, code };
    },
    expect: async (method, path, status, options) =>
      expectStatus(await call(worker.url, path, { method, ...options }), status, `${kind} ${method} ${path}`),
  });
}

async function ops(worker, { reset = false, record = false } = {}) {
  const response = await fetch(`${worker.url}/__bench/ops${reset ? `?record=${record ? 1 : 0}` : ""}`, {
    method: reset ? "POST" : "GET",
    signal: AbortSignal.timeout(10_000),
  });
  return response.json();
}

/** Waits (bounded) for work registered with waitUntil to finish, then reads the counters. */
async function settledOps(worker) {
  for (let i = 0; i < 50; i++) {
    const counted = await ops(worker);
    if (counted.pending === 0) return counted;
    await sleep(50);
  }
  return ops(worker);
}

// ---------------------------------------------------------------- measurements

/** One autocannon run of a scenario on a side, with the side's counters over the run. */
async function loadRun(context, worker, scenario, state, { duration = DURATION, amount = 0, connections, record = false } = {}) {
  await ops(worker, { reset: true, record });
  const run = await autocannonRun(worker, {
    requests: scenario.requests(worker, state),
    connections: connections ?? scenario.connections ?? CONNECTIONS,
    duration,
    amount,
    steps: scenario.steps,
    ours: context.ourCpuMs,
  });
  return { ...run, cpu: run.cpu.workerd, storageCpu: run.cpu.storage ?? 0, ops: await settledOps(worker) };
}

/** Size of a stateful pool for about DURATION seconds at the rate seen in the warm-up. */
const poolSize = (rate, connections) => Math.max(4 * connections, Math.min(3000, Math.ceil(rate * DURATION)));

function summarize(runs) {
  const sum = (pick) => runs.reduce((acc, run) => acc + pick(run), 0);
  const perRequest = (pick) =>
    sum((r) => pick(r.ops)) /
    Math.max(
      1,
      sum((r) => r.ops.requests),
    );
  const summary = merge(runs.map((run) => ({ ...run, cpu: { workerd: run.cpu } })));
  return {
    ...summary,
    cpuPerRequest: summary.cpu.workerd,
    roundCpu: summary.roundCpu.map((cpu) => cpu.workerd),
    loadOps: { d1: perRequest((o) => o.d1RoundTrips), kv: perRequest((o) => Object.values(o.kv).reduce((a, b) => a + b, 0)) },
    keyReads: sum((r) => r.ops.keyReads),
  };
}

/** Per round, `a`'s CPU per request and flow (or request) rate over `b`'s; their medians. */
function pairRatios(runsA, runsB) {
  const pairs = runsA.map((run, i) => [run, runsB[i]]);
  const rate = (r) => (r.flow ? r.flow.completed : r.ok) / r.duration;
  const cpuRatios = pairs.map(([a, b]) => a.cpu / a.total / (b.cpu / b.total));
  const rateRatios = pairs.map(([a, b]) => rate(a) / rate(b));
  return { cpuRatios, cpuRatio: quantile(cpuRatios, 0.5), rateRatios, rateRatio: quantile(rateRatios, 0.5) };
}

// ---------------------------------------------------------------- counting pass

const sumValues = (counter) => Object.values(counter ?? {}).reduce((a, b) => a + b, 0);

function perRequest(counted) {
  const n = Math.max(1, counted.requests);
  const scale = (counter) => Object.fromEntries(Object.entries(counter).map(([k, v]) => [k, v / n]));
  return {
    requests: counted.requests,
    d1: counted.d1RoundTrips / n,
    statements: counted.d1Statements / n,
    sqlChars: counted.d1SqlChars / n,
    sessions: counted.d1Sessions / n,
    kv: sumValues(counted.kv) / n,
    kvByMethod: scale(counted.kv),
    limiter: scale(counted.limiter),
    crypto: scale(counted.crypto),
    sql: scale(counted.sql),
    keyReads: counted.keyReads,
    envWraps: counted.envWraps,
  };
}

async function countingPass(context, worker, scenario) {
  const steps = scenario.steps?.length ?? 1;
  // One unrecorded request (one flow) first, so what an isolate does once (key imports, HKDF
  // subkeys, config) is not counted as per-request work.
  const state = scenario.prepare ? await scenario.prepare(worker, OPS_REQUESTS + 1) : undefined;
  await loadRun(context, worker, scenario, state, { amount: steps, connections: 1 });
  const run = await loadRun(context, worker, scenario, state, { amount: OPS_REQUESTS * steps, connections: 1, record: true });
  expectAllOk(run, `${worker.kind} ${scenario.key} counting pass`);
  await ops(worker, { reset: true, record: false });
  return perRequest(run.ops);
}

/** KB of SQL text a request (absent in raw numbers from before it was counted). */
const sqlKb = (side) => (side.sqlChars === undefined ? "— KB" : `${fmt(side.sqlChars / 1000, 2)} KB`);

function compareSql(ours, base) {
  const texts = new Set([...Object.keys(ours.sql), ...Object.keys(base.sql)]);
  const diffs = [];
  for (const text of texts) {
    const a = ours.sql[text] ?? 0;
    const b = base.sql[text] ?? 0;
    if (Math.abs(a - b) > 1e-9) diffs.push({ text, ours: a, baseline: b });
  }
  // The texts above are compared with their whitespace collapsed; the raw lengths catch a layout
  // difference (the templates' compaction, src/db/sql.ts) that would weigh on one side's wire only.
  if (Math.abs(ours.sqlChars - base.sqlChars) > 1e-9) {
    diffs.push({ text: "(characters of SQL text sent, whitespace included)", ours: ours.sqlChars, baseline: base.sqlChars });
  }
  return { statements: texts.size, diffs };
}

// ---------------------------------------------------------------- query plans

async function sessionCount(worker) {
  const db = await worker.d1();
  return (await db.prepare("SELECT count(*) AS n FROM sessions").first()).n;
}

/**
 * EXPLAIN QUERY PLAN of every distinct statement the counting pass saw (parameters bound as NULL;
 * SQLite picks plans from the shape, and these tables have no ANALYZE statistics either way).
 * A "table scan" is a SCAN of a table (not of a constant row, a CTE, or an index walk).
 */
async function explainAll(worker, counts) {
  const db = await worker.d1();
  const texts = new Map();
  for (const { key, label, steps } of SCENARIOS) {
    if (steps) continue;
    for (const text of Object.keys(counts[key].ours.sql)) if (!texts.has(text)) texts.set(text, label);
  }
  const out = [];
  for (const [text, label] of texts) {
    const ctes = new Set([...text.matchAll(/WITH (?:RECURSIVE )?(\w+)/g)].map((m) => m[1]));
    const rows = (
      await db
        .prepare(`EXPLAIN QUERY PLAN ${text}`)
        .bind(...Array((text.match(/\?/g) ?? []).length).fill(null))
        .all()
    ).results;
    const scans = rows
      .map((row) => row.detail)
      .filter((detail) => {
        const match = /^SCAN (\w+)(.*)$/.exec(detail);
        return match && match[1] !== "CONSTANT" && !ctes.has(match[1]) && !/USING (COVERING )?INDEX|VIRTUAL TABLE/.test(match[2]);
      });
    out.push({ endpoint: label, sql: text, plan: rows.map((row) => row.detail), scans });
  }
  return out;
}

// ---------------------------------------------------------------- main

async function main({ work, cleanup, log, facts }) {
  const started = Date.now();
  log("building the bench entries with wrangler (dry run)");
  const built = build(work);
  if (built.benchInputs.length > 0) throw new Error(`the production bundle contains bench code: ${built.benchInputs.join(", ")}`);
  const secrets = await generateDevSecrets();
  // Production settings (ENVIRONMENT unset): wrangler.toml's vars, fresh secrets, the webhook provider.
  const bindings = {
    ...wranglerVars(),
    ...secrets,
    SMS_PROVIDER: "webhook",
    SMS_WEBHOOK_URL: WEBHOOK_URL,
    SMS_WEBHOOK_SECRET: "bench-webhook-secret-0123456789",
    // The fraud guard's statements run on every send as in production, but the bench's load is not a
    // population (the send scenario never verifies, all phones are Belarusian and sequential), so
    // its thresholds are out of reach: a block would turn the rest of the run into 403s.
    FRAUD_MIN_SENDS: "1000000000",
    FRAUD_COUNTRY_MIN_SENDS: "1000000000",
    // A network round trip to D1 on every side alike (bench/workers/counting.ts); unset: none.
    ...(process.env.BENCH_D1_LATENCY_MS ? { BENCH_D1_LATENCY_MS: process.env.BENCH_D1_LATENCY_MS } : {}),
  };
  // phoneFor is a valid BY mobile below 18,000,000: each side its own range.
  const sides = {};
  for (const [kind, firstPhone] of [
    ["ours", 0],
    ["baseline", 6_000_000],
    ["floor", 12_000_000],
  ]) {
    if (RUN_SIDES.includes(kind)) sides[kind] = await startSide(cleanup, kind, built.scripts, bindings, firstPhone);
  }
  const { ours } = sides;
  log(RUN_SIDES.map((kind) => `${kind} ${sides[kind].url} (workerd ${sides[kind].pid})`).join(", "));
  const profile = PROFILE ? await profiler(sides[PROFILE].inspectorPort, "core:user:") : undefined;
  const ourCpuMs = cpuOfAll(Object.values(sides));
  const context = { ourCpuMs };
  const guard = noiseGuard({ ours: ourCpuMs, limit: QUIET_CORES, retries: RETRIES, waitMs: 20_000, lateAfterMs: RETRY_DEADLINE_MS, log });

  // ---- counting pass: sequential, SQL recorded ----
  const counts = {};
  for (const scenario of MEASURED) {
    const c = {};
    counts[scenario.key] = c;
    for (const kind of sidesOf(scenario, "count")) c[kind] = await countingPass(context, sides[kind], scenario);
    c.sqlCompare = c.baseline ? compareSql(c.ours, c.baseline) : { statements: 0, diffs: [] };
    const text = (side) => `D1 ${fmt(side.d1)} (${fmt(side.statements, 1)} stmts, ${sqlKb(side)} SQL) KV ${fmt(side.kv)}`;
    log(
      `ops ${scenario.key}: ${sidesOf(scenario, "count")
        .map((kind) => `${kind} ${text(c[kind])}`)
        .join(" | ")} | SQL diffs ${c.sqlCompare.diffs.length}`,
    );
  }

  if (process.env.BENCH_OPS_ONLY) {
    // Quick check after a change to src/: does the baseline still send our SQL?
    const drift = MEASURED.flatMap(({ key }) => counts[key].sqlCompare.diffs.map((d) => ({ key, ...d })));
    for (const d of drift) log(`SQL differs on ${d.key}: ours ${fmt(d.ours)} / baseline ${fmt(d.baseline)} per request: ${d.text}`);
    return { opsOnly: true, drift: drift.length };
  }

  // ---- warm-up (unmeasured): JIT, lazily built state; gives the pool sizes ----
  const rates = {};
  const prepared = async (worker, scenario, size) => (scenario.prepare ? await scenario.prepare(worker, size) : undefined);
  for (const scenario of MEASURED) {
    for (const kind of sidesOf(scenario, "load")) {
      const state = await prepared(sides[kind], scenario, 8 * (scenario.connections ?? CONNECTIONS));
      const run = await loadRun(context, sides[kind], scenario, state, { duration: 2, amount: scenario.amount?.(state) });
      rates[`${kind}/${scenario.key}`] = run.ok / run.duration;
      expectAllOk(run, `${kind} ${scenario.key} warm-up`);
    }
  }
  const quietAtStart = await guard.quietStart(30_000);

  const sessionsAtLoadStart = await sessionCount(ours);
  if (profile) await profile.start();
  // ---- load: every scenario, the sides back to back, the order reversed every other round ----
  const plan = MEASURED.flatMap((scenario) => sidesOf(scenario, "load").map((kind) => ({ scenario, kind, rounds: scenario.rounds })));
  const runs = await inRounds(ROUNDS, plan, async ({ scenario, kind }, round) => {
    const worker = sides[kind];
    const run = await guard.steady(async () => {
      const connections = scenario.connections ?? CONNECTIONS;
      const state = await prepared(worker, scenario, poolSize(rates[`${kind}/${scenario.key}`] ?? 100, connections));
      return loadRun(context, worker, scenario, state, { amount: scenario.amount?.(state) });
    });
    log(
      `r${round + 1} ${scenario.key} ${kind}: ${fmt(run.ok / run.duration, 0)} req/s, CPU ${fmt(run.cpu / run.total)} ms/req${STORAGE_APART ? ` (storage process ${fmt(run.storageCpu / run.total)})` : ""}, non-2xx ${run.non2xx}, other load ${fmt(run.foreignCores)} cores`,
    );
    expectAllOk(run, `${kind} ${scenario.key}`);
    return run;
  });
  if (profile) {
    const taken = await profile.stop();
    profile.close();
    const file = join(outDir, `${PROFILE}.cpuprofile`);
    const summary = summarizeProfile(taken, bundleModules(readFileSync(built.scripts[PROFILE], "utf8")), file);
    log(`profile of the ${PROFILE} Worker over the load runs: ${fmt(summary.totalMs, 0)} ms of samples (${file})`);
    for (const { name, ms, share } of summary.modules) log(`  module ${fmt(share * 100, 1)}% ${fmt(ms, 0)} ms ${name}`);
    for (const { name, ms, share } of summary.functions) log(`  function ${fmt(share * 100, 1)}% ${fmt(ms, 0)} ms ${name}`);
  }
  const runsOf = (key, kind) => runs.get(plan.find((item) => item.scenario.key === key && item.kind === kind));
  const load = Object.fromEntries(
    MEASURED.map((scenario) => {
      const [oursRuns, baselineRuns, floorRuns] = SIDES.map((kind) => runsOf(scenario.key, kind));
      const entry = baselineRuns ? pairRatios(oursRuns, baselineRuns) : {};
      for (const kind of sidesOf(scenario, "load")) entry[kind] = summarize(runsOf(scenario.key, kind));
      if (floorRuns) entry.vsFloor = pairRatios(oursRuns, floorRuns);
      if (floorRuns && baselineRuns) entry.baselineVsFloor = pairRatios(baselineRuns, floorRuns);
      return [scenario.key, entry];
    }),
  );
  if (ENDPOINTS) {
    // A partial run: no report (its tables and budgets need every endpoint), only the ratios.
    for (const { key, label } of MEASURED) {
      const l = load[key];
      if (l.baseline)
        log(
          `${label}: CPU ${fmt(l.ours.cpuPerRequest)} / ${fmt(l.baseline.cpuPerRequest)} ms/req, ratio ${fmt(l.cpuRatio)}× (median; rounds ${l.cpuRatios.map((x) => fmt(x)).join(", ")}; pooled ${ratio(l.ours.cpuPerRequest, l.baseline.cpuPerRequest)})`,
        );
      if (l.vsFloor)
        log(
          `${label} vs the floor: flow rate ${fmt(l.vsFloor.rateRatio)}×, CPU per request ${fmt(l.vsFloor.cpuRatio)}× (medians of rounds)`,
        );
    }
    return { partial: true };
  }
  const sessionsAtEnd = await sessionCount(ours);
  const assets = { passwordSets: ours.passwordUsers.length, fetches: (await ops(ours)).assetsTotal };

  log("query plans of every statement sent");
  const plans = await explainAll(ours, counts);
  log("bundle size (scripts/size.mjs)");
  const size = bundleSize();
  const results = {
    facts,
    settings: { DURATION, ROUNDS, CONNECTIONS, OPS_REQUESTS, QUIET_CORES, RAISED_LIMIT, POOL_USERS, STORAGE_APART },
    quietAtStart,
    busyMachine: guard.busy,
    sessions: { atLoadStart: sessionsAtLoadStart, atEnd: sessionsAtEnd },
    assets,
    plans,
    counts,
    load,
    size,
    built: { benchInputs: built.benchInputs, productionInputs: built.productionInputs },
    sms: Object.fromEntries(SIDES.map((kind) => [kind, sides[kind].sms.delivered])),
    elapsedMs: Date.now() - started,
  };
  results.budgets = budgets(results);
  return results;
}

// ---------------------------------------------------------------- budgets and report

function budgets(results) {
  const { counts, load, size } = results;
  const rows = [];
  const check = (name, measured, limit, pass, shown = fmt(measured)) => rows.push({ name, measured, shown, limit, pass });
  check("GET /v1/me: D1 round trips per request", counts.me.ours.d1, `= ${BUDGET.meD1}`, counts.me.ours.d1 === BUDGET.meD1);
  check("GET /v1/me: KV operations per request", counts.me.ours.kv, `= ${BUDGET.meKv}`, counts.me.ours.kv === BUDGET.meKv);
  check("verify: D1 round trips per request", counts.verify.ours.d1, `= ${BUDGET.verifyD1}`, counts.verify.ours.d1 === BUDGET.verifyD1);
  check("send: KV operations per request", counts.send.ours.kv, `≤ ${BUDGET.sendKv}`, counts.send.ours.kv <= BUDGET.sendKv);
  // 1 on the request path (the gate batch) and 1 after the answer (the delivery attempts, src/delivery/store.ts).
  check(
    "send: D1 round trips per request (1 before the answer + 1 after it)",
    counts.send.ours.d1,
    `= ${BUDGET.sendD1}`,
    counts.send.ours.d1 === BUDGET.sendD1,
  );
  check(
    "refresh: D1 round trips per request",
    counts.refresh.ours.d1,
    `= ${BUDGET.refreshD1}`,
    counts.refresh.ours.d1 === BUDGET.refreshD1,
  );
  check("bundle, minified, gzip (KiB)", size.gzipKiB, `≤ ${BUDGET.bundleKiB}`, size.gzipKiB <= BUDGET.bundleKiB, fmt(size.gzipKiB, 1));
  // Ratios: the median over rounds of each round's back-to-back pair (ours, baseline), so a burst of
  // other load during one run cannot decide a budget; the pooled ratio is reported beside it.
  for (const { key, label } of SCENARIOS) {
    const ratio = load[key].cpuRatio;
    check(`CPU per request, ours / baseline: ${label}`, ratio, `≤ ${BUDGET.cpuRatio}×`, ratio <= BUDGET.cpuRatio, `${fmt(ratio)}×`);
  }
  const flowRatio = load.flow.rateRatio;
  check("flow rate, ours / baseline", flowRatio, `≥ ${BUDGET.flowRateRatio}×`, flowRatio >= BUDGET.flowRateRatio, `${fmt(flowRatio)}×`);
  // Issue #15: the sign-in flow against the floor Worker (medians over the rounds' back-to-back pairs).
  const { rateRatio, cpuRatio } = load.signin.vsFloor;
  const rateLimit = `≥ ${fmt(FLOOR_TARGET.rateRatio, 1)}×`;
  check("floor (#15): sign-in flow rate, ours / floor", rateRatio, rateLimit, rateRatio >= FLOOR_TARGET.rateRatio, `${fmt(rateRatio)}×`);
  const cpuLimit = `≤ ${FLOOR_TARGET.cpuRatio}×`;
  check("floor (#15): sign-in CPU per request, ours / floor", cpuRatio, cpuLimit, cpuRatio <= FLOOR_TARGET.cpuRatio, `${fmt(cpuRatio)}×`);
  return rows;
}

/** A count per request: whole, or to 2 decimals. */
const count = (n) => fmt(n, n % 1 === 0 ? 0 : 2);
/** "name n, …" of a counter (zeros left out), or "—". */
const counterText = (counter) =>
  Object.entries(counter)
    .filter(([, n]) => n > 0)
    .sort()
    .map(([name, n]) => `${name} ${count(n)}`)
    .join(", ") || "—";
const kvText = (c) => `${count(c.kv)}${c.kv ? ` (${counterText(c.kvByMethod)})` : ""}`;

function planSection(results) {
  const scanning = results.plans.filter((p) => p.scans.length > 0);
  const refresh = results.load.refresh;
  const growth = `Refresh CPU per request by round: ours ${refresh.ours.roundCpu.map((x) => fmt(x)).join(", ")} ms, baseline ${refresh.baseline.roundCpu.map((x) => fmt(x)).join(", ")} ms, while the \`sessions\` table grew from ${results.sessions.atLoadStart.toLocaleString("en")} to ${results.sessions.atEnd.toLocaleString("en")} rows (ours; the baseline's grows alike).`;
  const intro = `The ${results.plans.length} distinct statements our endpoints sent in the counting pass, planned by SQLite on our Worker's D1 after the run (parameters bound as NULL). A table scan here is a \`SCAN\` of a table, not of a constant row, a recursive CTE or an index.`;
  if (scanning.length === 0) return `${intro}\n\n**No statement scans a table.**`;
  const items = scanning.map(
    (p) =>
      `**${p.endpoint}**: ${p.scans.map((line) => `\`${line}\``).join(", ")}\n\n\`\`\`sql\n${p.sql}\n\`\`\`\n\n\`\`\`text\n${p.plan.join("\n")}\n\`\`\``,
  );
  return `${intro}\n\n**${scanning.length} statement(s) scan a table** on every call:\n\n${items.join("\n\n")}\n\n${growth}`;
}

function report(results) {
  const { facts: f, counts, load, size, budgets: rows } = results;
  // The settings of the run that measured (BENCH_REPORT_ONLY may rewrite an older run's report).
  const { DURATION, ROUNDS, CONNECTIONS, OPS_REQUESTS, QUIET_CORES, RAISED_LIMIT, POOL_USERS } = results.settings;
  const failed = rows.filter((row) => !row.pass);
  const headline = SCENARIOS.map(({ key, label }) => {
    const o = load[key].ours;
    const b = load[key].baseline;
    const l = load[key];
    return `| ${label} | ${fmt(o.rps, 0)} | ${fmt(b.rps, 0)} | ${fmt(o.p50)} / ${fmt(o.p99)} | ${fmt(b.p50)} / ${fmt(b.p99)} | ${fmt(o.cpuPerRequest)} | ${fmt(b.cpuPerRequest)} | **${fmt(l.cpuRatio)}×** | ${l.cpuRatios.map((x) => fmt(x)).join(", ")} | ${ratio(o.cpuPerRequest, b.cpuPerRequest)} | ${fmt(o.cpuPerRequest - b.cpuPerRequest)} | ${count(counts[key].ours.d1)} | ${count(counts[key].ours.kv)} |`;
  });
  const flowO = load.flow.ours.flow;
  const flowB = load.flow.baseline.flow;
  const budgetRows = rows.map((row) => `| ${row.name} | ${row.shown} | ${row.limit} | ${row.pass ? "met" : "**BROKEN**"} |`);
  const opsRows = SCENARIOS.map(({ key, label }) => {
    const o = counts[key].ours;
    const b = counts[key].baseline;
    const same = o.d1 === b.d1 && o.statements === b.statements && o.kv === b.kv && counts[key].sqlCompare.diffs.length === 0;
    return `| ${label} | ${count(o.d1)} / ${count(b.d1)} | ${fmt(o.statements, 1)} / ${fmt(b.statements, 1)} | ${kvText(o)} / ${count(b.kv)} | ${counterText(o.limiter)} / ${counterText(b.limiter)} | ${same ? "same" : `**${counts[key].sqlCompare.diffs.length} differ**`} |`;
  });
  const cryptoRows = SCENARIOS.map(
    ({ key, label }) => `| ${label} | ${counterText(counts[key].ours.crypto)} | ${counterText(counts[key].baseline.crypto)} |`,
  );
  const loadRows = [];
  for (const { key, label } of SCENARIOS) {
    for (const kind of SIDES.filter((side) => load[key][side])) {
      const r = load[key][kind];
      loadRows.push(
        `| ${label} | ${kind} | ${fmt(r.rps, 0)} | ${r.roundRps.map((x) => fmt(x, 0)).join(", ")} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.cpuPerRequest)} | ${r.roundCpu.map((x) => fmt(x)).join(", ")} | ${r.ok} | ${r.non2xx} | ${fmt(r.loadOps.d1)} / ${fmt(r.loadOps.kv)} | ${fmt(r.foreignCores)} | ${r.retries} |`,
      );
    }
  }
  const sqlDiffs = SCENARIOS.flatMap(({ key, label }) =>
    counts[key].sqlCompare.diffs.map(
      (d) => `- ${label}: ours ${fmt(d.ours)} / baseline ${fmt(d.baseline)} per request: \`${d.text.slice(0, 160)}…\``,
    ),
  );
  const stepRows = flow.steps.map(
    (step) =>
      `| ${step} | ${fmt(flowO.steps[step].p50)} / ${fmt(flowO.steps[step].p99)} | ${fmt(flowB.steps[step].p50)} / ${fmt(flowB.steps[step].p99)} |`,
  );
  const keyReads = SCENARIOS.reduce((acc, { key }) => acc + load[key].ours.keyReads, 0);
  const importsPerRequest = (key, alg) => counts[key].ours.crypto[`importKey:${alg}`] ?? 0;
  const ecdsaImports = SCENARIOS.reduce((acc, { key }) => acc + importsPerRequest(key, "ECDSA"), 0);
  const hkdf = SCENARIOS.reduce((acc, { key }) => acc + (counts[key].ours.crypto["deriveKey:HKDF"] ?? 0), 0);
  const hmacImports = importsPerRequest("send", "HMAC");
  const envWraps = counts.flow.ours.envWraps;
  const floor = load.signin;
  const floorRows = SIDES.map((kind) => {
    const r = floor[kind];
    const vs = { ours: floor.vsFloor, baseline: floor.baselineVsFloor }[kind];
    return `| ${kind} | ${fmt(r.flow.rate, 1)} | ${ratio(r.flow.rate, floor.floor.flow.rate)} | ${fmt(r.cpuPerRequest)} | ${ratio(r.cpuPerRequest, floor.floor.cpuPerRequest)} | ${fmt(r.flow.p50)} / ${fmt(r.flow.p99)} | ${fmt(r.flow.cpuPerFlow)} | ${vs ? vs.rateRatios.map((x) => fmt(x)).join(", ") : "—"} | ${vs ? vs.cpuRatios.map((x) => fmt(x)).join(", ") : "—"} |`;
  });
  const floorOps = [send, verify, me].map(({ key, label }) => {
    const c = counts[key].floor;
    const ours = counts[key].ours;
    return `| ${label} | ${count(c.d1)} (${fmt(c.statements, 1)} statements, ${sqlKb(c)} SQL) | ${kvText(c)} | ${kvText(ours)} | ${count(ours.d1)} (${fmt(ours.statements, 1)} statements, ${sqlKb(ours)} SQL) |`;
  });
  return `# Benchmark: our Worker vs a bare baseline, per endpoint and for the sign-in flow

Generated by \`npm run bench\` (bench/suites/endpoints.mjs) on ${f.date}, on this machine (facts at the end), in ${fmt(results.elapsedMs / 60_000, 1)} min.
${
  results.settings.STORAGE_APART
    ? `**Storage apart** (\`BENCH_STORAGE=apart\`): each side's D1 and KV run in a workerd process of their
own (bench/workers/storage-apart.ts, reached over a service binding with JSON), so a side's CPU is its
Worker's alone, as Cloudflare bills it (storage execution is D1's and KV's work there). The usual
report, with the simulated storage inside the Worker's process and charged to it, is bench/RESULTS.md.`
    : `Local numbers: one workerd process runs the Worker **and** the simulated D1 (SQLite), KV and Rate
Limiting, so absolute milliseconds are not production's (bench/RESULTS-apart.md: the same run with
storage in a process of its own, so CPU is the Worker's alone).`
} What the budgets use are measurements
taken in the same run against a **bare baseline Worker** (bench/workers/baseline-worker.ts: a plain fetch
handler that makes the same D1, KV and Rate Limiting calls — the same SQL texts in the same round
trips — and the same signatures), so the storage simulation costs both sides the same.

## Budgets

${failed.length === 0 ? "**All budgets met.**" : `**${failed.length} budget(s) broken** (the bench exits 1).`}

| budget | measured | limit | status |
| --- | ---: | ---: | --- |
${budgetRows.join("\n")}

Ratios are the median over the ${ROUNDS} rounds of each round's pair of runs (ours and the baseline back to
back), so a burst of other load during one run does not decide a budget; the pooled ratios (all rounds
summed) are in the headline table too. Storage counts are from the counting pass (${OPS_REQUESTS} sequential requests per endpoint after one unrecorded one, bindings wrapped);
CPU and rates from the load runs (${ROUNDS} rounds × ${DURATION} s per endpoint and side, concurrency ${CONNECTIONS}).

## Against the floor (issue #15)

The floor (bench/workers/floor-worker.ts) is a hand-written Worker that makes only the storage calls
the contract cannot do without, on the same D1 schema: send 1 KV read, 1 D1 write, 1 KV write (and the
SMS webhook); verify 1 KV read, 1 atomic D1 update, 1 D1 batch; me 1 D1 read. It signs and verifies the
same ES256 tokens and hashes codes and refresh tokens, with no framework, audit, limits or lockouts.
Sign-in flow send → verify → me, one new phone per flow, ${signin.connections} connections, ${floor.ours.rounds} rounds
per side back to back (ours, baseline, floor; order reversed every other round). Targets: flow rate ≥ ${fmt(FLOOR_TARGET.rateRatio, 1)}× the
floor's, CPU per request ≤ ${FLOOR_TARGET.cpuRatio}× (the budgets above use the median of the rounds' ours/floor pairs:
**${fmt(floor.vsFloor.rateRatio)}×** and **${fmt(floor.vsFloor.cpuRatio)}×**).

| side | flows/s | ÷ floor (pooled) | CPU ms/req | ÷ floor (pooled) | flow p50 / p99 ms | CPU ms per flow | flow rate ÷ floor per round | CPU ÷ floor per round |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |
${floorRows.join("\n")}

Storage calls per request in the counting pass, the floor's next to ours:

| endpoint | floor D1 round trips | floor KV operations | our KV operations | our D1 round trips |
| --- | ---: | --- | --- | ---: |
${floorOps.join("\n")}

## Headline (load, concurrency ${CONNECTIONS}, ${ROUNDS} rounds per side, merged)

| endpoint | req/s ours | req/s baseline | p50 / p99 ms ours | p50 / p99 ms baseline | CPU ms/req ours | CPU ms/req baseline | CPU ratio (median of rounds) | CPU ratio per round | CPU ratio pooled | CPU ms/req over baseline | D1 round trips | KV ops |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |
${headline.join("\n")}

**Sign-in flow** (send → verify → me → refresh, one new phone per flow, ${CONNECTIONS} connections):
ours ${fmt(flowO.rate, 1)} flows/s, baseline ${fmt(flowB.rate, 1)} flows/s: **${fmt(load.flow.rateRatio)}×** (median of the rounds' pairs:
${load.flow.rateRatios.map((x) => `${fmt(x)}×`).join(", ")}; pooled ${ratio(flowO.rate, flowB.rate)}); flow latency p50 / p99
${fmt(flowO.p50)} / ${fmt(flowO.p99)} ms ours, ${fmt(flowB.p50)} / ${fmt(flowB.p99)} ms baseline; CPU per flow ${fmt(flowO.cpuPerFlow)} ms ours,
${fmt(flowB.cpuPerFlow)} ms baseline.

| flow step | p50 / p99 ms ours | p50 / p99 ms baseline |
| --- | ---: | ---: |
${stepRows.join("\n")}

**Bundle**: ${fmt(size.gzipKiB, 1)} KiB gzip (${fmt(size.rawKiB, 1)} KiB raw, minified), from \`node scripts/size.mjs\`
(\`wrangler deploy --dry-run\` of wrangler.toml). The bench's own production dry run found
${results.built.benchInputs.length === 0 ? "no input under bench/" : `bench inputs: ${results.built.benchInputs.join(", ")}`} among its ${results.built.productionInputs} inputs: the counting wrappers and
the bench route live only in the bench entries.

"CPU ms/req" is the utime + stime of the workerd process (/proc/<pid>/stat, all threads, ${1000 / CLK_TCK} ms ticks)
over a run divided by the requests answered; it includes the simulated D1, KV and limiter, which is
why the ratio, not the absolute figure, is the budget. "CPU ms/req over baseline" is what our code
adds per request (framework, validation, phone parsing, audit details, JWT library): an absolute
estimate of our own overhead, which production would also pay.

## Storage and crypto per request (counting pass)

D1 round trips are statements run alone or batches (each batch one round trip); every \`/v1\` request
opens one D1 session (\`withSession\`), counted through the session. Ours / baseline:

| endpoint | D1 round trips | D1 statements | KV operations | Rate Limiting calls | SQL texts vs baseline |
| --- | ---: | ---: | --- | --- | --- |
${opsRows.join("\n")}

${sqlDiffs.length === 0 ? "The baseline sends exactly the same SQL texts (whitespace-normalised) as our Worker on every endpoint, as often per request." : `**The baseline's SQL differs from ours** (update bench/workers/baseline-worker.ts; the CPU comparison is not like for like):\n\n${sqlDiffs.join("\n")}`}

WebCrypto calls per request (by operation and algorithm), ours vs baseline:

| endpoint | ours | baseline |
| --- | --- | --- |
${cryptoRows.join("\n")}

## Query plans of every statement (EXPLAIN QUERY PLAN)

${planSection(results)}

## Done once per isolate (hot path)

- **Config parse** (src/config.ts \`loadConfig\`): cached per \`env\` object in a WeakMap. Measured: the
  bench env object was made ${envWraps} time(s) in the isolate, and the env's \`JWT_PRIVATE_KEYS\` (read by
  every parse) was read ${keyReads} times during all ${SCENARIOS.reduce((acc, { key }) => acc + load[key].ours.rounds + load[key].ours.retries, 0)} of our load runs: no parse on the hot path.
- **Key import** (src/tokens/jwt.ts \`keySet\`): cached per config. Measured: ${fmt(ecdsaImports, 0)} ECDSA
  \`importKey\` per request over all endpoints; HKDF subkeys (src/crypto.ts \`keyedHasher\`): ${fmt(hkdf, 0)} \`deriveKey\` per request.
- **Compiled schemas**: every Zod schema and \`createRoute\` is a module-level constant (src/*/routes.ts,
  src/otp/schemas.ts, src/config.ts), built once when the isolate loads the module; no schema is made per request.
- **Common-password set** (src/passwords/policy.ts \`commonPasswords\`): read from the ASSETS binding
  (assets/passwords/common.txt) on the first policy check and kept as a \`Set\` (its promise cached) for the
  isolate. Measured: the ${results.assets.passwordSets} passwords this run set (bench setup) made ${results.assets.fetches} ASSETS read(s). Password
  login does not check the policy at all.
- Per request, and inherent: PBKDF2 imports the (peppered) password as a key on every password check.
- Per request, **not** once per isolate: ${hmacImports > 0 ? `the SMS webhook provider (src/sms/sender.ts \`hmacHex\`) imports its HMAC key on every send (${fmt(hmacImports, 0)} HMAC \`importKey\` per send; the baseline imports it once). Small (one import), but it could be cached per config like the JWT keys.` : "nothing else seen."}

## Load runs (every side, merged over rounds)

| endpoint | side | req/s | req/s per round | p50 ms | p99 ms | CPU ms/req | CPU ms/req per round | 2xx | non-2xx | D1 / KV per req under load | other load, cores (max) | repeats |
| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |
${loadRows.join("\n")}

## Method

- **Build.** bench/suites/endpoints.mjs bundles bench/workers/bench-entry.ts (the unchanged \`src/index.ts\` Worker behind
  bench/workers/counting.ts), bench/workers/baseline-worker.ts and bench/workers/floor-worker.ts with \`wrangler deploy --dry-run\` using a copy of
  wrangler.toml with only \`main\` replaced (same minify, aliases, compatibility date).
- **Runtime.** Each side runs in its own Miniflare ${f.miniflare} (one workerd process each, so
  each side's CPU is read from its own process). Settings are production's: \`ENVIRONMENT\` unset,
  wrangler.toml's vars, fresh ES256 keys and pepper, \`SMS_PROVIDER=webhook\` pointed at a URL that
  Miniflare's \`outboundService\` answers in Node (the bench reads the codes from those webhook calls;
  no \`dev_code\`, no network). D1 (migrated from migrations/) and KV are Miniflare's, in memory.
- **Limits raised for the bench, code paths unchanged.** The Rate Limiting bindings \`ME_LIMITER\` and
  \`INVITE_LIMITER\` are configured under their production names but with a limit of ${RAISED_LIMIT.toLocaleString("en")}
  per 60 s instead of 100 and 20, so the middleware still calls \`limit()\` on every request and is
  never refused. Per-IP KV windows: every request carries its own \`CF-Connecting-IP\` (10.0.0.0/8), so
  the window is read and written as in production but never full. Per-phone send limits: one new phone per
  send. No config var is changed.
- **Workloads.** send: a new phone per request. verify: codes sent (unmeasured) right before the run,
  one per request, the run stops when they are used up. me: ${POOL_USERS} signed-in users in turn. refresh:
  rotating chains (each answer's new refresh token is used next). invite: one fresh signed-in caller per
  request, all activating one inviter's code. password login: ${POOL_USERS} users with a password in turn
  (PBKDF2 at 100,000 iterations on both sides: the baseline calls the same src/passwords/hash.ts, so
  hashing cancels out of the ratio and the CPU difference is the rest of the route). flow: per
  connection send → verify (the code from the webhook) → me → refresh, a new phone per flow.
- **Runs.** A counting pass (connections 1, SQL recorded), an unmeasured 2 s warm-up of every endpoint
  on both sides, then ${ROUNDS} rounds in which every endpoint runs on both sides back to back (order
  reversed every other round), autocannon ${f.autocannon}, ${CONNECTIONS} connections, ${DURATION} s or the stateful pool.
  req/s counts 2xx over the run's duration; p50/p99 are autocannon's per-response timings (2xx only).
  Any non-2xx answer aborts the bench.
- **Noise.** ${results.busyMachine ? "**During this run other processes kept the machine busy** (no quiet spell was found), so noisy runs were kept rather than repeated. " : ""}The machine is shared (${f.cores} cores; other sessions run test suites). Each run records
  the CPU other processes used meanwhile (/proc/stat busy time minus this bench's processes); a run
  with over ${QUIET_CORES} cores of it is repeated after a quiet spell (at most ${RETRIES} times, and not after
  ${RETRY_DEADLINE_MS / 60_000} min). Before the load runs other processes used ${fmt(results.quietAtStart.cores)} cores. CPU time,
  unlike latency, does not count waiting for a core, so the CPU ratio is the steadiest figure.
- Not part of \`npm test\`. Related: \`npm run bench:scale\` (bench/SCALE.md: /v1/me, referrals and admin
  search on 100,000 users vs an empty database), \`npm run bench:password\` (bench/PASSWORD.md).

## Machine

${factsMarkdown(f)}
`;
}

export default {
  name: "endpoints",
  timeoutMs: 16 * 60_000,
  failureCode: 2,
  main,
  // A partial (BENCH_ENDPOINTS) or counting-only (BENCH_OPS_ONLY) run writes nothing.
  // BENCH_STORAGE=apart writes a report of its own beside the usual one.
  raw: (results) => (results.partial || results.opsOnly ? null : join(outDir, `bench-last${STORAGE_APART ? "-apart" : ""}.json`)),
  // Not run through Biome: biome.json ignores bench/RESULTS*.md.
  report: (results) => (results.partial || results.opsOnly ? null : join(root, "bench", `RESULTS${STORAGE_APART ? "-apart" : ""}.md`)),
  render: report,
  exitCode(results, log) {
    if (results.opsOnly) return results.drift === 0 ? 0 : 1;
    if (results.partial) return 0;
    for (const row of results.budgets) log(`${row.pass ? "met   " : "BROKEN"} ${row.name}: ${row.shown} (${row.limit})`);
    return results.budgets.every((row) => row.pass) ? 0 : 1;
  },
};
