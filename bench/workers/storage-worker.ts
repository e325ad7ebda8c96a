// Bench-only entry (BENCH_STORAGE=apart): a side's D1 and KV in a workerd process of their own,
// served to the side's Worker over its BENCH_STORAGE service binding (see storage-apart.ts).
import { serveStorage } from "./storage-apart";

export default { fetch: serveStorage } satisfies ExportedHandler<{ DB: D1Database; KV: KVNamespace }>;
