// `npm run bench:password`: CPU cost of one password hash exactly as src/passwords/hash.ts does it
// (HMAC-SHA-256 pepper, then PBKDF2-SHA-256 at 100,000 iterations, 16-byte salt, 256-bit output).
//
// 1. workerd (the Workers runtime, through Miniflare from node_modules): a bench-only Worker
//    (bench/password-worker.ts, bundled with esbuild) runs K hashes per request. Inside workerd the
//    clocks only advance on I/O, so timing happens outside: wall time from Node around the request,
//    and CPU time of the workerd process from /proc/<pid>/stat (utime + stime, all threads) before
//    and after, minus the CPU of an empty request, divided by K.
// 2. Node's own WebCrypto running the same module, for comparison (process.cpuUsage, all threads).
//
// Writes bench/PASSWORD.md. Env: BENCH_K (hashes per request, default 20), BENCH_ROUNDS (default 15).

import { webcrypto } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  bundle,
  CLK_TCK,
  descendants,
  factsMarkdown,
  fmt,
  foreignLoad,
  formatMarkdown,
  machineFacts,
  outDir,
  processCpuMs,
  quantile,
  root,
  waitForQuiet,
  withTimeout,
  wranglerMiniflare,
} from "./common.mjs";

const K = Number(process.env.BENCH_K ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const FREE_PLAN_CPU_MS = 10;

const work = join(outDir, `password-${process.pid}`);
mkdirSync(work, { recursive: true });
const pepper = Buffer.from(webcrypto.getRandomValues(new Uint8Array(32))).toString("base64url");

let mf;
const hardStop = setTimeout(() => {
  console.error("bench:password: overall timeout (10 min), stopping");
  cleanup().finally(() => process.exit(2));
}, 10 * 60_000);
hardStop.unref();

async function cleanup() {
  try {
    await mf?.dispose();
  } catch {
    // already gone
  }
  mf = undefined;
  rmSync(work, { recursive: true, force: true });
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => cleanup().finally(() => process.exit(130)));
}

try {
  const facts = machineFacts();
  console.log(`bench:password on ${facts.cpu}, ${facts.cores} cores, node ${facts.node}, ${facts.workerd}`);

  // ---- workerd ----
  const script = await bundle(join(root, "bench", "password-worker.ts"), join(work, "password-worker.mjs"), "neutral");
  const { Miniflare } = wranglerMiniflare();
  const before = new Set(descendants(process.pid, "workerd"));
  mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    modules: true,
    scriptPath: script,
    compatibilityDate: "2026-04-20", // wrangler.toml
    bindings: { PASSWORD_PEPPER: pepper },
  });
  const url = await withTimeout(mf.ready, 60_000, "Miniflare start");
  const pids = descendants(process.pid, "workerd").filter((pid) => !before.has(pid));
  if (pids.length !== 1) throw new Error(`expected one workerd child process, found ${pids.length}`);
  const [pid] = pids;

  async function run(k, mode = "hash") {
    const cpu0 = processCpuMs(pid);
    const t0 = performance.now();
    const response = await withTimeout(fetch(new URL(`/?k=${k}&mode=${mode}`, url)), 120_000, "hash request");
    const body = await response.json();
    const wall = performance.now() - t0;
    const cpu = processCpuMs(pid) - cpu0;
    if (!response.ok || body.k !== k) throw new Error(`bench worker answered ${response.status} ${JSON.stringify(body)}`);
    return { wall, cpu, body };
  }

  // Warm-up: isolate start, pepper subkey import (cached per isolate, as in production), JIT.
  const warm = await run(3);
  if (warm.body.params !== "pbkdf2-sha256$100000") throw new Error(`unexpected hash parameters ${warm.body.params}`);
  await run(3, "verify");

  // Cost of a request with no hashing (routing + JSON), subtracted from each sample.
  const empty = [];
  for (let i = 0; i < ROUNDS; i++) empty.push(await run(0));
  const emptyWall = quantile(
    empty.map((s) => s.wall),
    0.5,
  );
  const emptyCpu = quantile(
    empty.map((s) => s.cpu),
    0.5,
  );

  const workerd = { hash: [], verify: [] };
  // CPU used meanwhile by processes outside this bench (the machine may be shared): wait for a
  // quiet spell first (at most 5 min), then record it over the measured runs.
  const ours = () => processCpuMs(process.pid) + processCpuMs(pid);
  const quiet = await waitForQuiet(ours, { maxMs: 5 * 60_000, limit: 0.3 });
  if (!quiet.quiet) console.warn(`other processes still use ${fmt(quiet.cores)} cores; measuring anyway`);
  const foreign = foreignLoad(ours);
  for (let i = 0; i < ROUNDS; i++) {
    for (const mode of ["hash", "verify"]) {
      const sample = await run(K, mode);
      workerd[mode].push({ wall: (sample.wall - emptyWall) / K, cpu: (sample.cpu - emptyCpu) / K });
    }
    process.stdout.write(".");
  }
  process.stdout.write("\n");
  const foreignCores = foreign();
  await mf.dispose();
  mf = undefined;

  // ---- Node WebCrypto, same module ----
  const nodeModule = await bundle(join(root, "src", "passwords", "hash.ts"), join(work, "hash.node.mjs"), "node");
  const { hashPassword, verifyPassword } = await import(nodeModule);
  const password = "correct horse battery staple 42 \u00e9t\u00e9";
  for (let i = 0; i < 3; i++) await hashPassword(pepper, password);
  const node = { hash: [], verify: [] };
  const stored = await hashPassword(pepper, password);
  for (let i = 0; i < ROUNDS; i++) {
    for (const mode of ["hash", "verify"]) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let j = 0; j < K; j++) {
        if (mode === "hash") await hashPassword(pepper, password);
        else if (!(await verifyPassword(pepper, password, stored))) throw new Error("verify failed in Node");
      }
      const wall = performance.now() - t0;
      const c = process.cpuUsage(c0);
      node[mode].push({ wall: wall / K, cpu: (c.user + c.system) / 1000 / K });
    }
  }

  // ---- report ----
  const stats = (samples, key) => ({
    median: quantile(
      samples.map((s) => s[key]),
      0.5,
    ),
    p90: quantile(
      samples.map((s) => s[key]),
      0.9,
    ),
  });
  const rows = [];
  for (const [runtime, data] of [
    ["workerd (Miniflare)", workerd],
    ["Node WebCrypto", node],
  ]) {
    for (const mode of ["hash", "verify"]) {
      const cpu = stats(data[mode], "cpu");
      const wall = stats(data[mode], "wall");
      rows.push({ runtime, mode, cpu, wall });
    }
  }
  const headline = rows[0].cpu.median;
  const plan =
    headline <= FREE_PLAN_CPU_MS
      ? `fits the Workers Free plan (10 ms CPU per request) with ${fmt(FREE_PLAN_CPU_MS - headline)} ms left`
      : `does not fit the Workers Free plan (10 ms CPU per request): ${fmt(headline / FREE_PLAN_CPU_MS, 1)}x over on its own. Password routes need the Workers Paid (Standard) plan (30 s CPU per request by default, configurable up to 5 min), where one hash is ${fmt((headline / 30_000) * 100, 2)} % of the default limit`;

  const table = [
    "| runtime | operation | CPU median (ms) | CPU p90 (ms) | wall median (ms) | wall p90 (ms) |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.runtime} | ${r.mode === "hash" ? "hashPassword" : "verifyPassword"} | ${fmt(r.cpu.median)} | ${fmt(r.cpu.p90)} | ${fmt(r.wall.median)} | ${fmt(r.wall.p90)} |`,
    ),
  ].join("\n");

  const md = `# Password hash cost

Generated by \`npm run bench:password\` (bench/password-hash.mjs) on ${facts.date}. Numbers are from this
machine; Cloudflare's production CPUs differ, so read them as an estimate of the order of magnitude.

**One \`hashPassword\` costs ${fmt(headline)} ms of CPU in workerd (median, p90 ${fmt(rows[0].cpu.p90)} ms).** It ${plan}.

What is measured: \`src/passwords/hash.ts\` unchanged — NFKC normalisation, HMAC-SHA-256 of the
password under the HKDF subkey of \`PASSWORD_PEPPER\` (subkey imported once per isolate, as in
production), \`importKey\` + PBKDF2-SHA-256 \`deriveBits\` at 100,000 iterations, 16-byte random
salt, 256-bit output. \`verifyPassword\` is the same derivation plus a constant-time compare (what
password login pays, also on the dummy-hash path for unknown phones).

Per-route hashes: \`POST /v1/auth/password/login\` = 1 verify; \`PUT /v1/me/password\` = 1 verify of
\`current_password\` (when one is set) + 1 hash; \`POST /v1/auth/password/reset\` = 1 hash. Everything
else on those routes (JWT signing, D1) comes on top.

${table}

## Method

- **workerd**: Miniflare ${facts.miniflare} from node_modules runs a bench-only Worker
  (\`bench/password-worker.ts\`, bundled with esbuild, compatibility date 2026-04-20 as in
  wrangler.toml) that performs K = ${K} sequential hashes (or verifications) per request. Inside workerd
  \`Date\`/\`performance.now()\` only advance on I/O, so nothing is timed inside the Worker: Node reads
  the workerd process's CPU counters (\`/proc/<pid>/stat\` utime + stime, all threads, clock tick
  ${1000 / CLK_TCK} ms) before and after each request and times the request's wall clock. The CPU and
  wall time of an empty request (K = 0, median of ${ROUNDS}: ${fmt(emptyCpu)} ms CPU, ${fmt(emptyWall)} ms wall) are
  subtracted, and the rest is divided by K. ${ROUNDS} requests per operation, after a warm-up; the
  median and p90 are over those ${ROUNDS} per-request averages. Tick resolution gives ±${fmt(1000 / CLK_TCK / K)} ms per hash.
  CPU time, unlike wall time, does not count waiting for a core; processes outside this bench used
  ${fmt(foreignCores)} cores on average during the workerd runs (this machine is shared).
- **Node**: the same module bundled for Node ${facts.node}, K = ${K} sequential calls per sample,
  \`process.cpuUsage()\` (includes the libuv thread pool where Node's WebCrypto runs PBKDF2).
- Local workerd does not enforce Cloudflare's 100,000-iteration PBKDF2 ceiling; production does,
  and the code stays at exactly 100,000.

## Machine

${factsMarkdown(facts)}
`;
  writeFileSync(join(root, "bench", "PASSWORD.md"), md);
  formatMarkdown(join(root, "bench", "PASSWORD.md"));
  console.log(table);
  console.log(`\nOne hash in workerd: ${fmt(headline)} ms CPU (median), p90 ${fmt(rows[0].cpu.p90)} ms. It ${plan}.`);
  console.log("Wrote bench/PASSWORD.md");
  await cleanup();
  clearTimeout(hardStop);
} catch (error) {
  console.error(error);
  await cleanup();
  process.exit(1);
}
