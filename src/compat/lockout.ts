import type { Context } from "hono";
import type { AppEnv } from "../http/context";
import { kvOf } from "../http/deps";
import { clientIp } from "../http/middleware";
import { ApiError, fail } from "../http/problem";
import { phoneKey } from "../phone";
import { fullWindow, hitWindows, type Window } from "../ratelimit/kv-window";

// The `register` API's own promise, kept on top of the core's limits: three failures of any kind
// lock that number and that IP for an hour (from the first failure). KV windows, like the core's
// IP windows: an abuse brake that can trail by the requests racing one read.
const LOCK: Window[] = [{ limit: 3, seconds: 3600 }];

async function keys(c: Context<AppEnv>, phone: string | undefined) {
  const found = [`compat:register:ip:${clientIp(c)}`];
  if (phone) found.push(`compat:register:phone:${await phoneKey(c.get("config"), phone)}`);
  return found;
}

/** Refuses (429) while the IP or the phone is locked. */
export async function refuseWhileLocked(c: Context<AppEnv>, phone: string | undefined) {
  const now = Date.now();
  for (const key of await keys(c, phone)) {
    const retryAfter = await fullWindow(kvOf(c), key, LOCK, now);
    if (retryAfter !== null) {
      throw new ApiError(
        fail("too_many_attempts", { detail: "Too many failed attempts. Try again later.", retry_after: retryAfter, lock: true }),
      );
    }
  }
}

/** Counts one failure against the IP and, when known, the phone. */
export async function recordFailure(c: Context<AppEnv>, phone: string | undefined) {
  const now = Date.now();
  await Promise.all((await keys(c, phone)).map((key) => hitWindows(kvOf(c), key, LOCK, now)));
}
