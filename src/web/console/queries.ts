import { sql } from "drizzle-orm";
import { asAdmin } from "../../admin/service";
import type { Deps } from "../../deps";
import type { Block, BlockScope } from "../../fraud/blocks";
import type { Failure } from "../../http/problem";
import type { AccessClaims } from "../../tokens/jwt";

// The overview's numbers that the analytics rollups do not hold, in one admin-checked batch:
// sign-ins by kind from the audit trail (index audit_events_type_idx: type, created_at) and the
// fraud blocks in force during the period.

/** The longest a manual block can last (the API's and the form's bound): how far back a block in force can have begun. */
const LONGEST_BLOCK_MS = 2_592_000_000;
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
  const longest = Math.max(LONGEST_BLOCK_MS, deps.config.FRAUD_BLOCK_SECONDS * 1000);
  const results = await asAdmin(deps, claims, [
    sql`SELECT type, count(*) AS n FROM audit_events
      WHERE type IN ('passkey_login', 'code_verified') AND created_at >= ${from} AND created_at <= ${to}
        AND (type <> 'code_verified' OR json_extract(detail, '$.purpose') = 'login')
      GROUP BY type`,
    sql`SELECT created_at, COALESCE(MIN(lifted_at, until), until) AS ended FROM fraud_blocks
      WHERE created_at >= ${from - longest} AND created_at <= ${to} AND COALESCE(MIN(lifted_at, until), until) > ${from}
      ORDER BY created_at DESC LIMIT ${BLOCK_ROWS}`,
    sql`SELECT count(*) AS n FROM fraud_blocks WHERE created_at >= ${deps.now - longest} AND lifted_at IS NULL AND until > ${deps.now}`,
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

/** The most active blocks `/admin/blocks` lists with their lift buttons (its count stays exact beyond it). */
const ACTIVE_ROWS = 1000;

type ActiveRow = {
  id: string;
  scope: BlockScope;
  value: string;
  reason: string | null;
  source: string;
  created_at: number;
  until: number;
  sends: number | null;
  judged: number | null;
  verified: number | null;
};

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The blocks in force now, latest end first, for `/admin/blocks` (its paged list of recent blocks
 * would lose an active one behind newer blocks): one admin-checked batch, shaped as `listBlocks`
 * shapes a block, with the exact count beside at most ACTIVE_ROWS of them. A block in force began
 * at most the longest block ago (index fraud_blocks_created).
 */
export async function activeBlocks(deps: Deps, claims: AccessClaims): Promise<{ items: Block[]; count: number } | Failure> {
  const { now } = deps;
  const since = now - Math.max(LONGEST_BLOCK_MS, deps.config.FRAUD_BLOCK_SECONDS * 1000);
  const inForce = sql`created_at >= ${since} AND lifted_at IS NULL AND until > ${now}`;
  const results = await asAdmin(deps, claims, [
    sql`SELECT id, scope, value, reason, source, created_at, until, sends, judged, verified FROM fraud_blocks
      WHERE ${inForce} ORDER BY until DESC, id DESC LIMIT ${ACTIVE_ROWS}`,
    sql`SELECT count(*) AS n FROM fraud_blocks WHERE ${inForce}`,
  ]);
  if ("error" in results) return results;
  const [rows, counted] = results as [ActiveRow[], { n: number }[]];
  const items = rows.map(
    (row): Block => ({
      id: row.id,
      scope: row.scope,
      value: row.value,
      reason: row.reason,
      source: row.source,
      created_at: iso(row.created_at),
      until: iso(row.until),
      lifted_at: null,
      active: true,
      tripped: row.sends == null ? null : { sends: row.sends, judged: row.judged ?? 0, verified: row.verified ?? 0 },
    }),
  );
  return { items, count: counted[0]?.n ?? items.length };
}
