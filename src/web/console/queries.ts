import { asAdmin } from "../../admin/service";
import { sql } from "../../db/sql";
import type { Deps } from "../../deps";
import { inForceSql, longestBlockMs } from "../../fraud/blocks";
import type { Failure } from "../../http/problem";
import type { AccessClaims } from "../../tokens/jwt";

// The overview's numbers that the analytics rollups do not hold, in one admin-checked batch:
// sign-ins by kind from the audit trail (index audit_events_type_idx: type, created_at) and the
// fraud blocks in force during the period.

const BLOCK_ROWS = 2000;

export type SignIns = { passkey: number; code: number };
export type BlockSpan = { from: number; to: number };

/**
 * Sign-ins over `[from, to]` by kind (a passkey needs no SMS; code sign-ins are `code_verified`
 * of purpose `login`), the blocks that were in force at some point of it, and the active ones now.
 */
export async function overviewFacts(
  deps: Deps,
  claims: AccessClaims,
  period: { from: number; to: number },
): Promise<{ signIns: SignIns; blocks: BlockSpan[]; activeBlocks: number } | Failure> {
  const { from, to } = period;
  const longest = longestBlockMs(deps.config);
  const results = await asAdmin(deps, claims, [
    sql`SELECT type, count(*) AS n FROM audit_events
      WHERE type IN ('passkey_login', 'code_verified') AND created_at >= ${from} AND created_at <= ${to}
        AND (type <> 'code_verified' OR json_extract(detail, '$.purpose') = 'login')
      GROUP BY type`,
    sql`SELECT created_at, COALESCE(MIN(lifted_at, until), until) AS ended FROM fraud_blocks
      WHERE created_at >= ${from - longest} AND created_at <= ${to} AND COALESCE(MIN(lifted_at, until), until) > ${from}
      ORDER BY created_at DESC LIMIT ${BLOCK_ROWS}`,
    sql`SELECT count(*) AS n FROM fraud_blocks WHERE ${inForceSql(deps)}`,
  ]);
  if ("error" in results) return results;
  const [kinds, spans, active] = results as [{ type: string; n: number }[], { created_at: number; ended: number }[], { n: number }[]];
  const count = (type: string) => kinds.find((row) => row.type === type)?.n ?? 0;
  return {
    signIns: { passkey: count("passkey_login"), code: count("code_verified") },
    blocks: spans.map((row) => ({ from: row.created_at, to: row.ended })),
    activeBlocks: active[0]?.n ?? 0,
  };
}
