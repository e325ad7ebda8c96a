// Shared helpers for the bench suites: machine facts, percentiles, /proc CPU accounting, Markdown,
// esbuild bundling, free ports, bounded child processes, cleanup on every way out.
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
export const outDir = join(root, "bench", ".out");

/**
 * BENCH_SMOKE=1: a quick check that a suite still runs end to end. Every suite takes its smoke
 * defaults (short runs, few rounds, small data), quiet waits take one sample, and the report goes
 * to bench/.out/ instead of bench/ (smoke numbers are never the committed ones).
 */
export const SMOKE = Boolean(process.env.BENCH_SMOKE);

/** The number in env var `name`, else the suite's default (its `smoke` default under BENCH_SMOKE). */
export const setting = (name, full, smoke = full) => Number(process.env[name] ?? (SMOKE ? smoke : full));

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all its threads), in ms, from /proc/<pid>/stat. */
export function processCpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the ")" of comm: state(3) ppid(4) ... utime(14) stime(15).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** All live processes as { pid, ppid, comm }. */
export function processTable() {
  const rows = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      rows.push({ pid: Number(name), ppid, comm });
    } catch {
      // exited meanwhile
    }
  }
  return rows;
}

/** Descendant pids of `pid` (children, grandchildren, ...) whose comm matches. */
export function descendants(pid, comm) {
  const table = processTable();
  const found = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const row of table) {
      if (row.ppid !== parent) continue;
      queue.push(row.pid);
      if (!comm || row.comm === comm) found.push(row.pid);
    }
  }
  return found;
}

export function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export const fmt = (value, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");

export function machineFacts() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? "unknown";
  const mhz = /cpu MHz\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim();
  const pkg = (name, from = root) => {
    try {
      return createRequire(join(from, "package.json"))(`${name}/package.json`).version;
    } catch {
      return "not installed";
    }
  };
  const wranglerDir = join(root, "node_modules", "wrangler");
  const miniflareDir = dirname(createRequire(join(wranglerDir, "package.json")).resolve("miniflare/package.json"));
  let workerd = "unknown";
  try {
    const bin = createRequire(join(miniflareDir, "package.json")).resolve("workerd/bin/workerd");
    workerd = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
  } catch {
    // keep unknown
  }
  return {
    date: new Date().toISOString(),
    cpu: `${model}${mhz ? ` (${Math.round(Number(mhz))} MHz)` : ""}`,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    wrangler: pkg("wrangler"),
    miniflare: `${pkg("miniflare", wranglerDir)} (wrangler's own)`,
    workerd,
    autocannon: pkg("autocannon"),
  };
}

export function factsMarkdown(facts) {
  return ["| fact | value |", "| --- | --- |", ...Object.entries(facts).map(([key, value]) => `| ${key} | ${value} |`)].join("\n");
}

/** Bundles a TypeScript entry with the esbuild that wrangler ships. */
export async function bundle(entry, outfile, platform) {
  const esbuild = await import("esbuild");
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    platform,
    target: "es2022",
    conditions: platform === "neutral" ? ["workerd", "worker", "browser"] : [],
    mainFields: platform === "neutral" ? ["browser", "module", "main"] : undefined,
    logLevel: "warning",
  });
  return outfile;
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects after `ms` with a message naming what took too long. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]);
}

/** The environment for wrangler child processes: no prompts, metrics or colours; its debug logs under `work`. */
export function wranglerEnv(work) {
  return {
    ...process.env,
    CI: "true",
    WRANGLER_SEND_METRICS: "false",
    NO_COLOR: "1",
    FORCE_COLOR: "0",
    WRANGLER_LOG_PATH: join(work, "wrangler-logs"),
  };
}

/**
 * Runs `release` (async: stop what the bench started, remove its temp dirs) once, however the
 * bench ends: on SIGINT/SIGTERM (exit 130), after `timeoutMs` (exit 2), or when the returned
 * function is called at the normal end. That call also disarms the timeout once `release` is done.
 */
export function cleanupOnExit(name, timeoutMs, release) {
  let cleaning;
  const cleanup = () => {
    cleaning ??= release().finally(() => clearTimeout(hardStop));
    return cleaning;
  };
  const hardStop = setTimeout(() => {
    console.error(`${name}: overall timeout (${timeoutMs / 60_000} min), stopping`);
    cleanup().finally(() => process.exit(2));
  }, timeoutMs);
  hardStop.unref();
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => cleanup().finally(() => process.exit(130)));
  return cleanup;
}

/** The Miniflare that wrangler itself runs `wrangler dev` with (node_modules/wrangler's dependency). */
export function wranglerMiniflare() {
  return createRequire(join(root, "node_modules", "wrangler", "package.json"))("miniflare");
}

/** Busy CPU time of the whole machine (all cores), in ms, from /proc/stat. */
export function systemBusyMs() {
  const [, ...fields] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return ((user + nice + system + irq + softirq + steal) * 1000) / CLK_TCK;
}

/**
 * Measures the CPU that processes outside this bench use: `ours()` is the CPU (ms) of everything
 * the bench started. The returned `done()` gives the average in cores since the call.
 */
export function foreignLoad(ours) {
  const busy = systemBusyMs();
  const own = ours();
  const started = Date.now();
  return () => Math.max(0, (systemBusyMs() - busy - (ours() - own)) / Math.max(1, Date.now() - started));
}

/** Waits (at most `maxMs`) for a 3 s window in which other processes use under `limit` cores. */
export async function waitForQuiet(ours, { maxMs, limit }) {
  const deadline = Date.now() + (SMOKE ? 0 : maxMs);
  let cores = Number.NaN;
  do {
    const done = foreignLoad(ours);
    await sleep(3_000);
    cores = done();
    if (cores < limit) return { quiet: true, cores };
  } while (Date.now() < deadline);
  return { quiet: false, cores };
}

/** Formats a generated Markdown file with the project's Biome, so `npm run lint` stays green. */
export function formatMarkdown(file) {
  const result = spawnSync(join(root, "node_modules", ".bin", "biome"), ["format", "--write", file], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
  });
  if (result.status !== 0) console.warn(`biome format ${file} failed:\n${result.stdout}${result.stderr}`);
}

/** a / b as "1.23×", or "n/a". */
export const ratio = (a, b) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : "n/a");

/** A Markdown table; `align` has one letter per column: l (left) or r (right). */
export function table(header, align, rows) {
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(header), line([...align].map((a) => (a === "r" ? "---:" : "---"))), ...rows.map(line)].join("\n");
}
