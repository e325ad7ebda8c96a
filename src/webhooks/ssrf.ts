import type { Config } from "../config";
import { DependencyError } from "../storage/guard";

// In production an endpoint must be https and its host may not be, or resolve to, a private,
// loopback, link-local or otherwise non-public address (spec: Webhooks). Workers have no DNS API,
// so the host is resolved with DNS over HTTPS (WEBHOOK_DNS_RESOLVER, the JSON API).

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function privateIpv4(address: string): boolean {
  const match = IPV4.exec(address);
  if (!match) return false;
  const [a, b] = [Number(match[1]), Number(match[2])];
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0 && Number(match[3]) === 0) ||
    (a === 198 && (b === 18 || b === 19))
  );
}

/** The eight 16-bit groups of an IPv6 literal (a trailing dotted IPv4 part included), or null. */
function ipv6Groups(address: string): number[] | null {
  let ip = address.toLowerCase().replace(/^\[|\]$/g, "");
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (dotted) {
    const parts = (dotted[1] as string).split(".").map(Number);
    if (parts.some((part) => part > 255)) return null;
    const [a = 0, b = 0, c = 0, d = 0] = parts;
    ip = `${ip.slice(0, -(dotted[1] as string).length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = ip.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  if (missing < 0) return null;
  const groups = [...left, ...Array(missing).fill("0"), ...right].map((group) => Number.parseInt(group, 16));
  return groups.length === 8 && groups.every((group) => group >= 0 && group <= 0xffff) ? groups : null;
}

const v4Of = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;

function privateIpv6(address: string): boolean {
  const groups = ipv6Groups(address);
  if (!groups) return true; // not an address we can reason about: refuse
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  const zeroTo = (n: number) => groups.slice(0, n).every((group) => group === 0);
  if (zeroTo(8) || (zeroTo(7) && g7 === 1)) return true; // :: and ::1
  // IPv4 inside IPv6: mapped (::ffff:0:0/96), compatible (::/96), NAT64 (64:ff9b::/96), 6to4 (2002::/16).
  if (zeroTo(5) && (g5 === 0xffff || g5 === 0)) return privateIpv4(v4Of(g6, g7));
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return privateIpv4(v4Of(g6, g7));
  if (g0 === 0x2002) return privateIpv4(v4Of(g1, g2));
  return (g0 & 0xfe00) === 0xfc00 || (g0 & 0xffc0) === 0xfe80 || (g0 & 0xff00) === 0xff00;
}

/** Whether an IP literal is not a public unicast address. */
export function isPrivateAddress(address: string): boolean {
  return IPV4.test(address) ? privateIpv4(address) : address.includes(":") ? privateIpv6(address) : false;
}

type DnsAnswer = { Status?: number; Answer?: { type: number; data: string }[] };

async function resolve(config: Config, host: string, type: "A" | "AAAA", fetcher: typeof fetch): Promise<string[]> {
  const url = `${config.WEBHOOK_DNS_RESOLVER}?name=${encodeURIComponent(host)}&type=${type}`;
  let answer: DnsAnswer;
  try {
    const response = await fetcher(url, {
      headers: { Accept: "application/dns-json" },
      signal: AbortSignal.timeout(config.WEBHOOK_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`resolver answered ${response.status}`);
    answer = (await response.json()) as DnsAnswer;
  } catch (error) {
    throw new DependencyError("dns", error instanceof Error ? error.message : "resolver failed");
  }
  const wanted = type === "A" ? 1 : 28;
  return (answer.Answer ?? []).filter((record) => record.type === wanted).map((record) => record.data);
}

/** Why an endpoint URL is refused (a sentence for `errors[].message`), or null when it may be used. */
export async function refuseEndpointUrl(config: Config, raw: string, fetcher: typeof fetch): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "is not a URL";
  }
  if (url.username || url.password) return "may not carry credentials";
  if (config.sandbox) return url.protocol === "https:" || url.protocol === "http:" ? null : "must be http(s)";
  if (url.protocol !== "https:") return "must be https";
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || /\.(localhost|local|internal|home\.arpa)$/.test(host)) return "must be a public host";
  if (IPV4.test(host) || host.includes(":")) return isPrivateAddress(host) ? "must not be a private, loopback or link-local address" : null;
  const addresses = [...(await resolve(config, host, "A", fetcher)), ...(await resolve(config, host, "AAAA", fetcher))];
  if (addresses.length === 0) return "does not resolve";
  if (addresses.some(isPrivateAddress)) return "resolves to a private, loopback or link-local address";
  return null;
}
