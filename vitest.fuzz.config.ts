import { defineConfig, mergeConfig } from "vitest/config";
import base from "./vitest.config";

// `npm run fuzz`: the property tests of test/fuzz-*.test.ts with many more runs and a random seed
// (FUZZ_RUNS, FUZZ_SEED override both). The tests run inside workerd, so the numbers reach them
// through Vitest's `provide`/`inject`, not process.env. `npm test` runs the same properties with a
// fixed seed and a few runs each.
export default defineConfig(async (env) => {
  const runs = Number(process.env.FUZZ_RUNS ?? 500);
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error("FUZZ_RUNS must be a positive integer");
  if (!Number.isSafeInteger(seed)) throw new Error("FUZZ_SEED must be an integer");
  console.log(`fuzz: ${runs} runs per property, seed ${seed} (repeat with FUZZ_SEED=${seed})`);
  const resolved = typeof base === "function" ? await base(env) : base;
  const merged = mergeConfig(resolved, { test: { provide: { fuzzRuns: runs, fuzzSeed: seed }, testTimeout: 6 * 3_600_000 } });
  // mergeConfig concatenates arrays: replace the include list instead.
  merged.test = { ...merged.test, include: ["test/fuzz-*.test.ts"] };
  return merged;
});
