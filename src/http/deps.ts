import type { Context } from "hono";
import type { Config } from "../config";
import { database } from "../db/client";
import type { OtpDeps } from "../otp/service";
import { createSmsSender, type SmsSender } from "../sms/sender";
import type { AppEnv } from "./context";

const senders = new WeakMap<Config, SmsSender>();

/** The services' view of the outside world for this request: storage, SMS, the clock. */
export function deps(c: Context<AppEnv>): OtpDeps {
  const config = c.get("config");
  let sms = senders.get(config);
  if (!sms) {
    // Late-bound so tests that replace globalThis.fetch reach the provider.
    sms = createSmsSender(config, (input, init) => fetch(input, init));
    senders.set(config, sms);
  }
  return { config, db: database(c.env.DB), kv: c.env.KV, sms, now: Date.now() };
}
