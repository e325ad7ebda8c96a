// The one runner every bench suite goes through: its work dir under bench/.out, one cleanup however
// it ends (normal end, error, signal, overall timeout), BENCH_REPORT_ONLY (rewrite the report from the
// last run's raw numbers), the raw numbers and the Markdown report, and the exit code.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { cleanupOnExit, formatMarkdown, machineFacts, outDir, root, SMOKE } from "./common.mjs";

/**
 * Runs `suite` and exits. A suite is { name, timeoutMs, main(context) → results, raw(results) and
 * report(results) → file path or null (null: not written), render(results) → Markdown,
 * biome (format the report), exitCode(results), failureCode }. `context`: { work, cleanup, log, facts }.
 */
export async function runSuite(suite) {
  const log = (...args) => console.log(`[bench:${suite.name} ${new Date().toISOString().slice(11, 19)}]`, ...args);
  const work = join(outDir, `${suite.name}-${process.pid}`);
  const stops = [];
  const dirs = [work];
  const cleanup = { add: (stop) => stops.push(stop), dir: (dir) => dirs.push(dir) };
  const release = cleanupOnExit(`bench:${suite.name}`, suite.timeoutMs, async () => {
    await Promise.allSettled(stops.reverse().map((stop) => stop()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  let code = 0;
  try {
    let results;
    if (process.env.BENCH_REPORT_ONLY) {
      const raw = suite.raw({});
      results = JSON.parse(readFileSync(raw, "utf8"));
      log(`rewriting the report from ${relative(root, raw)}`);
    } else {
      mkdirSync(work, { recursive: true });
      const facts = machineFacts();
      log(`${facts.cpu}, ${facts.cores} cores, node ${facts.node}, wrangler ${facts.wrangler}, ${facts.workerd}`);
      results = await suite.main({ work, cleanup, log, facts });
      const raw = suite.raw(results);
      mkdirSync(outDir, { recursive: true });
      if (raw && !SMOKE) writeFileSync(raw, JSON.stringify(results, null, 1));
    }
    const target = suite.report(results);
    const report = target && SMOKE ? join(outDir, `smoke-${basename(target)}`) : target;
    if (report) {
      writeFileSync(report, suite.render(results));
      if (suite.biome && !SMOKE) formatMarkdown(report);
      log(`wrote ${relative(root, report)}${suite.raw(results) && !SMOKE ? ` (raw numbers: ${relative(root, suite.raw(results))})` : ""}`);
    }
    code = suite.exitCode?.(results, log) ?? 0;
    // Smoke numbers decide nothing: a broken budget or verdict is logged, not the exit code.
    if (SMOKE && code !== 0) {
      log(`smoke run: a full run would exit ${code} on these numbers; a smoke run checks only that the suite runs`);
      code = 0;
    }
  } catch (error) {
    console.error(error);
    code = suite.failureCode ?? 1;
  } finally {
    await release();
  }
  process.exit(code);
}
