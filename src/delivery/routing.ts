import { type Channel, type ChannelChoice, PROVIDER_CHANNELS, type ProviderName } from "./types";

/** One step of a route: a channel and the provider that carries it. */
export type RouteEntry = { channel: Channel; provider: ProviderName };
/** Country (ISO alpha-2, or `*` for the rest) → ordered entries. */
export type Routes = Map<string, RouteEntry[]>;

/**
 * Parses `DELIVERY_ROUTES`: `IR:telegram:telegram_gateway,sms:kavenegar;RU:sms:smsru;*:sms:twilio`.
 * Returns the problem (never the value) when an entry is malformed or pairs a provider with a
 * channel it cannot carry.
 */
export function parseRoutes(raw: string): Routes | string {
  const routes: Routes = new Map();
  for (const group of raw
    .split(";")
    .map((part) => part.trim())
    .filter(Boolean)) {
    const country = group.slice(0, group.indexOf(":")).trim().toUpperCase();
    if (!/^([A-Z]{2}|\*)$/.test(country)) return 'groups must start with a country ("RU:" or "*:")';
    const entries: RouteEntry[] = [];
    for (const pair of group
      .slice(group.indexOf(":") + 1)
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean)) {
      const [channel, provider] = pair.split(":").map((part) => part.trim());
      const carries = (PROVIDER_CHANNELS as Record<string, readonly string[]>)[provider ?? ""];
      if (!carries?.includes(channel ?? "")) return `entry "${channel}:${provider}" is not a channel:provider pair the contract names`;
      entries.push({ channel: channel as Channel, provider: provider as ProviderName });
    }
    if (entries.length === 0) return `the group for ${country} lists no entries`;
    routes.set(country, entries);
  }
  return routes;
}

/** The route when DELIVERY_ROUTES is unset: SMS_PROVIDER everywhere; in development console stands in for every channel. */
export function defaultRoutes(smsProvider: ProviderName | undefined, sandbox: boolean): Routes {
  const sms: RouteEntry = { channel: "sms", provider: smsProvider ?? "console" };
  if (!sandbox) return new Map([["*", [sms]]]);
  const others = (["whatsapp", "telegram", "voice"] as const).map((channel): RouteEntry => ({ channel, provider: "console" }));
  return new Map([["*", [sms, ...others]]]);
}

/**
 * The entries a send walks: the country's list (else `*`'s); `auto` walks all of it, a named
 * channel only its own entries. Empty means the channel is unavailable for this number.
 */
export function entriesFor(routes: Routes, country: string | undefined, channel: ChannelChoice): RouteEntry[] {
  const list = (country ? routes.get(country) : undefined) ?? routes.get("*") ?? [];
  return channel === "auto" ? list : list.filter((entry) => entry.channel === channel);
}

/** Channels some route can use in this country, in route order (the web page's "send by …" offers). */
export function channelsFor(routes: Routes, country: string | undefined): Channel[] {
  return [...new Set(entriesFor(routes, country, "auto").map((entry) => entry.channel))];
}

/** Every provider some route names (config checks their credentials). */
export function providersIn(routes: Routes): Set<ProviderName> {
  return new Set([...routes.values()].flat().map((entry) => entry.provider));
}
