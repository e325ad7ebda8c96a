import type { Purpose } from "../otp/gate";

/** The ways a code can reach a phone (contract: "Delivery"). */
export const CHANNELS = ["sms", "whatsapp", "telegram", "voice"] as const;
export type Channel = (typeof CHANNELS)[number];
/** What a send may ask for: one channel, `auto` (walk the country's route), or nothing (DEFAULT_CHANNEL). */
export type ChannelChoice = Channel | "auto";

/** Provider names, and the channels each may carry. */
export const PROVIDER_CHANNELS = {
  console: ["sms", "whatsapp", "telegram", "voice"],
  twilio: ["sms", "voice"],
  vonage: ["sms"],
  kavenegar: ["sms"],
  smsru: ["sms"],
  webhook: ["sms"],
  whatsapp_cloud: ["whatsapp"],
  telegram_gateway: ["telegram"],
} as const satisfies Record<string, readonly Channel[]>;
export type ProviderName = keyof typeof PROVIDER_CHANNELS;
export const PROVIDER_NAMES = Object.keys(PROVIDER_CHANNELS) as ProviderName[];

/** One message, rendered for its channel and locale, on its way to one provider. */
export type OutgoingMessage = {
  /** E.164. */
  to: string;
  channel: Channel;
  /** The rendered text: the SMS body, the spoken sentence for voice, a log line for the rest. */
  text: string;
  /** The code (null for a security notice). */
  code: string | null;
  purpose: Purpose | "notice";
  /** BCP 47 primary language of the text (`en`, `ru`, `fa`, or one MESSAGE_TEMPLATES adds). */
  locale: string;
  /** Aborts when the provider's timeout or the overall deadline passes. */
  signal: AbortSignal;
};

/**
 * What one provider call came to. `unreachable`: the channel cannot reach this number (no
 * WhatsApp or Telegram account), so the next entry of the route may try.
 */
export type SendResult =
  | { ok: true; messageId: string | null }
  | { ok: false; reason: "error" | "timeout" | "unreachable"; errorCode: string };

/** The statuses a receipt can record (contract: sent, delivered, failed, undelivered). */
export type ReceiptStatus = "sent" | "delivered" | "failed" | "undelivered";
export type Receipt = { messageId: string; status: ReceiptStatus; errorCode: string | null };

/** A status callback as the hook received it: the raw body, its headers, and the URL the provider called. */
export type Callback = { url: string; body: string; headers: Headers };

/**
 * One outside service (style rule 13): the request shape, auth and answer mapping of one API.
 * `verifyReceipt` checks the callback's signature with the provider's own scheme and reads its
 * statuses; null means the signature is missing or wrong (nothing may be recorded).
 */
export interface Provider {
  readonly name: ProviderName;
  send(message: OutgoingMessage): Promise<SendResult>;
  verifyReceipt?(callback: Callback): Promise<Receipt[] | null>;
}

/** Outbound HTTP, injectable so tests answer as the real APIs do. */
export type Fetcher = (input: string, init: RequestInit) => Promise<Response>;
