// Bench-only: `BENCH_STORAGE=apart` runs each side's D1 and KV in a workerd process of its own, so
// the Worker's process CPU is the Worker's CPU, as Cloudflare bills it. Miniflare's D1 and KV are
// SQLite and files inside the Worker's own process; their CPU (statement execution, the simulated
// binding's bookkeeping, KV's blob writes) is charged to the Worker there, while in production it
// runs on Cloudflare's storage servers. With `apart`, the Worker keeps what it pays in production:
// building statements, serialising them and their results (JSON over a service binding, like the
// real D1 binding's wire format), waiting.
//
// `remoteD1` and `remoteKv` are the subsets of the D1 and KV bindings that the three bench Workers
// use, spoken over the `BENCH_STORAGE` service binding; `serveStorage` is the storage process's
// handler (storage-worker.ts), which runs each call on its real (Miniflare) D1 and KV bindings.

type Call = { sql: string; params: unknown[] };
type D1Call = { method: "first" | "all" | "run" | "batch"; statements: Call[] };
type KvCall =
  | { method: "get"; key: string | string[]; type: "text" | "json" }
  | { method: "put"; key: string; value: string; options?: KVNamespacePutOptions }
  | { method: "delete"; key: string };

async function call(storage: Fetcher, path: "d1" | "kv", body: D1Call | KvCall): Promise<unknown> {
  const text = JSON.stringify(body);
  const send = () => storage.fetch(`http://storage/${path}`, { method: "POST", body: text });
  // workerd may find a kept-alive connection to the storage process closed ("Network connection
  // lost") before the request left: one more try, on a new connection. Any other failure stands
  // (a batch that may have run is never sent twice for it).
  const response = await send().catch((error) => {
    if (error instanceof Error && error.message.includes("Network connection lost")) return send();
    throw error;
  });
  const out = (await response.json()) as { value?: unknown; error?: string };
  if (out.error !== undefined) throw new Error(out.error);
  return out.value;
}

class RemoteStatement {
  constructor(
    private readonly storage: Fetcher,
    private readonly sql: string,
    private readonly params: unknown[] = [],
  ) {}
  bind(...values: unknown[]) {
    return new RemoteStatement(this.storage, this.sql, values);
  }
  toCall(): Call {
    return { sql: this.sql, params: this.params };
  }
  private run1(method: D1Call["method"]) {
    return call(this.storage, "d1", { method, statements: [this.toCall()] });
  }
  first() {
    return this.run1("first");
  }
  all() {
    return this.run1("all");
  }
  run() {
    return this.run1("run");
  }
}

/** The D1 binding's prepare/batch/withSession over the storage process. */
export function remoteD1(storage: Fetcher): D1Database {
  const preparer = {
    prepare: (sql: string) => new RemoteStatement(storage, sql),
    batch: (statements: RemoteStatement[]) =>
      call(storage, "d1", { method: "batch", statements: statements.map((statement) => statement.toCall()) }),
  };
  return {
    ...preparer,
    exec: () => Promise.reject(new Error("exec is not served by BENCH_STORAGE=apart")),
    dump: () => Promise.reject(new Error("dump is not served by BENCH_STORAGE=apart")),
    // One process, one SQLite file: every read sees every write, as a session promises.
    withSession: () => ({ ...preparer, getBookmark: () => null }),
  } as unknown as D1Database;
}

/** The KV binding's get (one key or many; text or json), put and delete over the storage process. */
export function remoteKv(storage: Fetcher): KVNamespace {
  return {
    async get(key: string | string[], options?: "text" | "json" | { type?: "text" | "json" }) {
      const type = (typeof options === "string" ? options : options?.type) ?? "text";
      const value = await call(storage, "kv", { method: "get", key, type });
      return Array.isArray(key) ? new Map(value as [string, unknown][]) : value;
    },
    put: async (key: string, value: string, options?: KVNamespacePutOptions) => {
      if (typeof value !== "string") throw new Error("BENCH_STORAGE=apart serves string KV values only");
      await call(storage, "kv", { method: "put", key, value, options });
    },
    delete: async (key: string) => {
      await call(storage, "kv", { method: "delete", key });
    },
  } as unknown as KVNamespace;
}

async function runD1(db: D1Database, body: D1Call): Promise<unknown> {
  const statements = body.statements.map(({ sql, params }) => db.prepare(sql).bind(...params));
  const [one] = statements;
  if (body.method === "batch") return db.batch(statements);
  if (!one) throw new Error("no statement");
  if (body.method === "first") return one.first();
  return body.method === "all" ? one.all() : one.run();
}

async function runKv(kv: KVNamespace, body: KvCall): Promise<unknown> {
  if (body.method === "put") return kv.put(body.key, body.value, body.options);
  if (body.method === "delete") return kv.delete(body.key);
  if (Array.isArray(body.key)) return [...(await kv.get(body.key, body.type as "text")).entries()];
  return kv.get(body.key, body.type as "text");
}

/** The storage process: runs each call on its D1 and KV; an error travels back as its message. */
export async function serveStorage(request: Request, env: { DB: D1Database; KV: KVNamespace }): Promise<Response> {
  const path = new URL(request.url).pathname;
  try {
    const body = await request.json();
    const value = path === "/d1" ? await runD1(env.DB, body as D1Call) : await runKv(env.KV, body as KvCall);
    return Response.json({ value: value ?? null });
  } catch (error) {
    return Response.json({ error: error instanceof Error ? error.message : String(error) });
  }
}
