// Bench-only entry (the endpoints suite builds it with wrangler's own bundler; never deployed): the
// real Worker from src/index.ts, unchanged, behind the counting bindings of bench/workers/counting.ts.
import worker from "../../src/index";
import { countingHandler } from "./counting";

export default countingHandler((request, env, ctx) => worker.fetch(request, env, ctx));
