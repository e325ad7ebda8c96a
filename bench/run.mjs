// `npm run bench`: load per endpoint and for the sign-in flow, our Worker vs a bare baseline.
//
// 1. Builds two bench-only entries with wrangler's own bundler (`wrangler deploy --dry-run`, the
//    same minify and aliases as production): bench/bench-entry.ts (the real src/index.ts behind the
//    counting bindings of bench/counting.ts) and bench/baseline-worker.ts (a plain fetch handler
//    doing the same storage calls and signatures). Neither is ever in the production bundle.
// 2. Runs each in its own Miniflare (wrangler's own; one workerd process each, which also runs
//    the simulated D1, KV and Rate Limiting), production settings (ENVIRONMENT unset), the SMS
//    webhook provider answered in Node by Miniflare's outboundService (which is how the bench
//    learns the codes), D1 migrated, the Rate Limiting bindings present with raised limits.
// 3. Counting pass: a few sequential requests per endpoint; D1 round trips and statements, KV
//    operations, limiter calls and WebCrypto calls per request, and the SQL texts of both sides.
// 4. Load: autocannon per endpoint and for the flow (send → verify → me → refresh), ours and the
//    baseline interleaved, ROUNDS rounds; CPU per request from /proc/<workerd pid>/stat.
// 5. `node scripts/size.mjs` for the bundle, then the budgets; writes bench/RESULTS.md and exits 1
//    only when a budget is broken (2 on a bench failure or timeout).
//
// Env: BENCH_DURATION (s per run, default 4), BENCH_ROUNDS (4), BENCH_CONNECTIONS (4),
// BENCH_OPS_REQUESTS (10), BENCH_QUIET_CORES (0.3), BENCH_REPORT_ONLY (rewrite RESULTS.md from
// bench/.out/bench-last.json), BENCH_OPS_ONLY (counting pass only: checks that the baseline still
// sends our SQL, in about a minute; exit 1 on a difference), BENCH_ENDPOINTS (comma-separated scenario
// keys, e.g. `verify,invite`: counting pass and load on those only, ratios logged, neither
// RESULTS.md nor bench-last.json written; for quick before/after checks of a change).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import autocannon from "autocannon";
import { generateDevSecrets } from "../scripts/secrets.mjs";
import {
  CLK_TCK,
  cleanupOnExit,
  descendants,
  factsMarkdown,
  fmt,
  foreignLoad as foreignLoadOf,
  freePort,
  machineFacts,
  outDir,
  processCpuMs,
  quantile,
  root,
  sleep,
  waitForQuiet as waitForQuietOf,
  withTimeout,
  wranglerEnv,
  wranglerMiniflare,
} from "./common.mjs";
import { phoneFor } from "./seed.mjs";

const DURATION = Number(process.env.BENCH_DURATION ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
const OPS_REQUESTS = Number(process.env.BENCH_OPS_REQUESTS ?? 10);
const QUIET_CORES = Number(process.env.BENCH_QUIET_CORES ?? 0.3);
const RETRIES = 1;
const OVERALL_TIMEOUT_MS = 14 * 60_000;
// After this long, noisy runs are kept rather than repeated, so the bench ends in ~10 minutes.
const RETRY_DEADLINE_MS = 8 * 60_000;
const RAISED_LIMIT = 1_000_000_000;
const POOL_USERS = 16;
const PASSWORD = "correct horse battery staple 42 bench";

/** The budgets of issue #8. */
const BUDGET = { bundleKiB: 200, cpuRatio: 1.25, flowRateRatio: 0.8, meD1: 1, meKv: 0, verifyD1: 2, sendKv: 3, sendD1: 1 };

const SCENARIOS = [
  { key: "send", label: "POST /v1/auth/otp (send code)" },
  { key: "verify", label: "POST /v1/auth/otp/verify" },
  { key: "me", label: "GET /v1/me" },
  { key: "refresh", label: "POST /v1/auth/token (refresh)" },
  { key: "invite", label: "POST /v1/me/invite (activation)" },
  { key: "password", label: "POST /v1/auth/password/login" },
  { key: "flow", label: "flow: send → verify → me → refresh" },
];
const FLOW_STEPS = ["send", "verify", "me", "refresh"];
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

const wrangler = join(root, "node_modules", ".bin", "wrangler");
const work = join(outDir, `bench-${process.pid}`);
const started = Date.now();
const workers = [];
const log = (...args) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...args);
const JSON_HEADERS = { "content-type": "application/json" };
const WEBHOOK_URL = "http://sms-webhook.bench.invalid/send";

// ---------------------------------------------------------------- cleanup

const cleanup = cleanupOnExit("bench", OVERALL_TIMEOUT_MS, async () => {
  await Promise.allSettled(workers.map((worker) => worker.mf.dispose()));
  for (const worker of workers) {
    try {
      process.kill(worker.pid, 0);
      process.kill(worker.pid, "SIGKILL");
    } catch {
      // exited with its Miniflare
    }
  }
  rmSync(work, { recursive: true, force: true });
});

// ---------------------------------------------------------------- build

function wranglerBuild(config, outdir, extra = []) {
  const result = spawnSync(wrangler, ["deploy", "--dry-run", "--outdir", outdir, "--config", config, ...extra], {
    cwd: root,
    encoding: "utf8",
    timeout: 180_000,
    env: wranglerEnv(work),
  });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`wrangler deploy --dry-run (${config}) failed:\n${result.stdout}\n${result.stderr}`);
}

/** wrangler.toml with another `main` (absolute paths), so the bench entry is bundled exactly like production. */
function configFor(main, file) {
  const text = readFileSync(join(root, "wrangler.toml"), "utf8")
    .replace(/^main = "([^"]+)"/m, () => `main = "${main}"`)
    .replace(/^migrations_dir = "([^"]+)"/m, (_, path) => `migrations_dir = "${join(root, path)}"`)
    .replace(/^directory = "([^"]+)"/m, (_, path) => `directory = "${join(root, path)}"`)
    .replace(/^("[^"]+" = )"(\.\/[^"]+)"/gm, (_, key, path) => `${key}"${join(root, path)}"`);
  if (!text.includes(`main = "${main}"`)) throw new Error("wrangler.toml has no main line; update bench/run.mjs");
  writeFileSync(file, `# Generated by bench/run.mjs from wrangler.toml (main replaced).\n${text}`);
  return file;
}

function build() {
  const scripts = {};
  for (const [kind, entry] of [
    ["ours", "bench-entry.ts"],
    ["baseline", "baseline-worker.ts"],
  ]) {
    const dir = join(work, `${kind}-bundle`);
    wranglerBuild(configFor(join(root, "bench", entry), join(work, `wrangler.${kind}.toml`)), dir);
    scripts[kind] = join(dir, entry.replace(/\.ts$/, ".js"));
  }
  // The production bundle must not contain bench code (its entry is src/index.ts).
  const metafile = join(work, "production-meta.json");
  wranglerBuild(join(root, "wrangler.toml"), join(work, "production-bundle"), ["--metafile", metafile]);
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

function wranglerVars() {
  const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
  const vars = toml.slice(toml.indexOf("[vars]"));
  return Object.fromEntries([...vars.matchAll(/^([A-Z_]+) = "([^"]*)"$/gm)].map((m) => [m[1], m[2]]));
}

async function applyMigrations(mf) {
  const db = await mf.getD1Database("DB");
  const dir = join(root, "migrations");
  for (const file of readdirSync(dir)
    .filter((name) => name.endsWith(".sql"))
    .sort()) {
    for (const statement of readFileSync(join(dir, file), "utf8").split("--> statement-breakpoint")) {
      if (statement.trim()) await db.prepare(statement).run();
    }
  }
}

/** The ASSETS binding: files under assets/ by URL path, as Workers Static Assets would serve them. */
function serveAsset(request) {
  const dir = join(root, "assets");
  const file = join(dir, decodeURIComponent(new URL(request.url).pathname));
  if (!file.startsWith(`${dir}/`) || !existsSync(file)) return new Response("not found", { status: 404 });
  return new Response(readFileSync(file));
}

async function startWorker(kind, scriptPath, bindings, compatibilityDate) {
  const { Miniflare } = wranglerMiniflare();
  const codes = new Map();
  const sms = { delivered: 0 };
  const before = new Set(descendants(process.pid, "workerd"));
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: await freePort(),
    modules: true,
    scriptPath,
    compatibilityDate,
    compatibilityFlags: [],
    bindings,
    d1Databases: { DB: `bench-${kind}` },
    kvNamespaces: { KV: `bench-${kind}` },
    // The same binding names as wrangler.toml, limits raised so one bench user is never refused.
    ratelimits: {
      ME_LIMITER: { simple: { limit: RAISED_LIMIT, period: 60 } },
      INVITE_LIMITER: { simple: { limit: RAISED_LIMIT, period: 60 } },
    },
    // wrangler.toml's [assets] (static data the Worker reads, e.g. the common-password list).
    serviceBindings: { ASSETS: serveAsset },
    // The SMS webhook provider's POST lands here: the bench reads the code out of it.
    outboundService: async (request) => {
      if (!request.url.startsWith(WEBHOOK_URL)) return new Response("no network in the bench", { status: 502 });
      const message = await request.json();
      if (message.code) codes.set(message.to, message.code);
      sms.delivered++;
      return new Response(null, { status: 204 });
    },
  });
  const url = (await withTimeout(mf.ready, 60_000, `Miniflare (${kind}) start`)).toString().replace(/\/$/, "");
  const pids = descendants(process.pid, "workerd").filter((pid) => !before.has(pid));
  if (pids.length !== 1) throw new Error(`expected one new workerd process for ${kind}, found ${pids.length}`);
  await applyMigrations(mf);
  let phones = kind === "ours" ? 0 : 8_000_000; // phoneFor is a valid BY mobile below 18,000,000
  let ips = 0;
  const worker = {
    kind,
    mf,
    url,
    pid: pids[0],
    codes,
    sms,
    refreshQueue: [],
    passwordUsers: [],
    phone: () => phoneFor(phones++),
    // A fresh client address per request, so the per-IP KV windows never refuse (10.0.0.0/8).
    ip: () => {
      ips++;
      return `10.${(ips >> 16) & 255}.${(ips >> 8) & 255}.${ips & 255}`;
    },
  };
  workers.push(worker);
  return worker;
}

// ---------------------------------------------------------------- HTTP helpers

async function call(worker, method, path, { body = undefined, token = undefined, ip = undefined } = {}) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (body) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  if (ip) headers["cf-connecting-ip"] = ip;
  const response = await fetch(`${worker.url}${path}`, {
    method,
    headers,
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text, headers: response.headers };
}

function expect(response, status, what) {
  if (response.status !== status) throw new Error(`${what}: ${response.status} ${response.text.slice(0, 300)}`);
  return response.json;
}

async function sendCode(worker) {
  const phone = worker.phone();
  expect(await call(worker, "POST", "/v1/auth/otp", { body: { phone }, ip: worker.ip() }), 200, `${worker.kind} send`);
  const code = worker.codes.get(phone);
  if (!code) throw new Error(`${worker.kind}: the SMS webhook did not receive a code for ${phone}`);
  return { phone, code };
}

async function signIn(worker) {
  const { phone, code } = await sendCode(worker);
  const tokens = expect(await call(worker, "POST", "/v1/auth/otp/verify", { body: { phone, code }, ip: worker.ip() }), 200, "verify");
  worker.codes.delete(phone);
  return { phone, access: tokens.access_token, refresh: tokens.refresh_token, inviteCode: tokens.user?.invite_code };
}

async function many(count, task, parallel = CONNECTIONS) {
  const out = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) {
        next++;
        out.push(await task());
      }
    }),
  );
  return out;
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

// ---------------------------------------------------------------- scenarios

/** autocannon request list for a scenario on a worker; `state` comes from `prepare`. */
const scenarioSpecs = {
  send: {
    requests: (w) => [
      {
        method: "POST",
        path: "/v1/auth/otp",
        setupRequest: (r) => ({
          ...r,
          headers: { ...JSON_HEADERS, "cf-connecting-ip": w.ip() },
          body: JSON.stringify({ phone: w.phone() }),
        }),
      },
    ],
  },
  verify: {
    // One fresh code per request: sent (unmeasured) right before the run.
    prepare: async (w, size) => many(size, () => sendCode(w)),
    amount: (state) => state.length,
    requests: (w, pool) => [
      {
        method: "POST",
        path: "/v1/auth/otp/verify",
        setupRequest: (r) => {
          const item = pool.pop() ?? { phone: "+375291111111", code: "000000" };
          return { ...r, headers: { ...JSON_HEADERS, "cf-connecting-ip": w.ip() }, body: JSON.stringify(item) };
        },
      },
    ],
  },
  me: {
    prepare: async (w) => many(POOL_USERS, () => signIn(w)),
    requests: (_w, users) => {
      let turn = 0;
      return [
        {
          method: "GET",
          path: "/v1/me",
          setupRequest: (r) => ({ ...r, headers: { authorization: `Bearer ${users[turn++ % users.length].access}` } }),
        },
      ];
    },
  },
  refresh: {
    // Refresh tokens rotate: every answer's new token goes back into the queue.
    prepare: async (w) => {
      const missing = 4 * CONNECTIONS - w.refreshQueue.length;
      if (missing > 0) w.refreshQueue.push(...(await many(missing, () => signIn(w))).map((user) => user.refresh));
      return w.refreshQueue;
    },
    requests: (_w, queue) => [
      {
        method: "POST",
        path: "/v1/auth/token",
        setupRequest: (r) => ({ ...r, headers: JSON_HEADERS, body: JSON.stringify({ refresh_token: queue.shift() ?? "rt_missing" }) }),
        onResponse: (status, body) => {
          if (status === 200) queue.push(JSON.parse(body).refresh_token);
        },
      },
    ],
  },
  invite: {
    // Activation is once per account: one fresh signed-in caller per request, all using one inviter's code.
    prepare: async (w, size) => ({ inviter: await signIn(w), callers: await many(size, () => signIn(w)) }),
    amount: (state) => state.callers.length,
    requests: (_w, state) => [
      {
        method: "POST",
        path: "/v1/me/invite",
        setupRequest: (r) => ({
          ...r,
          headers: { ...JSON_HEADERS, authorization: `Bearer ${state.callers.pop()?.access ?? "missing"}` },
          body: JSON.stringify({ invite_code: state.inviter.inviteCode }),
        }),
      },
    ],
  },
  password: {
    prepare: async (w) => {
      if (w.passwordUsers.length === 0) {
        w.passwordUsers = await many(POOL_USERS, async () => {
          const user = await signIn(w);
          const set = await call(w, "PUT", "/v1/me/password", { body: { new_password: PASSWORD }, token: user.access });
          expect(set, 204, `${w.kind} set password`);
          return user;
        });
      }
      return w.passwordUsers;
    },
    requests: (w, users) => {
      let turn = 0;
      return [
        {
          method: "POST",
          path: "/v1/auth/password/login",
          setupRequest: (r) => ({
            ...r,
            headers: { ...JSON_HEADERS, "cf-connecting-ip": w.ip() },
            body: JSON.stringify({ phone: users[turn++ % users.length].phone, password: PASSWORD }),
          }),
        },
      ];
    },
  },
  flow: {
    // Per connection: a new phone, its code from the webhook, then the tokens it got.
    requests: (w) => [
      {
        method: "POST",
        path: "/v1/auth/otp",
        setupRequest: (r, context) => {
          context.phone = w.phone();
          context.ip = w.ip();
          return { ...r, headers: { ...JSON_HEADERS, "cf-connecting-ip": context.ip }, body: JSON.stringify({ phone: context.phone }) };
        },
      },
      {
        method: "POST",
        path: "/v1/auth/otp/verify",
        setupRequest: (r, context) => {
          const code = w.codes.get(context.phone) ?? "000000";
          w.codes.delete(context.phone);
          return {
            ...r,
            headers: { ...JSON_HEADERS, "cf-connecting-ip": context.ip },
            body: JSON.stringify({ phone: context.phone, code }),
          };
        },
        onResponse: (status, body, context) => {
          if (status !== 200) return;
          const tokens = JSON.parse(body);
          context.access = tokens.access_token;
          context.refresh = tokens.refresh_token;
        },
      },
      {
        method: "GET",
        path: "/v1/me",
        setupRequest: (r, context) => ({ ...r, headers: { authorization: `Bearer ${context.access ?? "missing"}` } }),
      },
      {
        method: "POST",
        path: "/v1/auth/token",
        setupRequest: (r, context) => ({
          ...r,
          headers: JSON_HEADERS,
          body: JSON.stringify({ refresh_token: context.refresh ?? "rt_missing" }),
        }),
      },
    ],
  },
};

// ---------------------------------------------------------------- measurements

const ourCpuMs = () => {
  let total = processCpuMs(process.pid);
  for (const worker of workers) {
    try {
      total += processCpuMs(worker.pid);
    } catch {
      // exited
    }
  }
  return total;
};
const foreignLoad = () => foreignLoadOf(ourCpuMs);
const waitForQuiet = (maxMs) => waitForQuietOf(ourCpuMs, { maxMs, limit: QUIET_CORES });

/** One autocannon run of a scenario: raw numbers (merged across rounds by `summarize`). */
async function loadRun(worker, key, state, { duration = DURATION, amount = 0, connections = CONNECTIONS, record = false } = {}) {
  const spec = scenarioSpecs[key];
  const latencies = [];
  const statuses = {};
  const perClient = new Map();
  const flow = { latencies: [], completed: 0, steps: Object.fromEntries(FLOW_STEPS.map((step) => [step, []])) };
  await ops(worker, { reset: true, record });
  const cpuBefore = processCpuMs(worker.pid);
  const foreign = foreignLoad();
  const options = { url: worker.url, connections, requests: spec.requests(worker, state), timeout: 30 };
  if (amount) options.amount = amount;
  else options.duration = duration;
  const tracker = autocannon(options);
  tracker.on("response", (client, status, _bytes, ms) => {
    statuses[status] = (statuses[status] ?? 0) + 1;
    const ok = status >= 200 && status < 300;
    if (ok) latencies.push(ms);
    if (key !== "flow") return;
    // A connection cycles through the four steps in order (no pipelining).
    const seen = perClient.get(client) ?? { step: 0, sum: 0, ok: true };
    if (ok) flow.steps[FLOW_STEPS[seen.step]].push(ms);
    seen.sum += ms;
    seen.ok &&= ok;
    seen.step++;
    if (seen.step === FLOW_STEPS.length) {
      if (seen.ok) {
        flow.completed++;
        flow.latencies.push(seen.sum);
      }
      perClient.set(client, { step: 0, sum: 0, ok: true });
    } else perClient.set(client, seen);
  });
  const result = await withTimeout(Promise.resolve(tracker), ((amount ? 120 : duration) + 60) * 1000, `autocannon ${worker.kind} ${key}`);
  const cpu = processCpuMs(worker.pid) - cpuBefore;
  const foreignCores = foreign();
  const counted = await settledOps(worker);
  return {
    duration: result.duration,
    total: result.requests.total,
    ok: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    statuses,
    latencies,
    cpu,
    foreignCores,
    ops: counted,
    flow: key === "flow" ? flow : undefined,
  };
}

/** Size of a stateful pool for about DURATION seconds at the rate seen in the warm-up. */
const poolSize = (rate) => Math.max(4 * CONNECTIONS, Math.min(3000, Math.ceil(rate * DURATION)));

// Set once a wait for quiet fails: on a machine that stays busy, repeating runs only costs time.
let busyMachine = false;

async function measured(worker, key, rates) {
  const spec = scenarioSpecs[key];
  let retries = 0;
  for (;;) {
    const size = poolSize(rates[`${worker.kind}/${key}`] ?? 100);
    const state = spec.prepare ? await spec.prepare(worker, size) : undefined;
    const run = await loadRun(worker, key, state, { amount: spec.amount?.(state) });
    const late = Date.now() - started > RETRY_DEADLINE_MS;
    if (run.foreignCores < QUIET_CORES || retries >= RETRIES || late || busyMachine) return { ...run, retries };
    retries++;
    log(`  other processes used ${fmt(run.foreignCores)} cores during ${worker.kind} ${key}: waiting for quiet, then repeating it`);
    if (!(await waitForQuiet(20_000)).quiet) {
      busyMachine = true;
      log("  the machine stays busy: keeping noisy runs from now on (paired, interleaved runs still share the noise)");
    }
  }
}

function summarize(runs) {
  const sum = (pick) => runs.reduce((acc, run) => acc + pick(run), 0);
  const seconds = sum((r) => r.duration);
  const total = sum((r) => r.total);
  const statuses = {};
  for (const run of runs) for (const [code, n] of Object.entries(run.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  const latencies = runs.flatMap((r) => r.latencies);
  const opsTotal = (pick) =>
    sum((r) => pick(r.ops)) /
    Math.max(
      1,
      sum((r) => r.ops.requests),
    );
  const summary = {
    rounds: runs.length,
    seconds,
    total,
    ok: sum((r) => r.ok),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    statuses,
    rps: sum((r) => r.ok) / seconds,
    roundRps: runs.map((r) => r.ok / r.duration),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuPerRequest: sum((r) => r.cpu) / total,
    roundCpu: runs.map((r) => r.cpu / r.total),
    foreignCores: Math.max(...runs.map((r) => r.foreignCores)),
    retries: sum((r) => r.retries ?? 0),
    loadOps: { d1: opsTotal((o) => o.d1RoundTrips), kv: opsTotal((o) => Object.values(o.kv).reduce((a, b) => a + b, 0)) },
    keyReads: sum((r) => r.ops.keyReads),
  };
  if (runs[0].flow) {
    const flows = sum((r) => r.flow.completed);
    summary.flow = {
      completed: flows,
      rate: flows / seconds,
      p50: quantile(
        runs.flatMap((r) => r.flow.latencies),
        0.5,
      ),
      p99: quantile(
        runs.flatMap((r) => r.flow.latencies),
        0.99,
      ),
      cpuPerFlow: sum((r) => r.cpu) / Math.max(1, flows),
      steps: Object.fromEntries(
        FLOW_STEPS.map((step) => {
          const samples = runs.flatMap((r) => r.flow.steps[step]);
          return [step, { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) }];
        }),
      ),
    };
  }
  return summary;
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

async function countingPass(worker, key) {
  const spec = scenarioSpecs[key];
  const steps = key === "flow" ? FLOW_STEPS.length : 1;
  // One unrecorded request (one flow) first, so what an isolate does once (key imports, HKDF
  // subkeys, config) is not counted as per-request work.
  const state = spec.prepare ? await spec.prepare(worker, OPS_REQUESTS + 1) : undefined;
  await loadRun(worker, key, state, { amount: steps, connections: 1 });
  const run = await loadRun(worker, key, state, { amount: OPS_REQUESTS * steps, connections: 1, record: true });
  if (run.non2xx > 0 || run.errors > 0) throw new Error(`${worker.kind} ${key} counting pass: ${JSON.stringify(run.statuses)}`);
  await ops(worker, { reset: true, record: false });
  return perRequest(run.ops);
}

function compareSql(ours, base) {
  const texts = new Set([...Object.keys(ours.sql), ...Object.keys(base.sql)]);
  const diffs = [];
  for (const text of texts) {
    const a = ours.sql[text] ?? 0;
    const b = base.sql[text] ?? 0;
    if (Math.abs(a - b) > 1e-9) diffs.push({ text, ours: a, baseline: b });
  }
  return { statements: texts.size, diffs };
}

// ---------------------------------------------------------------- query plans

async function sessionCount(worker) {
  const db = await worker.mf.getD1Database("DB");
  return (await db.prepare("SELECT count(*) AS n FROM sessions").first()).n;
}

/**
 * EXPLAIN QUERY PLAN of every distinct statement the counting pass saw (parameters bound as NULL;
 * SQLite picks plans from the shape, and these tables have no ANALYZE statistics either way).
 * A "table scan" is a SCAN of a table (not of a constant row, a CTE, or an index walk).
 */
async function explainAll(worker, counts) {
  const db = await worker.mf.getD1Database("DB");
  const texts = new Map();
  for (const { key, label } of SCENARIOS) {
    if (key === "flow") continue;
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

async function main() {
  mkdirSync(work, { recursive: true });
  const facts = machineFacts();
  log(`${facts.cpu}, ${facts.cores} cores, node ${facts.node}, wrangler ${facts.wrangler}, ${facts.workerd}`);

  log("building the bench entries with wrangler (dry run)");
  const built = build();
  if (built.benchInputs.length > 0) throw new Error(`the production bundle contains bench code: ${built.benchInputs.join(", ")}`);
  const compatibilityDate = /^compatibility_date = "([^"]+)"/m.exec(readFileSync(join(root, "wrangler.toml"), "utf8"))?.[1];
  const secrets = await generateDevSecrets();
  // Production settings (ENVIRONMENT unset): wrangler.toml's vars, fresh secrets, the webhook provider.
  const bindings = {
    ...wranglerVars(),
    ...secrets,
    SMS_PROVIDER: "webhook",
    SMS_WEBHOOK_URL: WEBHOOK_URL,
    SMS_WEBHOOK_SECRET: "bench-webhook-secret-0123456789",
  };
  const ours = await startWorker("ours", built.scripts.ours, bindings, compatibilityDate);
  const base = await startWorker("baseline", built.scripts.baseline, bindings, compatibilityDate);
  const pair = [ours, base];
  log(`ours ${ours.url} (workerd ${ours.pid}), baseline ${base.url} (workerd ${base.pid})`);

  // ---- counting pass: sequential, SQL recorded ----
  const counts = {};
  for (const { key } of MEASURED) {
    counts[key] = { ours: await countingPass(ours, key), baseline: await countingPass(base, key) };
    counts[key].sqlCompare = compareSql(counts[key].ours, counts[key].baseline);
    const c = counts[key];
    log(
      `ops ${key}: ours D1 ${fmt(c.ours.d1)} (${fmt(c.ours.statements, 1)} stmts) KV ${fmt(c.ours.kv)} | baseline D1 ${fmt(c.baseline.d1)} (${fmt(c.baseline.statements, 1)}) KV ${fmt(c.baseline.kv)} | SQL diffs ${c.sqlCompare.diffs.length}`,
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
  for (const { key } of MEASURED) {
    for (const worker of pair) {
      const spec = scenarioSpecs[key];
      const state = spec.prepare ? await spec.prepare(worker, 8 * CONNECTIONS) : undefined;
      const run = await loadRun(worker, key, state, { duration: 2, amount: spec.amount?.(state) });
      rates[`${worker.kind}/${key}`] = run.ok / run.duration;
      if (run.non2xx > 0 || run.errors > 0)
        throw new Error(`${worker.kind} ${key} warm-up: ${JSON.stringify(run.statuses)} errors ${run.errors}`);
    }
  }
  const quietAtStart = await waitForQuiet(30_000);
  busyMachine = !quietAtStart.quiet;
  log(
    `other processes before the load runs: ${fmt(quietAtStart.cores)} cores${quietAtStart.quiet ? "" : " (not quiet after 30 s, going on)"}`,
  );

  const sessionsAtLoadStart = await sessionCount(ours);
  // ---- load: every scenario, ours and baseline back to back, order alternating per round ----
  const raw = Object.fromEntries(MEASURED.map(({ key }) => [key, { ours: [], baseline: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? MEASURED : [...MEASURED].reverse();
    for (const { key } of order) {
      for (const worker of round % 2 === 0 ? pair : [...pair].reverse()) {
        const run = await measured(worker, key, rates);
        raw[key][worker.kind].push(run);
        log(
          `r${round + 1} ${key} ${worker.kind}: ${fmt(run.ok / run.duration, 0)} req/s, CPU ${fmt(run.cpu / run.total)} ms/req, non-2xx ${run.non2xx}, other load ${fmt(run.foreignCores)} cores`,
        );
        if (run.non2xx > 0 || run.errors > 0)
          throw new Error(`${worker.kind} ${key}: ${JSON.stringify(run.statuses)} errors ${run.errors}`);
      }
    }
  }
  const load = Object.fromEntries(
    MEASURED.map(({ key }) => {
      const pairs = raw[key].ours.map((run, i) => [run, raw[key].baseline[i]]);
      const cpuRatios = pairs.map(([o, b]) => o.cpu / o.total / (b.cpu / b.total));
      const rateRatios = pairs.map(([o, b]) =>
        o.flow ? o.flow.completed / o.duration / (b.flow.completed / b.duration) : o.ok / o.duration / (b.ok / b.duration),
      );
      return [
        key,
        {
          ours: summarize(raw[key].ours),
          baseline: summarize(raw[key].baseline),
          cpuRatios,
          cpuRatio: quantile(cpuRatios, 0.5),
          rateRatios,
          rateRatio: quantile(rateRatios, 0.5),
        },
      ];
    }),
  );
  if (ENDPOINTS) {
    // A partial run: no report (its tables and budgets need every endpoint), only the ratios.
    for (const { key, label } of MEASURED) {
      const l = load[key];
      log(
        `${label}: CPU ${fmt(l.ours.cpuPerRequest)} / ${fmt(l.baseline.cpuPerRequest)} ms/req, ratio ${fmt(l.cpuRatio)}× (median; rounds ${l.cpuRatios.map((x) => fmt(x)).join(", ")}; pooled ${ratio(l.ours.cpuPerRequest, l.baseline.cpuPerRequest)})`,
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
    settings: { DURATION, ROUNDS, CONNECTIONS, OPS_REQUESTS, QUIET_CORES, RAISED_LIMIT, POOL_USERS },
    quietAtStart,
    busyMachine,
    sessions: { atLoadStart: sessionsAtLoadStart, atEnd: sessionsAtEnd },
    assets,
    plans,
    counts,
    load,
    size,
    built: { benchInputs: built.benchInputs, productionInputs: built.productionInputs },
    sms: { ours: ours.sms.delivered, baseline: base.sms.delivered },
    elapsedMs: Date.now() - started,
  };
  results.budgets = budgets(results);
  writeFileSync(join(outDir, "bench-last.json"), JSON.stringify(results, null, 2));
  return results;
}

// ---------------------------------------------------------------- budgets and report

function budgets(results) {
  const { counts, load, size } = results;
  const rows = [];
  const check = (name, measured, limit, pass, shown = fmt(measured)) => rows.push({ name, measured, shown, limit, pass });
  check("GET /v1/me: D1 round trips per request", counts.me.ours.d1, `= ${BUDGET.meD1}`, counts.me.ours.d1 === BUDGET.meD1);
  check("GET /v1/me: KV operations per request", counts.me.ours.kv, `= ${BUDGET.meKv}`, counts.me.ours.kv === BUDGET.meKv);
  check("verify: D1 round trips per request", counts.verify.ours.d1, `≤ ${BUDGET.verifyD1}`, counts.verify.ours.d1 <= BUDGET.verifyD1);
  check("send: KV operations per request", counts.send.ours.kv, `≤ ${BUDGET.sendKv}`, counts.send.ours.kv <= BUDGET.sendKv);
  check("send: D1 round trips per request", counts.send.ours.d1, `≤ ${BUDGET.sendD1}`, counts.send.ours.d1 <= BUDGET.sendD1);
  check("bundle, minified, gzip (KiB)", size.gzipKiB, `≤ ${BUDGET.bundleKiB}`, size.gzipKiB <= BUDGET.bundleKiB, fmt(size.gzipKiB, 1));
  // Ratios: the median over rounds of each round's back-to-back pair (ours, baseline), so a burst of
  // other load during one run cannot decide a budget; the pooled ratio is reported beside it.
  for (const { key, label } of SCENARIOS) {
    const ratio = load[key].cpuRatio;
    check(`CPU per request, ours / baseline: ${label}`, ratio, `≤ ${BUDGET.cpuRatio}×`, ratio <= BUDGET.cpuRatio, `${fmt(ratio)}×`);
  }
  const flowRatio = load.flow.rateRatio;
  check("flow rate, ours / baseline", flowRatio, `≥ ${BUDGET.flowRateRatio}×`, flowRatio >= BUDGET.flowRateRatio, `${fmt(flowRatio)}×`);
  return rows;
}

const ratio = (a, b) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : "n/a");
const cryptoText = (counter) =>
  Object.entries(counter)
    .filter(([, n]) => n > 0)
    .sort()
    .map(([name, n]) => `${name} ${fmt(n, n % 1 === 0 ? 0 : 2)}`)
    .join(", ") || "—";
const kvText = (c) =>
  `${fmt(c.kv, c.kv % 1 === 0 ? 0 : 2)}${
    c.kv
      ? ` (${Object.entries(c.kvByMethod)
          .map(([m, n]) => `${m} ${fmt(n, n % 1 === 0 ? 0 : 2)}`)
          .join(", ")})`
      : ""
  }`;
const limiterText = (c) =>
  Object.entries(c.limiter)
    .map(([name, n]) => `${name} ${fmt(n, n % 1 === 0 ? 0 : 2)}`)
    .join(", ") || "—";

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
    return `| ${label} | ${fmt(o.rps, 0)} | ${fmt(b.rps, 0)} | ${fmt(o.p50)} / ${fmt(o.p99)} | ${fmt(b.p50)} / ${fmt(b.p99)} | ${fmt(o.cpuPerRequest)} | ${fmt(b.cpuPerRequest)} | **${fmt(l.cpuRatio)}×** | ${l.cpuRatios.map((x) => fmt(x)).join(", ")} | ${ratio(o.cpuPerRequest, b.cpuPerRequest)} | ${fmt(o.cpuPerRequest - b.cpuPerRequest)} | ${fmt(counts[key].ours.d1, counts[key].ours.d1 % 1 ? 2 : 0)} | ${fmt(counts[key].ours.kv, counts[key].ours.kv % 1 ? 2 : 0)} |`;
  });
  const flowO = load.flow.ours.flow;
  const flowB = load.flow.baseline.flow;
  const budgetRows = rows.map((row) => `| ${row.name} | ${row.shown} | ${row.limit} | ${row.pass ? "met" : "**BROKEN**"} |`);
  const opsRows = SCENARIOS.map(({ key, label }) => {
    const o = counts[key].ours;
    const b = counts[key].baseline;
    const same = o.d1 === b.d1 && o.statements === b.statements && o.kv === b.kv && counts[key].sqlCompare.diffs.length === 0;
    return `| ${label} | ${fmt(o.d1, o.d1 % 1 ? 2 : 0)} / ${fmt(b.d1, b.d1 % 1 ? 2 : 0)} | ${fmt(o.statements, 1)} / ${fmt(b.statements, 1)} | ${kvText(o)} / ${fmt(b.kv, b.kv % 1 ? 2 : 0)} | ${limiterText(o)} / ${limiterText(b)} | ${same ? "same" : `**${counts[key].sqlCompare.diffs.length} differ**`} |`;
  });
  const cryptoRows = SCENARIOS.map(
    ({ key, label }) => `| ${label} | ${cryptoText(counts[key].ours.crypto)} | ${cryptoText(counts[key].baseline.crypto)} |`,
  );
  const loadRows = [];
  for (const { key, label } of SCENARIOS) {
    for (const kind of ["ours", "baseline"]) {
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
  const stepRows = FLOW_STEPS.map(
    (step) =>
      `| ${step} | ${fmt(flowO.steps[step].p50)} / ${fmt(flowO.steps[step].p99)} | ${fmt(flowB.steps[step].p50)} / ${fmt(flowB.steps[step].p99)} |`,
  );
  const keyReads = SCENARIOS.reduce((acc, { key }) => acc + load[key].ours.keyReads, 0);
  const importsPerRequest = (key, alg) => counts[key].ours.crypto[`importKey:${alg}`] ?? 0;
  const ecdsaImports = SCENARIOS.reduce((acc, { key }) => acc + importsPerRequest(key, "ECDSA"), 0);
  const hkdf = SCENARIOS.reduce((acc, { key }) => acc + (counts[key].ours.crypto["deriveKey:HKDF"] ?? 0), 0);
  const hmacImports = importsPerRequest("send", "HMAC");
  const envWraps = counts.flow.ours.envWraps;
  return `# Benchmark: our Worker vs a bare baseline, per endpoint and for the sign-in flow

Generated by \`npm run bench\` (bench/run.mjs) on ${f.date}, on this machine (facts at the end), in ${fmt(results.elapsedMs / 60_000, 1)} min.
Local numbers: one workerd process runs the Worker **and** the simulated D1 (SQLite), KV and Rate
Limiting, so absolute milliseconds are not production's. What the budgets use are measurements
taken in the same run against a **bare baseline Worker** (bench/baseline-worker.ts: a plain fetch
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

${sqlDiffs.length === 0 ? "The baseline sends exactly the same SQL texts (whitespace-normalised) as our Worker on every endpoint, as often per request." : `**The baseline's SQL differs from ours** (update bench/baseline-worker.ts; the CPU comparison is not like for like):\n\n${sqlDiffs.join("\n")}`}

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

- **Build.** bench/run.mjs bundles bench/bench-entry.ts (the unchanged \`src/index.ts\` Worker behind
  bench/counting.ts) and bench/baseline-worker.ts with \`wrangler deploy --dry-run\` using a copy of
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

function writeReport(results) {
  const file = join(root, "bench", "RESULTS.md");
  // Not run through Biome: biome.json ignores bench/RESULTS.md.
  writeFileSync(file, report(results));
  const failed = results.budgets.filter((row) => !row.pass);
  for (const row of results.budgets) log(`${row.pass ? "met   " : "BROKEN"} ${row.name}: ${row.shown} (${row.limit})`);
  log(`wrote bench/RESULTS.md (raw numbers: bench/.out/bench-last.json)`);
  return failed.length === 0 ? 0 : 1;
}

let exitCode = 0;
try {
  const results = process.env.BENCH_REPORT_ONLY ? JSON.parse(readFileSync(join(outDir, "bench-last.json"), "utf8")) : await main();
  await cleanup();
  if (results.opsOnly) exitCode = results.drift === 0 ? 0 : 1;
  else if (!results.partial) exitCode = writeReport(results);
} catch (error) {
  console.error(error);
  exitCode = 2;
} finally {
  await cleanup();
}
process.exit(exitCode);
