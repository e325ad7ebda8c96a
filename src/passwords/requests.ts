import type { Context } from "hono";
import type { Deps } from "../deps";
import type { AppEnv } from "../http/context";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { clientInfo, unauthorized } from "../http/middleware";
import { callerSql, readCaller } from "../me/service";
import { withLimitHeaders } from "../otp/requests";
import { parsePhone, phoneFromInput } from "../phone";
import type { AccessClaims } from "../tokens/jwt";
import { changePassword, loginWithPassword } from "./service";

/** Password login with the IP window (shared with the compatibility APIs and the pages); throws ApiError. */
export async function passwordLoginRequest(c: Context<AppEnv>, input: { phone: string; region?: string; password: string }) {
  const config = c.get("config");
  const phone = orThrow(phoneFromInput(config, input.phone, input.region));
  return withLimitHeaders(
    c,
    orThrow(await loginWithPassword(deps(c), { phone: phone.e164, password: input.password, client: clientInfo(c) })),
  );
}

/**
 * Sets the first password or changes it for the token's live session (re-authentication, policy,
 * other sessions revoked, notice SMS); shared with the compatibility APIs. Throws ApiError.
 */
export async function changePasswordRequest(deps: Deps, claims: AccessClaims, input: { newPassword: string; currentPassword?: string }) {
  const caller = orThrow(await readCaller(deps, claims));
  const phone = parsePhone(caller.phone);
  if (!phone) throw unauthorized();
  const outcome = orThrow(
    await changePassword(deps, { claims, caller, callerGuard: callerSql(deps.config, claims, deps.now), phone, ...input }),
  );
  if (outcome === null) throw unauthorized();
}
