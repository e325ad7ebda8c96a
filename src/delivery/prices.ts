import type { Channel, ProviderName } from "./types";

/** `channel:provider:country` (country `*` for the rest) → price per message (per segment for SMS). */
export type Prices = Map<string, number>;

/** Parses `DELIVERY_PRICES`: `sms:twilio:RU=0.05,sms:twilio:*=0.0079,telegram:telegram_gateway:*=0.01`. */
export function parsePrices(raw: string): Prices | string {
  const prices: Prices = new Map();
  for (const entry of raw
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)) {
    const match = /^([a-z]+):([a-z_]+):([A-Za-z]{2}|\*)=(\d+(?:\.\d+)?)$/.exec(entry);
    if (!match) return 'entries must look like "sms:twilio:RU=0.05"';
    prices.set(`${match[1]}:${match[2]}:${(match[3] as string).toUpperCase()}`, Number(match[4]));
  }
  return prices;
}

/** What one accepted attempt costs: the country's price, else `*`'s, else 0; SMS pays per segment. */
export function priceOf(prices: Prices, channel: Channel, provider: ProviderName, country: string | undefined, segments: number): number {
  const unit = prices.get(`${channel}:${provider}:${country ?? "*"}`) ?? prices.get(`${channel}:${provider}:*`) ?? 0;
  return channel === "sms" ? unit * segments : unit;
}
