import type { Context } from "hono";
import { checkTurnstile } from "../abuse/turnstile";
import type { SQL } from "../db/sql";
import { type ChannelChoice, channelAvailable } from "../delivery";
import { pickLocale } from "../delivery/messages";
import type { AppEnv } from "../http/context";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { clientInfo, clientIp } from "../http/middleware";
import { ApiError, type Failure, fail } from "../http/problem";
import { parsePhone, phoneFromInput } from "../phone";
import { type PurposeSchema, requireCodeLength } from "./schemas";
import { refuseSend, sendCode } from "./service";
import { signInWithCode } from "./signin";

// The request-level steps of sending and verifying a code (parse the phone, captcha, IP windows,
// then the service), shared by the JSON API, the compatibility APIs and the web pages so that
// every door obeys the same rules. Each throws ApiError on refusal.

export type CodeRequest = {
  phone: string;
  region?: string;
  purpose: (typeof PurposeSchema)["_output"];
  /** The caller, for `change_phone`: its id and SQL that holds while its session is live. */
  caller?: { userId: string; live: SQL };
  turnstileToken?: string;
  /** Unset: DEFAULT_CHANNEL. The compatibility APIs send over `sms` only. */
  channel?: ChannelChoice;
  /** The `locale` field; unset falls back to Accept-Language, then DEFAULT_LOCALE. */
  locale?: string;
  /** The compatibility APIs' old clients cannot show a captcha (contract: all rules but Turnstile). */
  captchaExempt?: boolean;
};

export async function requestCode(c: Context<AppEnv>, input: CodeRequest) {
  const config = c.get("config");
  const services = deps(c);
  const { purpose } = input;
  const parsed = phoneFromInput(config, input.phone, input.region);
  if ("error" in parsed && parsed.error === "country_not_allowed") {
    // The number parsed (only its country is refused): record whose send it was.
    const refused = parsePhone(input.phone, input.region?.toUpperCase() ?? config.DEFAULT_REGION);
    if (refused) refuseSend(services, { phone: refused.e164, purpose }, parsed);
  }
  const phone = orThrow(parsed);
  const refuse = (failure: Failure) => refuseSend(services, { phone: phone.e164, purpose }, failure);
  const channel = input.channel ?? config.DEFAULT_CHANNEL;
  if (!channelAvailable(config, phone.country, channel)) {
    throw new ApiError(refuse(fail("channel_unavailable", { detail: `No ${channel} delivery is configured for this number.` })));
  }
  const locale = pickLocale(config, input.locale, c.req.header("Accept-Language"));
  if (!input.captchaExempt) {
    const captcha = await checkTurnstile(config, input.turnstileToken, clientIp(c), (url, init) => fetch(url, init));
    if (captcha) throw new ApiError(refuse(captcha));
  }
  const sent = orThrow(await sendCode(services, { phone, purpose, caller: input.caller, channel, locale }));
  return withLimitHeaders(c, sent);
}

/**
 * Sets the `RateLimit-*` headers a service returned with its result and returns the result
 * without them (they are response headers, not body).
 */
export function withLimitHeaders<T extends { headers: Record<string, string> }>(c: Context<AppEnv>, result: T): Omit<T, "headers"> {
  const { headers, ...body } = result;
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  return body;
}

export type SignInRequest = {
  phone: string;
  region?: string;
  code: string;
  inviteCode?: string;
  /** Set by the JSON verify only (`""` when absent): checked while a guess storm is on. */
  turnstileToken?: string;
};

/** Verifies a `login` code and signs in (creating the user on first sign-in). */
export async function signInRequest(c: Context<AppEnv>, input: SignInRequest) {
  const config = c.get("config");
  requireCodeLength(config, input.code);
  const phone = orThrow(phoneFromInput(config, input.phone, input.region));
  const signedIn = orThrow(
    await signInWithCode(deps(c), {
      phone: phone.e164,
      code: input.code,
      client: clientInfo(c),
      inviteCode: input.inviteCode,
      captcha:
        input.turnstileToken === undefined
          ? undefined
          : () => checkTurnstile(config, input.turnstileToken || undefined, clientIp(c), (url, init) => fetch(url, init)),
    }),
  );
  return withLimitHeaders(c, signedIn);
}
