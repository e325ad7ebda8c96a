// Load for the bench suites: one autocannon run with its CPU and the other load meanwhile, runs
// repeated when the shared machine was busy, rounds that alternate their order, merged summaries.
import autocannon from "autocannon";
import { fmt, foreignLoad, quantile, waitForQuiet, withTimeout } from "./common.mjs";

/** n, p50, p90, p99 and max of latency samples (ms). */
export const latencyStats = (samples) => ({
  n: samples.length,
  p50: quantile(samples, 0.5),
  p90: quantile(samples, 0.9),
  p99: quantile(samples, 0.99),
  max: samples.length ? Math.max(...samples) : Number.NaN,
});

const perKey = (cpu, by) => Object.fromEntries(Object.entries(cpu).map(([key, ms]) => [key, ms / by]));

/**
 * One autocannon run of `requests` against `target` (a started Worker: url, cpu()), for `duration`
 * seconds or `amount` requests. `ours()` is the CPU of everything the bench started (for the other
 * load). `steps`: the names of one flow's requests, which a connection cycles through in order;
 * then the run also counts completed flows and per-step latencies. Latencies: 2xx only.
 */
export async function loadRun(target, { requests, connections, duration = 0, amount = 0, steps = undefined, ours }) {
  const latencies = [];
  const statuses = {};
  const perClient = new Map();
  const flow = steps ? { latencies: [], completed: 0, steps: Object.fromEntries(steps.map((step) => [step, []])) } : undefined;
  const cpuBefore = target.cpu();
  const foreign = foreignLoad(ours);
  const tracker = autocannon({ url: target.url, connections, requests, timeout: 30, ...(amount ? { amount } : { duration }) });
  tracker.on("response", (client, status, _bytes, ms) => {
    statuses[status] = (statuses[status] ?? 0) + 1;
    const ok = status >= 200 && status < 300;
    if (ok) latencies.push(ms);
    if (!flow) return;
    const seen = perClient.get(client) ?? { step: 0, sum: 0, ok: true };
    if (ok) flow.steps[steps[seen.step]].push(ms);
    seen.sum += ms;
    seen.ok &&= ok;
    seen.step++;
    if (seen.step < steps.length) perClient.set(client, seen);
    else {
      if (seen.ok) {
        flow.completed++;
        flow.latencies.push(seen.sum);
      }
      perClient.set(client, { step: 0, sum: 0, ok: true });
    }
  });
  const result = await withTimeout(Promise.resolve(tracker), ((amount ? 120 : duration) + 60) * 1000, `autocannon ${target.name}`);
  const cpuAfter = target.cpu();
  return {
    duration: result.duration,
    total: result.requests.total,
    ok: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    statuses,
    latencies,
    cpu: Object.fromEntries(Object.entries(cpuAfter).map(([key, ms]) => [key, ms - cpuBefore[key]])),
    foreignCores: foreign(),
    flow,
  };
}

/** Throws when a run answered anything but 2xx or had transport errors. */
export function expectAllOk(run, what) {
  if (run.non2xx > 0 || run.errors > 0) throw new Error(`${what}: ${JSON.stringify(run.statuses)} errors ${run.errors}`);
}

/**
 * Load runs on a shared machine: `steady(run)` repeats a run (at most `retries` times, after a
 * quiet spell of up to `waitMs`) when other processes used over `limit` cores during it. Once a wait
 * for quiet fails, or after `lateAfterMs`, noisy runs are kept: repeating them only costs time, and
 * paired, interleaved runs share the noise anyway.
 */
export function noiseGuard({ ours, limit, retries, waitMs, lateAfterMs = Number.POSITIVE_INFINITY, log }) {
  const started = Date.now();
  const guard = {
    busy: false,
    /** Waits (at most `maxMs`) for a quiet spell before the measured runs. */
    async quietStart(maxMs) {
      const quiet = await waitForQuiet(ours, { maxMs, limit });
      guard.busy = !quiet.quiet;
      log(
        `other processes before the load runs: ${fmt(quiet.cores)} cores${quiet.quiet ? "" : ` (not quiet after ${maxMs / 1000} s, going on)`}`,
      );
      return quiet;
    },
    async steady(run) {
      for (let repeats = 0; ; repeats++) {
        const result = await run();
        if (result.foreignCores < limit || repeats >= retries || guard.busy || Date.now() - started > lateAfterMs)
          return { ...result, retries: repeats };
        log(`  other processes used ${fmt(result.foreignCores)} cores during that run: waiting for quiet, then repeating it`);
        if (!(await waitForQuiet(ours, { maxMs: waitMs, limit })).quiet) {
          guard.busy = true;
          log("  the machine stays busy: keeping noisy runs from now on");
        }
      }
    },
  };
  return guard;
}

/**
 * `rounds` rounds of `measure(item, round)` over `plan`, every other round in reverse order, so
 * warm-up and drift favour no item; an item with its own `rounds` stops after those. Runs per item.
 */
export async function inRounds(rounds, plan, measure) {
  const runs = new Map(plan.map((item) => [item, []]));
  for (let round = 0; round < rounds; round++) {
    for (const item of round % 2 === 0 ? plan : [...plan].reverse()) {
      if (round < (item.rounds ?? rounds)) runs.get(item).push(await measure(item, round));
    }
  }
  return runs;
}

/** Merges the runs of one item: req/s over the summed time, percentiles over all samples, CPU per request by process. */
export function summarize(runs) {
  const sum = (pick) => runs.reduce((acc, run) => acc + pick(run), 0);
  const seconds = sum((r) => r.duration);
  const total = sum((r) => r.total);
  const statuses = {};
  for (const run of runs) for (const [code, n] of Object.entries(run.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  const cpu = {};
  for (const run of runs) for (const [key, ms] of Object.entries(run.cpu)) cpu[key] = (cpu[key] ?? 0) + ms;
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
    ...latencyStats(runs.flatMap((r) => r.latencies)),
    cpu: perKey(cpu, total),
    roundCpu: runs.map((r) => perKey(r.cpu, r.total)),
    foreignCores: Math.max(...runs.map((r) => r.foreignCores)),
    retries: sum((r) => r.retries ?? 0),
  };
  if (!runs[0]?.flow) return summary;
  const flows = sum((r) => r.flow.completed);
  const flowLatencies = runs.flatMap((r) => r.flow.latencies);
  const stepNames = Object.keys(runs[0].flow.steps);
  summary.flow = {
    completed: flows,
    rate: flows / seconds,
    p50: quantile(flowLatencies, 0.5),
    p99: quantile(flowLatencies, 0.99),
    cpuPerFlow: Object.values(cpu).reduce((a, b) => a + b, 0) / Math.max(1, flows),
    steps: Object.fromEntries(stepNames.map((step) => [step, latencyStats(runs.flatMap((r) => r.flow.steps[step]))])),
  };
  return summary;
}
