import type { Config } from "../config";
import { type Failure, fail } from "../http/problem";

const SITEVERIFY = "https://challenges.cloudflare.com/turnstile/v0/siteverify";

/**
 * With `TURNSTILE_SECRET_KEY` set, `POST /v1/auth/otp` needs a Turnstile token that Cloudflare's
 * siteverify accepts. Tokens are single-use there, so a replayed token is refused as well.
 * Missing → `captcha_required`; refused → `captcha_failed`; siteverify unreachable → 503.
 */
export async function checkTurnstile(
  config: Config,
  token: string | undefined,
  ip: string,
  fetcher: typeof fetch,
): Promise<Failure | null> {
  if (!config.TURNSTILE_SECRET_KEY) return null;
  if (!token) return fail("captcha_required", { detail: "Complete the captcha and send turnstile_token." });
  const form = new URLSearchParams({ secret: config.TURNSTILE_SECRET_KEY, response: token });
  if (ip !== "unknown" && !ip.includes("/")) form.set("remoteip", ip);
  let outcome: { success?: unknown };
  try {
    const response = await fetcher(SITEVERIFY, { method: "POST", body: form, signal: AbortSignal.timeout(config.SMS_TIMEOUT_MS) });
    outcome = (await response.json()) as { success?: unknown };
  } catch (error) {
    console.error(`turnstile siteverify failed: ${error instanceof Error ? error.message : "unknown"}`);
    return fail("service_unavailable", { detail: "The captcha could not be checked. Try again shortly." });
  }
  return outcome.success === true ? null : fail("captcha_failed", { detail: "The captcha was not accepted. Try again." });
}
