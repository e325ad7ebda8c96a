// `npm run bench:scale`: do GET /v1/me, the referral list and admin search stay flat as the database grows?
//
// For each database (LARGE: 100,000 users, one hub with 10,000 direct and 50,000 second-level
// referrals; EMPTY: fresh, only the users the bench signs in) it:
//   1. applies the D1 migrations to a throwaway --persist-to dir and (LARGE) seeds it with
//      `wrangler d1 execute --file` (multi-row INSERTs from bench/lib/seed.mjs),
//   2. bundles the Worker once (`wrangler deploy --dry-run`, as deployed), runs that bundle with
//      `wrangler dev --no-bundle` (so edits to src/ in this shared checkout cannot reload it
//      mid-run), and signs in through the API (POST /v1/auth/otp,
//      sandbox dev_code, POST /v1/auth/otp/verify; a distinct CF-Connecting-IP per sign-in),
//   3. pass A, load: autocannon at concurrency 4 for ~5 s per route (GET /v1/me, first referral
//      page, a deep page ~50 pages in) for the hub and a user with no referrals. The ME_LIMITER
//      binding (100/min per user, simulated by Miniflare) would turn that load into 429s, so this
//      pass runs a generated copy of wrangler.toml without the [[ratelimits]] blocks (the code
//      skips the limiter when the binding is absent); everything else is identical,
//   4. pass B, wrangler.toml's bindings with the limiter on: a probe showing where it blocks,
//      autocannon with a pool of distinct signed-in users (each under its budget), and
//      sequential per-request latency for the hub staying under 100/min,
//   5. admin search (GET /v1/admin/users: newest first, a broad phone prefix, one whole phone, an
//      invite code) by an admin (a phone in ADMIN_PHONES), load as in pass A on both databases,
//   6. (LARGE) EXPLAIN QUERY PLAN of the exact SQL the route code sends (captured from src/ by
//      bench/workers/sql-capture.ts, values inlined) via `wrangler d1 execute --command`.
// Writes bench/SCALE.md. Every wait is bounded; processes and temp dirs are removed on exit.
//
// Env: BENCH_SMOKE (a quick end-to-end check: 2,000 users, 1 s runs, 1 round, report to bench/.out/),
// BENCH_DURATION (s, default 5), BENCH_CONNECTIONS (4), BENCH_USERS (100000),
// BENCH_DIRECT (10000), BENCH_PER_DIRECT (5), BENCH_DEEP_PAGES (50), BENCH_SEQUENTIAL (30),
// BENCH_ROUNDS (3: pass A runs every route this many times, alternating the order).
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { bundle, factsMarkdown, fmt, foreignLoad, outDir, ratio, root, setting, sleep, waitForQuiet } from "../lib/common.mjs";
import { addresses, call, claimsOf, inParallel, signIn as signInThroughApi } from "../lib/http.mjs";
import { loadRun as autocannonRun, expectAllOk, inRounds, latencyStats, noiseGuard, summarize } from "../lib/load.mjs";
import { phoneFor, writeSeed } from "../lib/seed.mjs";
import {
  benchConfig,
  buildWorker,
  cpuOfAll,
  devEnvFile,
  migratedPersistDir,
  runWrangler,
  startWranglerDev,
  wranglerVars,
} from "../lib/workers.mjs";

const DURATION = setting("BENCH_DURATION", 5, 1);
const CONNECTIONS = setting("BENCH_CONNECTIONS", 4);
const USERS = setting("BENCH_USERS", 100_000, 2_000);
const DIRECT = setting("BENCH_DIRECT", 10_000, 200);
const PER_DIRECT = setting("BENCH_PER_DIRECT", 5, 2);
const DEEP_PAGES = setting("BENCH_DEEP_PAGES", 50, 3);
const SEQUENTIAL = setting("BENCH_SEQUENTIAL", 30, 3);
const ROUNDS = setting("BENCH_ROUNDS", 3, 1);
const PAGE = 20;
const ME_LIMIT = 100; // wrangler.toml ME_LIMITER, src/ratelimit/user.ts
// Other work on the machine (in cores) above which a load run is repeated: this box is shared.
const QUIET_CORES = setting("BENCH_QUIET_CORES", 0.3);
const RETRIES = 2;

/** `wrangler d1 execute --command` with --json; the result rows of the last statement. */
function d1Query(work, persistTo, command) {
  const args = ["d1", "execute", "DB", "--local", "--persist-to", persistTo, "--json", "--command", command];
  const { stdout } = runWrangler(work, args, 120_000);
  return JSON.parse(stdout.slice(stdout.indexOf("["))).at(-1).results;
}

// A fresh client address per sign-in (198.18.0.0/15 is reserved for benchmarks, RFC 2544).
const nextIp = addresses("198.18.0.0");

/** Signs phones in through the API (sandbox dev_code), `parallel` at a time: { phone, token, sub, sid } each. */
const signInMany = (worker, phones, parallel = 4) =>
  inParallel(phones.length, parallel, async (i) => {
    const { access_token: token } = await signInThroughApi(worker.url, phones[i], { ip: nextIp() });
    const { sub, sid } = claimsOf(token);
    return { phone: phones[i], token, sub, sid };
  });

/**
 * autocannon for DURATION s at CONNECTIONS, after a 1 s warm-up; `tokens` rotate per request.
 * Raw numbers; `summarize` merges the rounds of one route.
 */
async function loadRun(context, worker, path, tokens) {
  let turn = 0;
  const run = (duration) =>
    autocannonRun(worker, {
      connections: CONNECTIONS,
      duration,
      ours: context.ourCpuMs,
      requests: [
        {
          method: "GET",
          path,
          setupRequest: (request) => ({
            ...request,
            headers: { ...request.headers, authorization: `Bearer ${tokens[turn++ % tokens.length]}` },
          }),
        },
      ],
    });
  await run(1);
  return run(DURATION);
}

/** Waits until at least `needMs` remain in the current minute (the limiter's window is wall-clock aligned). */
async function roomInMinute(needMs) {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < needMs) await sleep(left + 250);
}

/** GET /v1/me as fast as possible, sequentially, one user: where does the limiter say no? */
async function probeLimiter(worker, token, count) {
  await roomInMinute(15_000);
  const codes = [];
  let first429;
  for (let i = 0; i < count; i++) {
    const response = await call(worker.url, "/v1/me", { token });
    codes.push(response.status);
    if (response.status === 429 && !first429) {
      first429 = {
        index: i + 1,
        retryAfter: response.headers.get("retry-after"),
        limitHeader: response.headers.get("ratelimit-limit"),
        body: response.json,
      };
    }
  }
  const tally = {};
  for (const code of codes) tally[code] = (tally[code] ?? 0) + 1;
  return { count, tally, first429 };
}

/** Follows next_cursor `pages` times; checks the walk has no duplicates and strictly descending dates. */
async function walkReferrals(worker, token, pages) {
  let cursor;
  const seen = new Set();
  let previous = Number.POSITIVE_INFINITY;
  let items = 0;
  const started = performance.now();
  for (let page = 0; page < pages; page++) {
    const response = await call(worker.url, `/v1/me/referrals?limit=${PAGE}${cursor ? `&cursor=${cursor}` : ""}`, { token });
    if (response.status !== 200) throw new Error(`referral page ${page + 1}: ${response.status} ${response.text}`);
    for (const item of response.json.items) {
      const at = Date.parse(item.joined_at);
      const key = `${item.joined_at}|${item.phone}`;
      if (seen.has(key) || at > previous) throw new Error(`referral walk out of order or duplicated at page ${page + 1}`);
      seen.add(key);
      previous = at;
      items++;
    }
    cursor = response.json.next_cursor;
    if (!cursor) break;
  }
  return { cursor, items, ms: performance.now() - started };
}

// ---------------------------------------------------------------- query plans

function inlineParams(sql, params) {
  let index = 0;
  let out = "";
  let quoted = false;
  for (const char of sql) {
    if (char === "'") quoted = !quoted;
    if (char === "?" && !quoted) {
      const value = params[index++];
      out += typeof value === "number" ? String(value) : value == null ? "NULL" : `'${String(value).replace(/'/g, "''")}'`;
    } else out += char;
  }
  if (index !== params.length) throw new Error("parameter count mismatch while inlining SQL");
  return out.replace(/\s+/g, " ").trim();
}

function planTree(rows) {
  const depth = new Map([[0, -1]]);
  return rows.map((row) => {
    const level = (depth.get(row.parent) ?? -1) + 1;
    depth.set(row.id, level);
    return `${"  ".repeat(level)}${row.detail}`;
  });
}

/** The admin searches measured: `q` per route (undefined: no q, newest users first). */
function adminSearches(seed) {
  return {
    list: undefined,
    prefix: "+37529",
    phone: seed.directSample.phone,
    code: seed.hub.inviteCode,
  };
}

const adminPath = (q) => `/v1/admin/users?${q === undefined ? "" : `q=${encodeURIComponent(q)}&`}limit=${PAGE}`;

const ADMIN_ROUTE_NAMES = {
  list: `GET /v1/admin/users?limit=${PAGE} (newest first, no q)`,
  prefix: `GET /v1/admin/users?q=+37529 (phone prefix: half the users)`,
  phone: `GET /v1/admin/users?q=<one whole phone>`,
  code: `GET /v1/admin/users?q=<invite code>`,
};

/**
 * EXPLAIN QUERY PLAN on `persistTo` of the statements the route code sends (GET /v1/me, the hub's
 * first and deep referral page, then every admin search), captured from src/ by
 * bench/workers/sql-capture.ts with their values inlined.
 */
async function explainRoutes(work, persistTo, envValues, { hub, admin }, cursor, adminQueries) {
  const module = await bundle(join(root, "bench", "workers", "sql-capture.ts"), join(work, "sql-capture.mjs"), "node");
  const { captureRouteSql, captureAdminSql } = await import(module);
  const [createdAt, id] = Buffer.from(cursor, "base64url").toString("utf8").split(".");
  const routes = await captureRouteSql(envValues, hub, Date.now(), { createdAt: Number(createdAt), id });
  const searches = await captureAdminSql(envValues, admin, Date.now(), adminQueries, PAGE);
  const groups = [
    ["GET /v1/me", routes.me],
    [`GET /v1/me/referrals?limit=${PAGE} (first page)`, routes.referralsFirst],
    [`GET /v1/me/referrals?limit=${PAGE}&cursor=… (deep page)`, routes.referralsDeep],
    ...Object.entries(searches).map(([route, statements]) => [ADMIN_ROUTE_NAMES[route], statements, "admin"]),
  ];
  const out = [];
  const seen = new Set();
  for (const [route, statements, admin] of groups) {
    for (const statement of statements) {
      const sql = inlineParams(statement.sql, statement.params);
      if (admin && seen.has(sql)) continue; // the admin check is the same statement for every search
      seen.add(sql);
      const plan = planTree(d1Query(work, persistTo, `EXPLAIN QUERY PLAN ${sql}`));
      out.push({
        route,
        sql,
        plan,
        scans: plan.filter((line) => /\bSCAN\b/.test(line)),
        sorts: plan.filter((line) => /TEMP B-TREE/.test(line)),
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------- the run

async function main({ work, cleanup, log, facts }) {
  const workers = new Set();
  const start = async (options) => {
    const worker = await startWranglerDev(cleanup, work, options);
    workers.add(worker);
    return worker;
  };
  const stop = async (group) => {
    for (const worker of Object.values(group)) workers.delete(worker);
    await Promise.all(Object.values(group).map((worker) => worker.stop()));
  };
  const ourCpuMs = cpuOfAll(workers);
  const context = { ourCpuMs };
  const guard = noiseGuard({ ours: ourCpuMs, limit: QUIET_CORES, retries: RETRIES, waitMs: 90_000, log });
  /** ROUNDS rounds of `plan`, each run repeated when the machine was busy; merged runs per item. */
  const measure = async (plan, name, target) => {
    const runs = await inRounds(ROUNDS, plan, async (item, round) => {
      const { worker, path, token } = target(item);
      const run = await guard.steady(() => loadRun(context, worker, path, [token]));
      log(
        `${name(item)} r${round + 1}: ${fmt(run.ok / run.duration, 0)} req/s, non-2xx ${run.non2xx}, other load ${fmt(run.foreignCores)} cores`,
      );
      expectAllOk(run, name(item));
      return run;
    });
    return new Map(plan.map((item) => [item, summarize(runs.get(item))]));
  };

  // The admin (admin search) is a fresh sign-up on both databases, made admin by ADMIN_PHONES.
  const adminPhone = phoneFor(USERS + 5);
  const { file: envFile, secrets } = await devEnvFile(work, { SMS_PROVIDER: "console", ADMIN_PHONES: adminPhone });
  log("building the Worker once (wrangler deploy --dry-run)");
  const bundlePath = buildWorker(work, "worker");
  const noLimitConfig = benchConfig(join(work, "wrangler.nolimit.toml"), bundlePath, { prebuilt: true, withoutLimiter: true });
  const limitedConfig = benchConfig(join(work, "wrangler.limited.toml"), bundlePath, { prebuilt: true });
  const envValues = { ...wranglerVars(), ...secrets, ENVIRONMENT: "development", SMS_PROVIDER: "console", ADMIN_PHONES: adminPhone };

  const results = { facts, dbs: { large: { kind: "large" }, empty: { kind: "empty" } } };
  const { large, empty } = results.dbs;

  // ---- databases ----
  for (const db of [large, empty]) {
    log(`${db.kind}: applying migrations`);
    Object.assign(db, migratedPersistDir(cleanup, work, db.kind));
  }
  const seedFile = join(work, "seed.sql");
  const seedStarted = performance.now();
  const seed = await writeSeed({ file: seedFile, users: USERS, direct: DIRECT, perDirect: PER_DIRECT });
  const generateMs = performance.now() - seedStarted;
  log(`large: seeding ${USERS} users, ${seed.direct + seed.level2} referrals (${seed.statements} statements)`);
  const { ms: executeMs } = runWrangler(
    work,
    ["d1", "execute", "DB", "--local", "--persist-to", large.persistTo, "--file", seedFile],
    20 * 60_000,
  );
  const [check] = d1Query(
    work,
    large.persistTo,
    `SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM referrals) AS referrals,
      (SELECT count(*) FROM referrals WHERE inviter_id = '${seed.hub.id}') AS hub_direct,
      (SELECT count(*) FROM referrals r JOIN users d ON d.id = r.inviter_id WHERE d.invited_by = '${seed.hub.id}') AS hub_level2,
      (SELECT referrals_count || '/' || level2_count FROM users WHERE id = '${seed.hub.id}') AS hub_counters,
      (SELECT count(DISTINCT invite_code) FROM users) AS invite_codes,
      (SELECT count(DISTINCT phone) FROM users) AS phones,
      (SELECT value FROM counters WHERE name = 'users_total') AS users_total`,
  );
  if (check.users !== USERS || check.hub_direct !== DIRECT || check.hub_level2 !== DIRECT * PER_DIRECT) {
    throw new Error(`seed check failed: ${JSON.stringify(check)}`);
  }
  large.seed = {
    generateMs,
    executeMs,
    statements: seed.statements,
    sqlBytes: statSync(seedFile).size,
    check,
    sqliteBytes: directoryBytes(join(large.persistTo, "v3", "d1")),
  };
  log(`large: seeded in ${fmt(executeMs / 1000, 1)} s: ${JSON.stringify(check)}`);

  // ---- pass A: both databases served at once (limiter binding absent), runs interleaved ----
  const nolimit = {
    large: await start({ label: "large-nolimit", persistTo: large.persistTo, config: noLimitConfig, envFile }),
    empty: await start({ label: "empty-nolimit", persistTo: empty.persistTo, config: noLimitConfig, envFile }),
  };
  log(`workers without limiter: large ${nolimit.large.url}, empty ${nolimit.empty.url}`);
  const subjects = { large: {}, empty: {} };
  [subjects.large.hub, subjects.large.zero, subjects.large.probe] = await signInMany(
    nolimit.large,
    [seed.hub.phone, seed.zero.phone, seed.probe.phone],
    1,
  );
  if (subjects.large.hub.sub !== seed.hub.id) throw new Error("signing in with the hub's phone did not reach the seeded hub");
  // Empty: one fresh account (and, for pass B, the probe account).
  [subjects.empty.user, subjects.empty.probe] = await signInMany(nolimit.empty, [phoneFor(USERS + 1), phoneFor(USERS + 2)], 1);
  [subjects.large.admin] = await signInMany(nolimit.large, [adminPhone], 1);
  [subjects.empty.admin] = await signInMany(nolimit.empty, [adminPhone], 1);
  for (const kind of ["large", "empty"]) {
    if (claimsOf(subjects[kind].admin.token).role !== "admin") throw new Error(`${kind}: ADMIN_PHONES did not make the admin an admin`);
  }
  const me = await call(nolimit.large.url, "/v1/me", { token: subjects.large.hub.token });
  large.hubProfile = { referrals_count: me.json.referrals_count, referral_tree: me.json.referral_tree };
  const walk = await walkReferrals(nolimit.large, subjects.large.hub.token, DEEP_PAGES);
  if (!walk.cursor) throw new Error("the hub's referral list ended before the deep page");
  large.walk = { pages: DEEP_PAGES, items: walk.items, ms: walk.ms };
  log(`large: walked ${DEEP_PAGES} pages (${walk.items} referrals, no duplicates) in ${fmt(walk.ms, 0)} ms`);
  // The same cursor string is replayed for callers without referrals: same SQL, empty page.
  const routes = {
    me: "/v1/me",
    first: `/v1/me/referrals?limit=${PAGE}`,
    deep: `/v1/me/referrals?limit=${PAGE}&cursor=${walk.cursor}`,
  };
  const callers = [
    ["large", "hub"],
    ["large", "zero"],
    ["empty", "user"],
  ];
  // ROUNDS rounds; within a round route by route, the callers (and so the databases) alternate,
  // and every other round runs in reverse, so warm-up and drift favour no side.
  const plan = Object.keys(routes).flatMap((route) => callers.map(([kind, who]) => ({ kind, who, route })));
  // Warm both isolates on every route first (JIT, lazily built schemas), unmeasured, so the first
  // measured run is not the one that pays for it.
  for (const [kind, who] of callers) {
    for (const path of Object.values(routes)) await loadRun(context, nolimit[kind], path, [subjects[kind][who].token]);
  }
  results.quietAtStart = await guard.quietStart(2 * 60_000);
  const passA = await measure(
    plan,
    (item) => `A ${item.kind} ${item.who} ${item.route}`,
    (item) => ({ worker: nolimit[item.kind], path: routes[item.route], token: subjects[item.kind][item.who].token }),
  );
  for (const [item, summary] of passA) {
    const db = results.dbs[item.kind];
    db.load ??= {};
    db.load[item.who] ??= {};
    db.load[item.who][item.route] = summary;
    log(`A ${item.kind} ${item.who} ${item.route}: ${fmt(summary.rps, 0)} req/s, p50 ${fmt(summary.p50)} ms, p99 ${fmt(summary.p99)} ms`);
  }

  // ---- admin search, same method as pass A: the admin on each database, runs alternating ----
  const adminQueries = adminSearches(seed);
  const adminPlan = Object.keys(adminQueries).flatMap((route) => ["large", "empty"].map((kind) => ({ kind, route })));
  for (const { kind, route } of adminPlan) {
    const first = await call(nolimit[kind].url, adminPath(adminQueries[route]), { token: subjects[kind].admin.token });
    if (first.status !== 200) throw new Error(`admin search ${route} on ${kind}: ${first.status} ${first.text}`);
    results.dbs[kind].adminItems ??= {};
    results.dbs[kind].adminItems[route] = first.json.items.length;
    await loadRun(context, nolimit[kind], adminPath(adminQueries[route]), [subjects[kind].admin.token]);
  }
  const admin = await measure(
    adminPlan,
    (item) => `admin ${item.kind} ${item.route}`,
    (item) => ({ worker: nolimit[item.kind], path: adminPath(adminQueries[item.route]), token: subjects[item.kind].admin.token }),
  );
  for (const [item, summary] of admin) {
    const db = results.dbs[item.kind];
    db.admin ??= {};
    db.admin[item.route] = summary;
    log(`admin ${item.kind} ${item.route}: ${fmt(summary.rps, 0)} req/s, CPU ${fmt(summary.cpu.runtime)} ms/req`);
  }

  // Pools of distinct users for pass B, sized so that none gets near 100 requests in a minute.
  const pools = {};
  for (const kind of ["large", "empty"]) {
    const who = kind === "large" ? "zero" : "user";
    const expected = Math.max(results.dbs[kind].load[who].me.rps, results.dbs[kind].load[who].first.rps);
    const size = Math.min(400, Math.ceil(((expected * (2 * DURATION + 2)) / (ME_LIMIT * 0.6)) * 1.2));
    const phones = Array.from({ length: size }, (_, i) => (kind === "large" ? phoneFor(USERS - 3 - i) : phoneFor(USERS + 10 + i)));
    const started = performance.now();
    pools[kind] = await signInMany(nolimit[kind], phones);
    results.dbs[kind].pool = { size, signInMs: performance.now() - started };
    log(`${kind}: signed in a pool of ${size} users in ${fmt(results.dbs[kind].pool.signInMs / 1000, 1)} s`);
  }
  await stop(nolimit);

  // ---- pass B: the real wrangler.toml, limiter on ----
  const limited = {
    large: await start({ label: "large-limited", persistTo: large.persistTo, config: limitedConfig, envFile }),
    empty: await start({ label: "empty-limited", persistTo: empty.persistTo, config: limitedConfig, envFile }),
  };
  log(`workers with wrangler.toml (limiter on): large ${limited.large.url}, empty ${limited.empty.url}`);
  for (const kind of ["large", "empty"]) {
    const db = results.dbs[kind];
    db.probe = await probeLimiter(limited[kind], subjects[kind].probe.token, ME_LIMIT + 20);
    log(`B ${kind} probe: ${JSON.stringify(db.probe.tally)}, first 429 at request ${db.probe.first429?.index ?? "none"}`);
  }
  await waitForQuiet(ourCpuMs, { maxMs: 60_000, limit: QUIET_CORES });
  await roomInMinute(4 * (DURATION + 1) * 1000 + 8_000);
  for (const route of ["me", "first"]) {
    for (const kind of ["large", "empty"]) {
      const db = results.dbs[kind];
      db.pooled ??= {};
      const run = summarize([
        await loadRun(
          context,
          limited[kind],
          routes[route],
          pools[kind].map((u) => u.token),
        ),
      ]);
      db.pooled[route] = run;
      log(
        `B ${kind} pool ${route}: ${fmt(run.rps, 0)} req/s, p50 ${fmt(run.p50)} ms, statuses ${JSON.stringify(run.statuses)}, other load ${fmt(run.foreignCores)} cores`,
      );
    }
  }
  const paths = Object.values(routes);
  if (SEQUENTIAL * paths.length >= ME_LIMIT) throw new Error("BENCH_SEQUENTIAL too high for the 100/min limit");
  await waitForQuiet(ourCpuMs, { maxMs: 60_000, limit: QUIET_CORES });
  const sequentialForeign = foreignLoad(ourCpuMs);
  const samples = new Map(
    callers.map(([kind, who]) => [`${kind}/${who}`, { statuses: {}, ...Object.fromEntries(paths.map((p) => [p, []])) }]),
  );
  for (let round = 0; round < SEQUENTIAL; round++) {
    for (const [kind, who] of round % 2 === 0 ? callers : [...callers].reverse()) {
      const bucket = samples.get(`${kind}/${who}`);
      for (const path of paths) {
        const response = await call(limited[kind].url, path, { token: subjects[kind][who].token });
        bucket.statuses[response.status] = (bucket.statuses[response.status] ?? 0) + 1;
        if (response.status === 200) bucket[path].push(response.ms);
      }
    }
  }
  results.sequentialForeignCores = sequentialForeign();
  for (const [kind, who] of callers) {
    const bucket = samples.get(`${kind}/${who}`);
    const db = results.dbs[kind];
    db.sequential ??= {};
    db.sequential[who] = {
      statuses: bucket.statuses,
      me: latencyStats(bucket[routes.me]),
      first: latencyStats(bucket[routes.first]),
      deep: latencyStats(bucket[routes.deep]),
    };
    log(`B ${kind} sequential ${who}: ${JSON.stringify(bucket.statuses)}, /v1/me p50 ${fmt(db.sequential[who].me.p50)} ms`);
  }
  await stop(limited);

  // ---- query plans ----
  log("large: EXPLAIN QUERY PLAN");
  large.plans = await explainRoutes(work, large.persistTo, envValues, subjects.large, walk.cursor, adminQueries);
  for (const p of large.plans) log(`  ${p.route}: ${p.plan.join(" | ")}`);

  results.busyMachine = guard.busy;
  for (const db of [large, empty]) delete db.persistTo;
  return results;
}

function directoryBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? directoryBytes(path) : statSync(path).size;
  }
  return total;
}

// ---------------------------------------------------------------- report

function report(results) {
  const { large, empty } = results.dbs;
  const routeNames = {
    me: "GET /v1/me",
    first: `GET /v1/me/referrals?limit=${PAGE} (first page)`,
    deep: `… deep page (after ${DEEP_PAGES} pages)`,
  };
  const headline = [];
  const loadRows = [];
  for (const route of ["me", "first", "deep"]) {
    const base = empty.load.user[route];
    for (const who of ["hub", "zero"]) {
      const run = large.load[who][route];
      headline.push(
        `| ${routeNames[route]} | ${who === "hub" ? `hub (${DIRECT.toLocaleString("en")} direct / ${(DIRECT * PER_DIRECT).toLocaleString("en")} level-2)` : "user with 0 referrals"} | ${fmt(run.rps, 0)} | ${fmt(base.rps, 0)} | ${ratio(run.rps, base.rps)} | ${fmt(run.p50)} / ${fmt(base.p50)} | ${ratio(run.p50, base.p50)} | ${fmt(run.p99)} / ${fmt(base.p99)} | ${ratio(run.p99, base.p99)} | ${fmt(run.cpu.runtime)} / ${fmt(base.cpu.runtime)} | ${ratio(run.cpu.runtime, base.cpu.runtime)} |`,
      );
    }
  }
  for (const [kind, db] of Object.entries(results.dbs)) {
    for (const [who, runs] of Object.entries(db.load)) {
      for (const route of ["me", "first", "deep"]) {
        const r = runs[route];
        loadRows.push(
          `| ${kind} | ${who} | ${routeNames[route]} | ${fmt(r.rps, 0)} | ${r.roundRps.map((x) => fmt(x, 0)).join(", ")} | ${fmt(r.p50)} | ${fmt(r.p90)} | ${fmt(r.p99)} | ${r.ok} | ${r.non2xx} | ${fmt(r.cpu.runtime)} | ${fmt(r.cpu.proxy)} | ${fmt(r.foreignCores)} | ${r.retries} |`,
        );
      }
    }
  }
  const pooledRows = [];
  for (const [kind, db] of Object.entries(results.dbs)) {
    for (const route of ["me", "first"]) {
      const r = db.pooled[route];
      const base = empty.pooled[route];
      pooledRows.push(
        `| ${kind} | ${routeNames[route]} | ${db.pool.size} | ${fmt(r.rps, 0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${JSON.stringify(r.statuses)} | ${fmt(r.foreignCores)} | ${kind === "large" ? `${ratio(r.rps, base.rps)} / ${ratio(r.p50, base.p50)}` : "—"} |`,
      );
    }
  }
  const seqRows = [];
  for (const [kind, db] of Object.entries(results.dbs)) {
    for (const [who, s] of Object.entries(db.sequential)) {
      for (const route of ["me", "first", "deep"]) {
        const r = s[route];
        const base = empty.sequential.user[route];
        seqRows.push(
          `| ${kind} | ${who} | ${routeNames[route]} | ${r.n} | ${fmt(r.p50)} | ${fmt(r.p90)} | ${fmt(r.max)} | ${kind === "large" ? ratio(r.p50, base.p50) : "—"} |`,
        );
      }
    }
  }
  const planText = large.plans
    .map(
      (p) =>
        `**${p.route}**\n\n\`\`\`sql\n${p.sql}\n\`\`\`\n\n\`\`\`text\n${p.plan.join("\n")}\n\`\`\`\n${p.scans.length ? `\n⚠️ SCAN: ${p.scans.map((l) => `\`${l.trim()}\``).join(", ")}\n` : ""}${p.sorts.length ? `\nNote, sorts with a temp B-tree: ${p.sorts.map((l) => `\`${l.trim()}\``).join(", ")}\n` : ""}`,
    )
    .join("\n");
  const hubFirst = large.load.hub.first;
  const hubDeep = large.load.hub.deep;
  const depth = `req/s ${ratio(hubDeep.rps, hubFirst.rps)}, p50 ${ratio(hubDeep.p50, hubFirst.p50)}, p99 ${ratio(hubDeep.p99, hubFirst.p99)}, CPU ms/req ${ratio(hubDeep.cpu.runtime, hubFirst.cpu.runtime)}`;
  const allScans = large.plans.flatMap((p) => p.scans.map((line) => `${p.route}: \`${line.trim()}\``));
  const allSorts = large.plans.flatMap((p) => p.sorts.map((line) => `${p.route}: \`${line.trim()}\``));
  // A SCAN through an index in ORDER BY order stops after LIMIT rows when every row qualifies;
  // json_each is the ADMIN_PHONES list bound as one JSON parameter. Neither reads a whole table.
  const scanNote = (line) =>
    /VIRTUAL TABLE/.test(line)
      ? " (the ADMIN_PHONES JSON list, not a table)"
      : /USING (COVERING )?INDEX/.test(line)
        ? " (an index walk in ORDER BY order: stops after LIMIT rows when every row qualifies)"
        : " (**full table scan**)";
  const tableScans = allScans.filter((line) => !/VIRTUAL TABLE|USING (COVERING )?INDEX/.test(line));
  const planVerdict = [
    tableScans.length
      ? `**Full table scan** in ${tableScans.length} plan line(s).`
      : "**No full table scan**: every table access is a `SEARCH` through the primary key or an index, or an index walk in ORDER BY order.",
    allScans.length ? `SCAN lines:\n\n${allScans.map((l) => `- ${l}${scanNote(l)}`).join("\n")}` : "No SCAN line at all.",
    allSorts.length
      ? `**Temp B-tree sorts** (the rows matched are sorted before LIMIT applies) in ${allSorts.length} plan line(s):\n\n${allSorts.map((l) => `- ${l}`).join("\n")}`
      : "No temp B-tree sort either.",
  ].join("\n\n");
  const adminRows = Object.keys(ADMIN_ROUTE_NAMES).map((route) => {
    const a = large.admin[route];
    const b = empty.admin[route];
    return `| ${ADMIN_ROUTE_NAMES[route]} | ${large.adminItems[route]} / ${empty.adminItems[route]} | ${fmt(a.rps, 0)} | ${fmt(b.rps, 0)} | ${ratio(a.rps, b.rps)} | ${fmt(a.p50)} / ${fmt(b.p50)} | ${ratio(a.p50, b.p50)} | ${fmt(a.p99)} / ${fmt(b.p99)} | ${fmt(a.cpu.runtime)} / ${fmt(b.cpu.runtime)} | ${ratio(a.cpu.runtime, b.cpu.runtime)} | ${fmt(a.foreignCores)} / ${fmt(b.foreignCores)} |`;
  });
  const probe = (db) =>
    `${db.probe.count} sequential GET /v1/me by one user → ${Object.entries(db.probe.tally)
      .map(([code, n]) => `${n} × ${code}`)
      .join(
        ", ",
      )}; first 429 at request ${db.probe.first429?.index ?? "—"} (Retry-After ${db.probe.first429?.retryAfter ?? "—"}, \`${db.probe.first429?.body?.code ?? ""}\`)`;
  const seed = large.seed;
  const f = results.facts;
  return `# Scale benchmark: GET /v1/me, the referral list and admin search, ${USERS.toLocaleString("en")} users vs an empty database

Generated by \`npm run bench:scale\` (bench/suites/scale.mjs) on ${f.date}, on this machine (facts at the end).
Local numbers: workerd runs the Worker **and** the simulated D1 (SQLite) and KV in one process, and
wrangler's dev proxy sits in front, so absolute latencies are not production's. The **ratios** between
the large and the empty database are the point: they show whether the queries grow with the data.

## Headline (pass A: load, concurrency ${CONNECTIONS}, ${ROUNDS} × ${DURATION} s per route and caller)

Large database: ${USERS.toLocaleString("en")} users; the hub has ${DIRECT.toLocaleString("en")} direct referrals, each of which has ${PER_DIRECT} (${(DIRECT * PER_DIRECT).toLocaleString("en")} second-level).
Empty database: migrations only, plus the users this bench signs in.

| route | caller on the large DB | req/s large | req/s empty | ratio req/s (large/empty) | p50 ms large / empty | ratio p50 | p99 ms large / empty | ratio p99 | CPU ms/req large / empty | ratio CPU |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${headline.join("\n")}

A ratio near 1.00× means flat. Latency here includes queueing: autocannon and two workerd processes share
${results.facts.cores} cores at concurrency ${CONNECTIONS}; CPU ms/req (the workerd running the Worker and the simulated D1/KV) is the
least noisy of these columns. The hub's referral pages carry ${PAGE} items (one LEFT JOIN row and one masked phone
each) where the empty database's user gets an empty page, so part of their ratio is the size of the answer, not
the size of the database. Depth on the same list, hub deep page vs hub first page: ${depth}.

The deep page is page ${DEEP_PAGES + 1} (${(DEEP_PAGES * PAGE).toLocaleString("en")} referrals in), reached by following \`next_cursor\`;
on the empty database and for the user without referrals the same cursor string is replayed, so the
same SQL (with the keyset condition) runs and answers an empty page.

## Admin search (load as in pass A, concurrency ${CONNECTIONS}, ${ROUNDS} × ${DURATION} s per query and database)

The caller is an admin (its phone is in \`ADMIN_PHONES\`, a fresh sign-up on both databases); every
search is one D1 batch: the caller's admin check, then the search (\`listUsers\` in src/admin/service.ts),
newest users first, page of ${PAGE}. The phone prefix \`+37529\` matches half of the large database's users,
the whole phone exactly one, the invite code the hub. CPU ms/req is the workerd runtime process, as above.

| search | items answered (large / empty) | req/s large | req/s empty | ratio req/s | p50 ms large / empty | ratio p50 | p99 ms large / empty | CPU ms/req large / empty | ratio CPU | other load, cores (max) |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${adminRows.join("\n")}

Their plans are in the next section (the last entries).

## Query plans (large database, \`EXPLAIN QUERY PLAN\` via \`wrangler d1 execute --local\`)

${planVerdict}

The SQL is not hand-copied: \`bench/workers/sql-capture.ts\` runs the route code's own query functions
(\`readProfile\` with \`profileColumns\` and \`callerSql\` from src/me/service.ts, \`listReferrals\` from
src/referrals/list.ts, \`listUsers\` from src/admin/service.ts) against a recording stand-in for the D1 binding, and the bound values (the hub's
id, its session id, the clock) are inlined as literals. D1 runs them with bound parameters; SQLite
chooses the same indexes for these equality and range terms.

${planText}

## Pass A: load without the limiter binding (every route and caller)

\`wrangler dev --no-bundle\` running the Worker bundled once at the start (\`wrangler deploy --dry-run\`, so
edits to src/ during the run cannot reload it), with a generated copy of wrangler.toml that only drops the
\`[[ratelimits]]\` blocks (src/ratelimit/user.ts skips the limiter when the binding is absent); same code, vars, D1 and KV.
Both databases are served at the same time by two \`wrangler dev\` processes (an idle one costs nothing) and
the runs alternate between them, so machine drift does not land on one side of a ratio.
autocannon ${f.autocannon}, ${CONNECTIONS} connections, one signed-in user's token; ${ROUNDS} rounds of ${DURATION} s per route and
caller (after one unmeasured run of every route and caller, and a 1 s warm-up before each run; route by
route, callers alternating; every other round reversed), merged:
req/s over the summed time, percentiles over all responses.
This machine is shared (other sessions run test suites on the same ${f.cores} cores), so every run also records
the CPU that processes outside this bench used meanwhile (/proc/stat busy time minus this bench's own
processes); a run during which they used over ${QUIET_CORES} cores is repeated after a quiet spell (at most ${RETRIES} times).
Before pass A other processes used ${fmt(results.quietAtStart.cores)} cores.${results.busyMachine ? ' **In this run the machine stayed busy** (no quiet spell found), so noisy runs were kept, not repeated; the "other load" columns say how busy.' : ""}
Latency percentiles are from autocannon's per-response hrtime timings (2xx only). CPU ms/request is
the workerd process's utime+stime delta (/proc, 10 ms ticks) over the run divided by requests: "runtime" is
the workerd running the Worker plus simulated D1/KV; "proxy" is wrangler's dev proxy workerd.

| DB | caller | route | req/s | req/s per round | p50 ms | p90 ms | p99 ms | 2xx | non-2xx | CPU ms/req runtime | CPU ms/req proxy | other load, cores (max) | repeats |
| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${loadRows.join("\n")}

## Pass B: wrangler.toml's bindings, rate limiter on

**What the binding does under \`wrangler dev\`.** Miniflare simulates the Rate Limiting binding
(in-memory counters per key, windows aligned to the wall-clock minute), so \`ME_LIMITER\` (100 per 60 s,
keyed by the user id, shared by GET /v1/me and GET /v1/me/referrals) does block a load test:

- large DB: ${probe(large)}
- empty DB: ${probe(empty)}

So a single user cannot be load-tested with the limiter on (at c=${CONNECTIONS} the bench would measure 429s).
Two ways around it, both with wrangler.toml's bindings unchanged (only \`main\` points at the pre-built bundle):

**Many distinct signed-in users.** autocannon rotates the access tokens of a pool of users (users
without referrals; on the empty DB, fresh sign-ups), sized from pass A's throughput so that no user
exceeds ~60 requests in a minute window.

| DB | route | pool | req/s | p50 ms | p99 ms | statuses | other load, cores | ratio req/s / p50 (large/empty) |
| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |
${pooledRows.join("\n")}

**Sequential requests under the limit** (the only way to time the hub itself with the limiter on):
${SEQUENTIAL} rounds of the three routes per caller, callers alternating, one request at a time (${SEQUENTIAL * 3} < ${ME_LIMIT} per user
per minute), wall time per request from Node's fetch over a kept-alive connection, no concurrency. Other
processes used ${fmt(results.sequentialForeignCores)} cores on average meanwhile.

| DB | caller | route | n | p50 ms | p90 ms | max ms | ratio p50 (large/empty user) |
| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |
${seqRows.join("\n")}

## Data set and method

- Seed: ${USERS.toLocaleString("en")} users with unique valid Belarusian mobiles (+37529…/+37533…, checked with
  libphonenumber-js/mobile) and unique 6-character invite codes from \`23456789ABCDEFGHJKMNPQRSTUVWXYZ\`;
  user 0 is the hub (referrals_count ${DIRECT}, level2_count ${DIRECT * PER_DIRECT}, points = ${DIRECT} × 100); its direct referrals
  have \`invited_by\` = hub and referrals_count ${PER_DIRECT}; ${(DIRECT + DIRECT * PER_DIRECT).toLocaleString("en")} \`referrals\` rows with increasing \`created_at\`;
  \`counters.users_total\` = ${USERS}. Generated by bench/lib/seed.mjs into ${seed.statements} multi-row INSERTs (each under D1's
  100 KB statement limit, ${fmt(seed.sqlBytes / 2 ** 20, 1)} MiB of SQL) and loaded with \`wrangler d1 execute DB --local --persist-to <tmp> --file seed.sql\`
  in ${fmt(seed.executeMs / 1000, 1)} s (D1 files: ${fmt(seed.sqliteBytes / 2 ** 20, 1)} MiB).
- Checked after seeding: \`${JSON.stringify(seed.check)}\`; GET /v1/me for the hub answered
  \`${JSON.stringify(large.hubProfile)}\`; walking ${large.walk.pages} pages gave ${large.walk.items} referrals, newest first, no duplicates.
- Sign-in through the API for every user: POST /v1/auth/otp (sandbox \`dev_code\`, ENVIRONMENT=development
  and SMS_PROVIDER=console from a generated env file with fresh keys, passed with \`--env-file\`), then
  POST /v1/auth/otp/verify, each sign-in with its own \`CF-Connecting-IP\` (198.18.0.0/15) so the per-IP send
  and verify windows never trigger.
- Each database lives in a fresh \`--persist-to\` temp dir (removed at the end); migrations applied with
  \`wrangler d1 migrations apply DB --local\`. The empty database gets the same migrations and no seed.
- Not covered here: CPU per request against a bare baseline Worker (that is \`npm run bench\`'s job,
  bench/RESULTS.md).

## Machine

${factsMarkdown(f)}
`;
}

export default {
  name: "scale",
  timeoutMs: 40 * 60_000,
  main,
  raw: () => join(outDir, "scale-last.json"),
  report: () => join(root, "bench", "SCALE.md"),
  render: report,
  biome: true,
};
