import type { Config } from "../config";
import type { Purpose } from "../otp/gate";
import { renderCode, smsSegments } from "./messages";
import { priceOf } from "./prices";
import type { RouteEntry } from "./routing";
import type { Channel, Provider, ProviderName, SendResult } from "./types";

/** One provider call as recorded (src/delivery/store.ts). */
export type AttemptRecord = {
  attempt: number;
  channel: Channel;
  provider: ProviderName;
  status: "sent" | "failed";
  messageId: string | null;
  errorCode: string | null;
  segments: number | null;
  cost: number;
  startedAt: number;
  endedAt: number;
};

export type CodeMessage = { to: string; country?: string; locale: string; code: string; purpose: Purpose };

/** Which channel carried the code (null: every entry failed) and every attempt made. */
export type WalkOutcome = { channel: Channel | null; attempts: AttemptRecord[] };

/**
 * Failover: tries each route entry in order until one provider accepts the message. A provider
 * that errors, times out (SMS_TIMEOUT_MS each) or cannot reach the number on its channel passes
 * the message on; DELIVERY_DEADLINE_MS bounds the whole walk.
 */
export async function walkRoute(
  config: Config,
  providers: (name: ProviderName) => Provider,
  entries: RouteEntry[],
  message: CodeMessage,
): Promise<WalkOutcome> {
  const deadline = AbortSignal.timeout(config.DELIVERY_DEADLINE_MS);
  const attempts: AttemptRecord[] = [];
  for (const entry of entries) {
    if (deadline.aborted) break;
    const text = renderCode(config, entry.channel, message.locale, message.code);
    const segments = entry.channel === "sms" ? smsSegments(text).segments : null;
    const startedAt = Date.now();
    const signal = AbortSignal.any([deadline, AbortSignal.timeout(config.SMS_TIMEOUT_MS)]);
    let result: SendResult;
    try {
      result = await providers(entry.provider).send({ ...message, channel: entry.channel, text, signal });
    } catch {
      result = { ok: false, reason: "error", errorCode: "exception" };
    }
    attempts.push({
      attempt: attempts.length + 1,
      channel: entry.channel,
      provider: entry.provider,
      status: result.ok ? "sent" : "failed",
      messageId: result.ok ? result.messageId : null,
      errorCode: result.ok ? null : result.errorCode,
      segments,
      cost: result.ok ? priceOf(config.delivery.prices, entry.channel, entry.provider, message.country, segments ?? 1) : 0,
      startedAt,
      endedAt: Date.now(),
    });
    if (result.ok) return { channel: entry.channel, attempts };
    console.error(`delivery attempt failed: ${entry.channel}:${entry.provider} ${result.reason} ${result.errorCode}`);
  }
  return { channel: null, attempts };
}
