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

const ipKey = (c: Context<AppEnv>) => `compat:register:ip:${clientIp(c)}`;
const phoneLockKey = async (c: Context<AppEnv>, phone: string) => `compat:register:phone:${await phoneKey(c.get("config"), phone)}`;

async function refuseIfFull(c: Context<AppEnv>, key: string) {
  const retryAfter = await fullWindow(kvOf(c), key, LOCK, Date.now());
  if (retryAfter !== null) {
    throw new ApiError(
      fail("too_many_attempts", { detail: "Too many failed attempts. Try again later.", retry_after: retryAfter, lock: true }),
    );
  }
}

/** Refuses (429) while the client's IP is locked. */
export function refuseWhileIpLocked(c: Context<AppEnv>) {
  return refuseIfFull(c, ipKey(c));
}

/** Refuses (429) while the number is locked; the IP is checked separately, before the number is known. */
export async function refuseWhilePhoneLocked(c: Context<AppEnv>, phone: string) {
  return refuseIfFull(c, await phoneLockKey(c, phone));
}

/** Counts one failure against the IP and, when known, the phone. */
export async function recordFailure(c: Context<AppEnv>, phone: string | undefined) {
  const now = Date.now();
  const keys = [ipKey(c), ...(phone ? [await phoneLockKey(c, phone)] : [])];
  await Promise.all(keys.map((key) => hitWindows(kvOf(c), key, LOCK, now)));
}
