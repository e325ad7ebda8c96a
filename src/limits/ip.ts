import type { Context } from "hono";
import { batch } from "../db/client";
import { sql } from "../db/sql";
import type { Deps } from "../deps";
import type { AppEnv } from "../http/context";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import type { Failure } from "../http/problem";
import { type EdgeMark, edgeIpKey, edgeRefuses, markEdge, readEdge } from "./edge";
import { countedSql, countSql, type Limit, passkeyIpLimit, rateLimitHeaders, stateColumnsSql, windowRefusal, windowState } from "./sliding";

/** A refusal by a per-IP window, with its `RateLimit-*` headers (0 left, reset = Retry-After). */
export function ipRefusal(limit: number, reset: number, code: "rate_limited" | "too_many_attempts" = "rate_limited"): Failure {
  return windowRefusal(code, "Too many requests from this network. Try again later.", limit, reset);
}

/**
 * Counts one request against a per-IP `limit` on its own (1 KV read, then 1 D1 round trip), for
 * the few doors that spend a window without going through a gate that counts it in its own batch.
 * Returns the `RateLimit-*` headers, or the refusal.
 */
export async function spendIpWindow(deps: Deps, limit: Limit, mark: EdgeMark): Promise<Record<string, string> | Failure> {
  const { db, kv, now, request } = deps;
  const edge = await readEdge(kv, request.ip, null);
  const refused = edgeRefuses(edge.ip, mark, now);
  if (refused) return ipRefusal(refused.limit, refused.wait);
  const marker = crypto.randomUUID();
  const [, rows] = await batch<[unknown[], Record<string, unknown>[]]>(db, [
    countSql(limit, marker, now),
    sql`SELECT ${countedSql(limit, marker, now)} AS counted, ${stateColumnsSql(limit, now, "ip")}`,
  ]);
  const state = rows[0] ?? {};
  const window = windowState(limit, state, "ip", now);
  if (window.full) markEdge(deps, edgeIpKey(request.ip), edge.ip, mark, { until: window.freeAt, limit: window.limit });
  return state.counted ? rateLimitHeaders(window) : ipRefusal(window.limit, window.reset);
}

/** The per-IP passkey window for a request (API or page): sets its `RateLimit-*` headers, throws a 429 when full. */
export async function limitPasskeyIp(c: Context<AppEnv>): Promise<void> {
  const services = deps(c);
  const headers = orThrow(await spendIpWindow(services, passkeyIpLimit(services.config, services.request.ip), "passkey_ip"));
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
}
