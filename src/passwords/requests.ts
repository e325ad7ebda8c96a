import type { Context } from "hono";
import type { AppEnv } from "../http/context";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { clientInfo } from "../http/middleware";
import { phoneFromInput } from "../phone";
import { limitByIp } from "../ratelimit/ip";
import { loginWithPassword } from "./service";

/** Password login with the IP window (shared with the compatibility APIs and the pages); throws ApiError. */
export async function passwordLoginRequest(c: Context<AppEnv>, input: { phone: string; region?: string; password: string }) {
  const config = c.get("config");
  const phone = orThrow(phoneFromInput(config, input.phone, input.region));
  await limitByIp(c, "password", [{ limit: config.PASSWORD_IP_PER_MINUTE, seconds: 60 }], "too_many_attempts");
  return orThrow(await loginWithPassword(deps(c), { phone: phone.e164, password: input.password, client: clientInfo(c) }));
}
