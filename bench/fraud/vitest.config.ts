import { appendFileSync } from "node:fs";
import path from "node:path";
import { defineConfig, mergeConfig } from "vitest/config";
import base from "../../vitest.config.ts";

// `npm run bench:fraud` (bench/suites/fraud.mjs) runs the fraud simulation with this config: the
// main test config's pool (the real Worker in workerd, fresh storage per file, the injected
// clock) on bench/fraud/scenarios/*.bench-test.ts only, so `npm test` never picks them up.
// workerd cannot write files: each scenario logs one `[bench:fraud] {json}` line, which
// `onConsoleLog` (here, in Node) appends to BENCH_FRAUD_OUT.
export const RESULT_MARK = "[bench:fraud] ";

export default defineConfig(async (env) => {
  const resolved = typeof base === "function" ? await base(env) : base;
  const out = process.env.BENCH_FRAUD_OUT;
  const scale = Number(process.env.BENCH_FRAUD_SCALE ?? 1);
  const seed = Number(process.env.BENCH_FRAUD_SEED ?? 1);
  // The price of an SMS for "spend prevented": the operator's DELIVERY_PRICES when given, else an assumption.
  const prices = process.env.DELIVERY_PRICES ?? "sms:console:*=0.05";
  const merged = mergeConfig(resolved, {
    test: { provide: { fraudScale: scale, fraudSeed: seed, fraudPrices: prices }, testTimeout: 20 * 60_000 },
  });
  // mergeConfig concatenates arrays: replace the include list. The main config's log filter still
  // applies to every other line.
  const keep = resolved.test?.onConsoleLog;
  merged.root = path.join(import.meta.dirname, "..", "..");
  merged.test = {
    ...merged.test,
    include: ["bench/fraud/scenarios/*.bench-test.ts"],
    onConsoleLog: (...args: Parameters<NonNullable<typeof keep>>) => {
      const [log] = args;
      if (!log.startsWith(RESULT_MARK)) return keep?.(...args);
      if (out) appendFileSync(out, `${log.slice(RESULT_MARK.length).trim()}\n`);
      return false;
    },
  };
  return merged;
});
