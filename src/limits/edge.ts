import type { Deps } from "../deps";
import type { Kv } from "../storage/guard";
import { secondsUntil } from "./sliding";

// The edge copy of the exact windows in D1. When a window fills (or a phone is locked), a KV key
// records until when, so the next requests from that IP or for that phone are refused at the
// edge without a D1 round trip. KV is eventually consistent and has no atomic increment, so it
// only ever refuses: a missing or stale mark sends the request on to D1, which decides.
// KV refuses TTLs under 60 s, so the real end is kept in the value.

/** What an edge mark stops: a per-IP window of one route, or a phone's lock or send windows. */
export type EdgeMark = "send_ip" | "verify_ip" | "password_ip" | "passkey_ip" | "code_lock" | "send_phone" | "password_lock";

/** One KV value per IP and per phone: each mark's end (ms) and the limit of the window that filled. */
export type EdgeMarks = Partial<Record<EdgeMark, EdgeWindow>>;

/** A full window: refused from `from` (default: at once) until `until` (ms); `limit` for `RateLimit-Limit`. */
export type EdgeWindow = { until: number; limit: number; from?: number };

/** Whether a `{ "until": ms }` value read from KV (an edge mark, a block's or a storm's copy) is still on at `now`. */
export const markOn = (mark: unknown, now: number): boolean => {
  const until = (mark as { until?: unknown } | null)?.until;
  return typeof until === "number" && until > now;
};

/** KV's TTL (s) for a value that matters until `until` (ms): the time left, at least KV's 60. */
export const ttlUntil = (until: number, now: number) => Math.max(60, Math.ceil((until - now) / 1000));

export const edgeIpKey = (ip: string) => `edge:ip:${ip}`;
export const edgePhoneKey = (phone: string) => `edge:phone:${phone}`;

/** While `mark` refuses: the seconds until it stops and the window's limit; null when it does not refuse now. */
export function edgeRefuses(marks: EdgeMarks | null | undefined, mark: EdgeMark, now: number): { wait: number; limit: number } | null {
  const found = marks?.[mark];
  if (typeof found?.until !== "number" || found.until <= now || (found.from ?? 0) > now) return null;
  return { wait: secondsUntil(found.until, now), limit: Number(found.limit) || 0 };
}

/**
 * Reads the IP's marks, the phone's (when there is one) and any `more` keys in one KV call (a bulk
 * get). Values are JSON; a key that is absent reads as null.
 */
export async function readEdge(kv: Kv, ip: string, phone: string | null, more: string[] = []) {
  const keys = [edgeIpKey(ip), ...(phone === null ? [] : [edgePhoneKey(phone)]), ...more];
  const values = (await kv.get(keys, "json")) as Map<string, unknown>;
  return {
    ip: (values.get(edgeIpKey(ip)) ?? null) as EdgeMarks | null,
    phone: (phone === null ? null : (values.get(edgePhoneKey(phone)) ?? null)) as EdgeMarks | null,
    more: more.map((key) => values.get(key) ?? null),
  };
}

/**
 * Writes a mark after the response (it decides nothing for this request). `known` is the value
 * read at the start of the request, so marks of other routes survive; a lost race between two
 * writers only drops a mark, and D1 still refuses.
 */
export function markEdge(
  deps: Pick<Deps, "kv" | "now" | "request">,
  key: string,
  known: EdgeMarks | null,
  mark: EdgeMark,
  window: EdgeWindow,
) {
  const marks: EdgeMarks = { ...pruned(known, deps.now), [mark]: window };
  deps.request.defer(
    writeMarks(deps.kv, key, marks, deps.now).catch((error) =>
      console.warn(`edge mark skipped: ${error instanceof Error ? error.message : "unknown"}`),
    ),
  );
}

/**
 * Takes `mark` off `key` after the response, when D1 lifted what it copied (a password reset ends
 * the password lock): one KV read, then the other marks written back (or the key deleted) whether
 * or not this location's read saw the mark, since the mark may have been written elsewhere. Until
 * KV has spread the change (up to 60 s), other locations may still refuse; a request that read the
 * marks before this write may also put the mark back when it writes its own (KV keeps the last
 * write). Either way a mark only ever refuses, until its own end.
 */
export function clearEdgeMark(deps: Pick<Deps, "kv" | "now" | "request">, key: string, mark: EdgeMark) {
  deps.request.defer(
    (async () => {
      const rest: EdgeMarks = pruned((await deps.kv.get(key, "json")) as EdgeMarks | null, deps.now);
      delete rest[mark];
      await (Object.keys(rest).length > 0 ? writeMarks(deps.kv, key, rest, deps.now) : deps.kv.delete(key));
    })().catch((error) => console.warn(`edge mark not cleared: ${error instanceof Error ? error.message : "unknown"}`)),
  );
}

function pruned(marks: EdgeMarks | null, now: number): EdgeMarks {
  return Object.fromEntries(Object.entries(marks ?? {}).filter(([, found]) => typeof found?.until === "number" && found.until > now));
}

/** Writes live `marks` under `key`, kept until the last one ends (KV's TTL: at least 60 s). */
function writeMarks(kv: Kv, key: string, marks: EdgeMarks, now: number) {
  const longest = Math.max(...Object.values(marks).map((found) => found?.until ?? 0));
  // KV takes one write per key per second; a refused write only loses the shortcut.
  return kv.put(key, JSON.stringify(marks), { expirationTtl: ttlUntil(longest, now) });
}
