// D1 and KV can fail or stall (a lost connection, an overloaded primary, a location cut off).
// Every call to them goes through `guarded`: a bounded wait, and a failure of the dependency
// itself becomes a DependencyError, which the app answers with 503 `service_unavailable` and
// `Retry-After`. Because each atomic step is one statement or one batch, a call that fails has
// written nothing (see src/db/STORAGE.md, "Faults").

export type Dependency = "db" | "kv" | "assets" | "dns";

/** A storage dependency failed or did not answer in time; the client may retry. */
export class DependencyError extends Error {
  constructor(
    readonly dependency: Dependency,
    message: string,
  ) {
    super(`${dependency}: ${message}`);
    this.name = "DependencyError";
  }
}

// Errors D1 raises for a statement we wrote badly (or a constraint we rely on, like the unique
// invite code that sign-in retries on): our bug or our logic, never "try again later".
const OWN_SQL = /SQLITE_ERROR|SQLITE_CONSTRAINT|SQLITE_MISMATCH|SQLITE_RANGE|UNIQUE constraint|no such (table|column)/;

/** Runs one storage call with a deadline; dependency failures become DependencyError. */
export async function guarded<T>(dependency: Dependency, timeoutMs: number, call: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DependencyError(dependency, `no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([call(), deadline]);
  } catch (error) {
    if (error instanceof DependencyError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (dependency === "db" && OWN_SQL.test(message)) throw error;
    throw new DependencyError(dependency, message);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** The KV operations this app uses, each guarded. */
export type Kv = Pick<KVNamespace, "get" | "put" | "delete" | "list">;

export function guardedKv(kv: KVNamespace, timeoutMs: number): Kv {
  return {
    get: ((key: string, options?: unknown) => guarded("kv", timeoutMs, () => kv.get(key, options as "text"))) as KVNamespace["get"],
    put: (key, value, options) => guarded("kv", timeoutMs, () => kv.put(key, value, options)),
    delete: (key) => guarded("kv", timeoutMs, () => kv.delete(key)),
    list: (options) => guarded("kv", timeoutMs, () => kv.list(options)),
  };
}

/**
 * Runs `work`; if a dependency fails meanwhile, runs `undo` (best effort: the dependency may still
 * be down, and then the undo's own failure is only logged) and rethrows the original failure.
 * For the few two-step flows whose first step must be written before the second can run (a
 * reserved guess, then its evaluation).
 */
export async function undoOnFault<T>(work: () => Promise<T>, undo: () => Promise<unknown>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DependencyError) {
      await undo().catch((undoError) =>
        console.error(`undo after ${error.message} failed: ${undoError instanceof Error ? undoError.message : "unknown"}`),
      );
    }
    throw error;
  }
}
