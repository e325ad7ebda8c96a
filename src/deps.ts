import type { Config } from "./config";
import type { Db } from "./db/client";
import type { Delivery } from "./delivery";
import type { Kv } from "./storage/guard";

/** Where a request came from, for the audit trail. `defer` runs work after the response (waitUntil). */
export type RequestContext = { requestId: string; ip: string; country: string | null; defer: (work: Promise<unknown>) => void };

/** What the services need from the outside world; tests substitute any of it. */
export type Deps = { config: Config; db: Db; kv: Kv; assets: Fetcher; delivery: Delivery; now: number; request: RequestContext };
