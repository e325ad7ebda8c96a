import { rateLimitHeaders } from "../limits/sliding";
import type { Kv } from "../storage/guard";

/** A fixed window: at most `limit` requests per `seconds`. */
export type Window = { limit: number; seconds: number };

export type WindowVerdict = {
  allowed: boolean;
  /** Seconds until the fullest window frees up (only when refused). */
  retryAfter?: number;
  /** `RateLimit-*` headers for the window with the least left. */
  headers: Record<string, string>;
};

type Stored = { w: { start: number; count: number }[] };

/**
 * Counts one request against `windows` kept in one KV value (1 read + 1 write). KV is eventually
 * consistent and takes one write per key per second, so under a burst at one location the count
 * can trail by the requests that raced the same read; it is an abuse brake, not an exact meter.
 * Money-bearing limits (per-phone sends) live in D1 instead. KV TTLs must be ≥ 60 s, so the real
 * window ends are kept inside the value.
 */
export async function hitWindows(kv: Kv, key: string, windows: Window[], now: number): Promise<WindowVerdict> {
  const stored = await kv.get<Stored>(key, "json");
  const current = windows.map((window, i) => {
    const slot = stored?.w?.[i];
    const live = slot && typeof slot.start === "number" && slot.start + window.seconds * 1000 > now;
    return live ? { start: slot.start, count: slot.count } : { start: now, count: 0 };
  });
  const full = windows.findIndex((window, i) => (current[i]?.count ?? 0) >= window.limit);
  if (full === -1) {
    for (const slot of current) slot.count += 1;
    const ttl = Math.max(60, ...windows.map((window, i) => Math.ceil(((current[i]?.start ?? now) + window.seconds * 1000 - now) / 1000)));
    try {
      await kv.put(key, JSON.stringify({ w: current } satisfies Stored), { expirationTtl: ttl });
    } catch (error) {
      // KV refuses a second write to one key within a second; the request still counts as allowed.
      console.warn(`rate window write skipped: ${error instanceof Error ? error.message : "unknown"}`);
    }
  }
  // The window with the least left decides the headers.
  let tightest = 0;
  let leastLeft = Number.POSITIVE_INFINITY;
  windows.forEach((window, i) => {
    const left = window.limit - (current[i]?.count ?? 0);
    if (left < leastLeft) {
      leastLeft = left;
      tightest = i;
    }
  });
  const window = windows[full === -1 ? tightest : full] as Window;
  const slot = current[full === -1 ? tightest : full] as { start: number; count: number };
  const reset = Math.max(1, Math.ceil((slot.start + window.seconds * 1000 - now) / 1000));
  const headers = rateLimitHeaders({ limit: window.limit, remaining: window.limit - slot.count, reset });
  return full === -1 ? { allowed: true, headers } : { allowed: false, retryAfter: reset, headers };
}

/** Whether a window kept by `hitWindows` is full now, without counting (1 read); seconds until it frees. */
export async function fullWindow(kv: Kv, key: string, windows: Window[], now: number): Promise<number | null> {
  const stored = await kv.get<Stored>(key, "json");
  let retryAfter: number | null = null;
  windows.forEach((window, i) => {
    const slot = stored?.w?.[i];
    const end = slot && typeof slot.start === "number" ? slot.start + window.seconds * 1000 : 0;
    if (slot && end > now && slot.count >= window.limit) {
      retryAfter = Math.max(retryAfter ?? 0, Math.ceil((end - now) / 1000));
    }
  });
  return retryAfter;
}
