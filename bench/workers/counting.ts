// Bench-only (never in the production bundle: wrangler.toml's main is src/index.ts, which imports
// nothing from bench/). Wraps a Worker's bindings so `npm run bench` can count, per endpoint, the
// storage and crypto work a request does: D1 round trips (a statement or a batch, on the binding or
// on a `withSession` session) and statements, KV operations by method, Rate Limiting calls, and
// WebCrypto calls. Our Worker (bench-entry.ts), the bare baseline (baseline-worker.ts) and the
// floor (floor-worker.ts) are wrapped by this same module, so the wrapping costs each the same.
//
// `GET /__bench/ops` answers the counters; `POST /__bench/ops?record=1|0` resets them and turns
// the recording of SQL texts on or off (only the counting pass records; load runs only count).
//
// With a `BENCH_STORAGE` service binding (BENCH_STORAGE=apart), DB and KV are served by a storage
// process of their own (storage-apart.ts) and counted the same way.
import { remoteD1, remoteKv } from "./storage-apart";

type Counter = Record<string, number>;

type Ops = {
  requests: number;
  d1RoundTrips: number;
  d1Statements: number;
  /** Characters of SQL text sent (what goes over the D1 binding as JSON, parameters aside). */
  d1SqlChars: number;
  d1Sessions: number;
  kv: Counter;
  limiter: Counter;
  /** Static-asset reads through the ASSETS binding. */
  assets: number;
  crypto: Counter;
  /** Normalised SQL text → times sent (record mode only). */
  sql: Counter;
  /** Reads of JWT_PRIVATE_KEYS on the env: a config parse (or key import) each. */
  keyReads: number;
  /** Work registered with waitUntil that has not settled yet. */
  pending: number;
};

const fresh = (): Ops => ({
  requests: 0,
  d1RoundTrips: 0,
  d1Statements: 0,
  d1SqlChars: 0,
  d1Sessions: 0,
  kv: {},
  limiter: {},
  assets: 0,
  crypto: {},
  sql: {},
  keyReads: 0,
  pending: 0,
});

let ops = fresh();
let recordSql = false;
/** Bench env objects made so far in this isolate (1 means the env object is stable). */
let envWraps = 0;
/** ASSETS reads over the isolate's life (never reset): shows what is fetched once per isolate. */
let assetsTotal = 0;

const bump = (counter: Counter, key: string) => {
  counter[key] = (counter[key] ?? 0) + 1;
};

const normalise = (sql: string) => sql.replace(/\s+/g, " ").replace(/\( /g, "(").replace(/ \)/g, ")").trim();

// ---- WebCrypto: count every call by operation and algorithm ----

const algorithmName = (algorithm: unknown) =>
  typeof algorithm === "string" ? algorithm : ((algorithm as { name?: string } | null)?.name ?? "?");

const subtleProto = Object.getPrototypeOf(crypto.subtle) as Record<string, (...args: unknown[]) => unknown>;
for (const name of ["digest", "sign", "verify", "importKey", "deriveKey", "deriveBits", "encrypt", "decrypt"]) {
  const original = subtleProto[name];
  if (typeof original !== "function") continue;
  Object.defineProperty(subtleProto, name, {
    configurable: true,
    writable: true,
    value: function counted(this: unknown, ...args: unknown[]) {
      // importKey(format, keyData, algorithm, ...): the algorithm is the third argument.
      bump(ops.crypto, `${name}:${algorithmName(name === "importKey" ? args[2] : args[0])}`);
      return original.apply(this, args);
    },
  });
}

// ---- D1 ----

/**
 * `BENCH_D1_LATENCY_MS`: a wait before every D1 round trip, on every side alike. Miniflare's D1 is
 * SQLite in the same process, so a round trip costs ~0.1 ms locally; from a Cloudflare location to
 * the database's primary it costs a network round trip. Unset (0): no wait.
 */
let d1LatencyMs = 0;
const travel = () => (d1LatencyMs > 0 ? new Promise<void>((resolve) => setTimeout(resolve, d1LatencyMs)) : Promise.resolve());

class CountedStatement {
  constructor(
    readonly real: D1PreparedStatement,
    readonly text: string,
  ) {}
  bind(...values: unknown[]) {
    return new CountedStatement(this.real.bind(...values), this.text);
  }
  private trip() {
    ops.d1RoundTrips++;
    ops.d1Statements++;
    ops.d1SqlChars += this.text.length;
    if (recordSql) bump(ops.sql, normalise(this.text));
  }
  async first(column?: string) {
    this.trip();
    await travel();
    return column === undefined ? this.real.first() : this.real.first(column);
  }
  async all() {
    this.trip();
    await travel();
    return this.real.all();
  }
  async run() {
    this.trip();
    await travel();
    return this.real.run();
  }
  async raw(options?: { columnNames?: boolean }) {
    this.trip();
    await travel();
    return this.real.raw(options as { columnNames: true });
  }
}

type Preparer = Pick<D1Database, "prepare" | "batch">;

function countedPreparer(real: Preparer) {
  return {
    prepare: (query: string) => new CountedStatement(real.prepare(query), query) as unknown as D1PreparedStatement,
    batch: async (statements: D1PreparedStatement[]) => {
      ops.d1RoundTrips++;
      ops.d1Statements += statements.length;
      const unwrapped = statements.map((statement) => {
        if (!(statement instanceof CountedStatement)) return statement;
        ops.d1SqlChars += statement.text.length;
        if (recordSql) bump(ops.sql, normalise(statement.text));
        return statement.real;
      });
      await travel();
      return real.batch(unwrapped);
    },
  };
}

function countedD1(real: D1Database): D1Database {
  return {
    ...countedPreparer(real),
    exec: async (query: string) => {
      ops.d1RoundTrips++;
      await travel();
      return real.exec(query);
    },
    dump: () => real.dump(),
    withSession: (constraintOrBookmark?: string) => {
      ops.d1Sessions++;
      const session = real.withSession(constraintOrBookmark);
      return { ...countedPreparer(session), getBookmark: () => session.getBookmark() } as unknown as D1DatabaseSession;
    },
  } as unknown as D1Database;
}

// ---- KV and Rate Limiting ----

function countedKv(real: KVNamespace): KVNamespace {
  return new Proxy(real, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        bump(ops.kv, String(property));
        return value.apply(target, args);
      };
    },
  });
}

function countedLimiter(name: string, real: RateLimit): RateLimit {
  return {
    limit: (options: RateLimitOptions) => {
      bump(ops.limiter, name);
      return real.limit(options);
    },
  };
}

function countedAssets(real: Fetcher): Fetcher {
  return {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => {
      ops.assets++;
      assetsTotal++;
      return real.fetch(input, init);
    },
    connect: (address: SocketAddress | string, options?: SocketOptions) => real.connect(address, options),
  } as Fetcher;
}

// ---- the env and the handler ----

const wrapped = new WeakMap<object, Record<string, unknown>>();

/** The counting env for `env`, made once per env object, so config and key caches keyed by it still work. */
function countingEnv(env: Record<string, unknown>): Record<string, unknown> {
  let out = wrapped.get(env);
  if (out) return out;
  envWraps++;
  out = {};
  const storage = env.BENCH_STORAGE as Fetcher | undefined;
  for (const [name, value] of Object.entries(env)) {
    if (name === "BENCH_STORAGE") continue;
    if (name === "DB") out[name] = countedD1(storage ? remoteD1(storage) : (value as D1Database));
    else if (name === "KV") out[name] = countedKv(storage ? remoteKv(storage) : (value as KVNamespace));
    else if (name.endsWith("_LIMITER")) out[name] = countedLimiter(name, value as RateLimit);
    else if (name === "ASSETS") out[name] = countedAssets(value as Fetcher);
    else if (name === "JWT_PRIVATE_KEYS") {
      Object.defineProperty(out, name, {
        enumerable: true,
        get() {
          ops.keyReads++;
          return value;
        },
      });
    } else out[name] = value;
  }
  wrapped.set(env, out);
  return out;
}

function countingContext(ctx: ExecutionContext): ExecutionContext {
  return {
    waitUntil(work: Promise<unknown>) {
      ops.pending++;
      ctx.waitUntil(
        Promise.resolve(work).finally(() => {
          ops.pending--;
        }),
      );
    },
    passThroughOnException: () => ctx.passThroughOnException(),
    props: ctx.props,
  } as ExecutionContext;
}

type Fetch = (request: Request, env: never, ctx: ExecutionContext) => Response | Promise<Response>;

/** Wraps a fetch handler: counting bindings, plus the `/__bench/ops` route. */
export function countingHandler(inner: Fetch): ExportedHandler<Record<string, unknown>> {
  return {
    fetch(request, env, ctx) {
      if (request.url.includes("/__bench/ops")) {
        if (request.method === "POST") {
          recordSql = new URL(request.url).searchParams.get("record") === "1";
          const pending = ops.pending;
          ops = fresh();
          ops.pending = pending;
        }
        return Response.json({ ...ops, envWraps, assetsTotal, recordSql });
      }
      ops.requests++;
      d1LatencyMs = Number(env.BENCH_D1_LATENCY_MS ?? 0) || 0;
      return inner(request, countingEnv(env) as never, countingContext(ctx));
    },
  };
}
