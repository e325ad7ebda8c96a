import type { Config } from "../config";
import { parsePhone } from "../phone";
import { consoleProvider } from "./providers/console";
import { kavenegarProvider } from "./providers/kavenegar";
import { smsruProvider } from "./providers/smsru";
import { telegramGatewayProvider } from "./providers/telegram-gateway";
import { twilioProvider } from "./providers/twilio";
import { vonageProvider } from "./providers/vonage";
import { webhookProvider } from "./providers/webhook";
import { whatsappCloudProvider } from "./providers/whatsapp-cloud";
import { entriesFor } from "./routing";
import { type Channel, type ChannelChoice, type Fetcher, PROVIDER_NAMES, type Provider, type ProviderName } from "./types";
import { type CodeMessage, type WalkOutcome, walkRoute } from "./walk";

export type { Channel, ChannelChoice } from "./types";

const FACTORIES: Record<ProviderName, (config: Config, fetcher: Fetcher) => Provider> = {
  console: () => consoleProvider,
  twilio: twilioProvider,
  vonage: vonageProvider,
  kavenegar: kavenegarProvider,
  smsru: smsruProvider,
  webhook: webhookProvider,
  whatsapp_cloud: whatsappCloudProvider,
  telegram_gateway: telegramGatewayProvider,
};

/** Sends codes along the configured routes and notices over SMS; finds a provider by name for its receipts. */
export interface Delivery {
  /** Walks the route for this number and channel (see walkRoute). */
  sendCode(message: CodeMessage & { channel: ChannelChoice }): Promise<WalkOutcome>;
  /** A security notice (password or phone changed) over the number's SMS route. Rejects when every entry fails. */
  sendNotice(to: string, body: string): Promise<void>;
  provider(name: string): Provider | undefined;
}

/** The delivery service for one config. `fetcher` is injectable so tests drive outbound HTTP. */
export function createDelivery(config: Config, fetcher: Fetcher): Delivery {
  const built = new Map<ProviderName, Provider>();
  const provider = (name: ProviderName) => {
    let instance = built.get(name);
    if (!instance) {
      instance = FACTORIES[name](config, fetcher);
      built.set(name, instance);
    }
    return instance;
  };
  const { routes } = config.delivery;
  return {
    sendCode(message) {
      return walkRoute(config, provider, entriesFor(routes, message.country, message.channel), message);
    },
    async sendNotice(to, body) {
      const entries = entriesFor(routes, parsePhone(to)?.country, "sms");
      const deadline = AbortSignal.timeout(config.DELIVERY_DEADLINE_MS);
      for (const entry of entries) {
        const signal = AbortSignal.any([deadline, AbortSignal.timeout(config.SMS_TIMEOUT_MS)]);
        const message = {
          to,
          channel: "sms" as const,
          text: body,
          code: null,
          purpose: "notice" as const,
          locale: config.DEFAULT_LOCALE,
          signal,
        };
        const result = await provider(entry.provider)
          .send(message)
          .catch(() => ({ ok: false as const, errorCode: "exception" }));
        if (result.ok) return;
      }
      throw new Error("every sms entry failed");
    },
    provider(name) {
      return (PROVIDER_NAMES as string[]).includes(name) ? provider(name as ProviderName) : undefined;
    },
  };
}

/** The channel a send asks for resolves to entries here; none means `channel_unavailable`. */
export function channelAvailable(config: Config, country: string | undefined, channel: ChannelChoice): boolean {
  return entriesFor(config.delivery.routes, country, channel).length > 0;
}

/** The channel that would carry a code first (the answer's `channel` when the send is not waited for). */
export function firstChannel(config: Config, country: string | undefined, channel: ChannelChoice): Channel {
  return entriesFor(config.delivery.routes, country, channel)[0]?.channel ?? "sms";
}

/**
 * Sends a security notice (password or phone changed). Best effort: the change already happened,
 * so a failed notice is logged, not reported to the client. Test phones never get one.
 */
export async function sendNotice(config: Config, delivery: Delivery, to: string, body: string): Promise<void> {
  if (config.TEST_PHONES.has(to)) return;
  try {
    await delivery.sendNotice(to, body);
  } catch (error) {
    console.error(`notice sms failed: ${error instanceof Error ? error.message : "unknown error"}`);
  }
}
