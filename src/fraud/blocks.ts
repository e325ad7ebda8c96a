import { asAdmin, callerIsAdmin } from "../admin/service";
import { eventSql } from "../audit/events";
import { randomToken } from "../crypto";
import { all, type Db } from "../db/client";
import type { Cursor } from "../db/cursor";
import { encodeCursor } from "../db/cursor";
import { type SQL, sql } from "../db/sql";
import type { Deps } from "../deps";
import { type Failure, fail } from "../http/problem";
import { markOn, ttlUntil } from "../limits/edge";
import { type Phone, prefixOf } from "../phone";
import type { Kv } from "../storage/guard";
import type { AccessClaims } from "../tokens/jwt";
import { webhookSql } from "../webhooks/outbox";

// Blocks of a destination (spec: Fraud guard and analytics): a number prefix (E.164 without its
// last 4 digits) or a country. The send path reads the edge copy in KV with its other edge keys
// (no extra call) and confirms in D1 only when KV says "blocked", so an unblocked destination costs
// nothing and a stale mark (a lift not replicated yet) costs one read, never a wrong refusal.
// Blocks and lifts are one batch each with their audit and webhook events.

export type BlockScope = "prefix" | "country";

/** The longest reason a block may carry (API, console form). */
export const REASON_MAX = 200;

/** What a block may name, as the admin API and the console's form check it: a prefix (`+` and 4–14 digits) or an ISO country. */
export const PREFIX_PATTERN = /^\+[1-9]\d{3,13}$/;
export const COUNTRY_PATTERN = /^[A-Za-z]{2}$/;
/** A block's length in seconds: at least a minute, at most 30 days. */
export const BLOCK_SECONDS = { min: 60, max: 2_592_000 } as const;

/** The fewest digits a blocked prefix has (`+` and 4 digits, as the admin API takes them). */
const SHORTEST_PREFIX_DIGITS = 4;

/**
 * Every prefix a block can name that covers `phone`: from `+` and 4 digits up to the number without
 * its last 4 digits (the automatic guard's prefix). An admin may block a wider range (`+88213`).
 */
export function prefixesOf(phone: Phone): string[] {
  const widest = prefixOf(phone.e164);
  const prefixes: string[] = [];
  for (let digits = SHORTEST_PREFIX_DIGITS; digits <= widest.length - 1; digits++) prefixes.push(widest.slice(0, digits + 1));
  return prefixes;
}

/** The KV edge copy of a destination's block: `{ "until": ms }`. */
const BLOCK_KEY_PREFIX = "fraud:block:";
export const blockKey = (scope: BlockScope, value: string) => `${BLOCK_KEY_PREFIX}${scope}:${value}`;

/** The KV keys a send to `phone` reads (in its one bulk get) to know whether a block may cover it. */
export const blockKeysOf = (phone: Phone) => [
  ...prefixesOf(phone).map((prefix) => blockKey("prefix", prefix)),
  blockKey("country", phone.country),
];

type Mark = { until?: unknown } | null;

/**
 * Whether a send to `phone` is refused by a block: `marks` are the KV values of `blockKeysOf(phone)`
 * (read with the send's edge keys). Only when one says "blocked" is D1 asked.
 */
export async function refusedDestination(deps: Deps, phone: Phone, marks: Mark[]): Promise<Failure | null> {
  const { now } = deps;
  if (!marks.some((mark) => markOn(mark, now))) return null;
  const prefixes = sql.join(
    prefixesOf(phone).map((prefix) => sql`${prefix}`),
    sql`, `,
  );
  const [row] = await all<{ until: number | null }>(
    deps.db,
    sql`SELECT MAX(until) AS until FROM fraud_blocks
      WHERE ((scope = 'prefix' AND value IN (${prefixes})) OR (scope = 'country' AND value = ${phone.country}))
        AND ${liveBlockSql(now)}`,
  );
  if (row?.until == null) return null;
  return fail("destination_blocked", {
    detail: "Codes cannot be sent to this number's range right now.",
    retry_after: Math.max(1, Math.ceil((row.until - now) / 1000)),
  });
}

type BlockRow = {
  id: string;
  scope: BlockScope;
  value: string;
  reason: string | null;
  source: string;
  created_by: string | null;
  created_at: number;
  until: number;
  lifted_at: number | null;
  sends: number | null;
  judged: number | null;
  verified: number | null;
};

const iso = (ms: number) => new Date(ms).toISOString();

function blockOut(row: BlockRow, now: number) {
  return {
    id: row.id,
    scope: row.scope,
    value: row.value,
    reason: row.reason,
    source: row.source,
    created_at: iso(row.created_at),
    until: iso(row.until),
    lifted_at: row.lifted_at == null ? null : iso(row.lifted_at),
    active: row.lifted_at == null && row.until > now,
    // What tripped an automatic block: codes sent in the window, those judged, those verified.
    tripped: row.sends == null ? null : { sends: row.sends, judged: row.judged ?? 0, verified: row.verified ?? 0 },
  };
}

export type Block = ReturnType<typeof blockOut>;

const blockColumns = sql`id, scope, value, reason, source, created_by, created_at, until, lifted_at, sends, judged, verified`;

/**
 * Writes (or clears) a destination's KV edge copy: the latest active block's end, in the value
 * (what a send reads) and in the key's metadata (what the cron's list reads). A failure only loses
 * the shortcut.
 */
export function writeBlockEdge(deps: { kv: Kv; now: number }, scope: BlockScope, value: string, until: number | null): Promise<void> {
  const key = blockKey(scope, value);
  const write =
    until != null && until > deps.now
      ? deps.kv.put(key, JSON.stringify({ until }), { expirationTtl: ttlUntil(until, deps.now), metadata: { until } })
      : deps.kv.delete(key);
  return write.catch((error) => console.warn(`block edge copy skipped: ${error instanceof Error ? error.message : "unknown"}`));
}

// KV lists at most 1,000 keys a call; more pages than this and the cron rewrites without looking.
const LIST_PAGES = 5;

/** The edge copies KV holds now, key → the `until` in their metadata (null when unreadable); null when listing fails or overflows. */
async function listedBlockEdges(kv: Kv): Promise<Map<string, number | null> | null> {
  const listed = new Map<string, number | null>();
  let cursor: string | undefined;
  for (let page = 0; page < LIST_PAGES; page++) {
    const result = await kv.list<{ until?: unknown }>({ prefix: BLOCK_KEY_PREFIX, cursor }).catch((error) => {
      console.warn(`block edge copies not listed: ${error instanceof Error ? error.message : "unknown"}`);
      return null;
    });
    if (!result) return null;
    for (const key of result.keys) listed.set(key.name, typeof key.metadata?.until === "number" ? key.metadata.until : null);
    if (result.list_complete) return listed;
    cursor = result.cursor;
  }
  return null;
}

/**
 * The cron's repair of the edge copies (every 5 minutes, with the webhook sweep): a send asks D1
 * only when KV says "blocked", so a KV write lost after a block was made would leave it unenforced.
 * KV is listed first (up to LIST_PAGES calls; each copy carries its block's end as metadata), then
 * D1 read: a copy listed was written after its block committed, so the read sees that block. A
 * copy that is missing or names another end is written back; when the list and the read (at most
 * `limit` destinations) were complete, a copy that no block in force backs (its lift's delete was
 * lost) is deleted, after D1 confirms it for those keys alone. A failed or overflowing list
 * rewrites every active copy and deletes nothing.
 */
export async function refreshBlockEdges(
  db: Db,
  kv: Kv,
  at: Pick<Deps, "config" | "now">,
  limit = 500,
): Promise<{ written: number; deleted: number }> {
  const { now } = at;
  const listed = await listedBlockEdges(kv);
  const active = await all<{ scope: BlockScope; value: string; until: number }>(
    db,
    sql`SELECT scope, value, MAX(until) AS until FROM fraud_blocks WHERE ${inForceSql(at)}
      GROUP BY scope, value ORDER BY MAX(created_at) DESC LIMIT ${limit}`,
  );
  const backed = new Set(active.map((block) => blockKey(block.scope, block.value)));
  const stale = active.filter((block) => listed?.get(blockKey(block.scope, block.value)) !== block.until);
  const unbacked =
    listed && active.length < limit
      ? await unbackedCopies(
          db,
          [...listed.keys()].filter((key) => !backed.has(key)),
          now,
        )
      : [];
  await Promise.all([
    ...stale.map((block) => writeBlockEdge({ kv, now }, block.scope, block.value, block.until)),
    ...unbacked.map((key) =>
      kv.delete(key).catch((error) => console.warn(`block edge copy not cleared: ${error instanceof Error ? error.message : "unknown"}`)),
    ),
  ]);
  return { written: stale.length, deleted: unbacked.length };
}

/**
 * Of the copies `keys` that the active read did not name, those no block in force backs, by one
 * look at exactly their destinations (the active read is bounded by the longest block length
 * configured now, which a block made under a longer one outlives).
 */
async function unbackedCopies(db: Db, keys: string[], now: number): Promise<string[]> {
  if (keys.length === 0) return [];
  const destinations = keys.map((key) => key.slice(BLOCK_KEY_PREFIX.length).split(":"));
  const backed = await all<{ scope: string; value: string }>(
    db,
    sql`SELECT json_extract(d.value, '$[0]') AS scope, json_extract(d.value, '$[1]') AS value FROM json_each(${JSON.stringify(destinations)}) d
      WHERE EXISTS (SELECT 1 FROM fraud_blocks b WHERE b.scope = json_extract(d.value, '$[0]') AND b.value = json_extract(d.value, '$[1]')
        AND ${liveBlockSql(now)})`,
  );
  const inForce = new Set(backed.map((row) => `${BLOCK_KEY_PREFIX}${row.scope}:${row.value}`));
  return keys.filter((key) => !inForce.has(key));
}

/** `writeBlockEdge` after the answer. */
function refreshEdge(deps: Deps, scope: BlockScope, value: string, until: number | null) {
  deps.request.defer(writeBlockEdge(deps, scope, value, until));
}

/** The latest end of the blocks in force of a destination (values, or columns of an outer `fraud_blocks` row). */
const activeUntilSql = (scope: BlockScope | SQL, value: string | SQL, now: number) =>
  sql`SELECT MAX(until) AS until FROM fraud_blocks WHERE scope = ${scope} AND value = ${value} AND ${liveBlockSql(now)}`;

/** `POST /v1/admin/fraud/blocks`: a manual block of a prefix or a country. */
export async function blockDestination(
  deps: Deps,
  claims: AccessClaims,
  input: { scope: BlockScope; value: string; seconds?: number; reason?: string },
): Promise<Block | Failure> {
  const { now } = deps;
  const id = crypto.randomUUID();
  const until = now + (input.seconds ?? deps.config.FRAUD_BLOCK_SECONDS) * 1000;
  const made = sql`EXISTS (SELECT 1 FROM fraud_blocks WHERE id = ${id})`;
  const results = await asAdmin(deps, claims, [
    sql`INSERT INTO fraud_blocks (id, scope, value, reason, source, created_by, created_at, until)
      SELECT ${id}, ${input.scope}, ${input.value}, ${input.reason ?? null}, 'manual', ${claims.sub}, ${now}, ${until}
      WHERE ${callerIsAdmin(deps, claims)}`,
    await eventSql(
      deps,
      { type: "destination_blocked", userId: claims.sub, detail: { by: claims.sub, block_id: id, scope: input.scope, value: input.value } },
      made,
    ),
    webhookSql({
      type: "destination.blocked",
      data: { block_id: id, scope: input.scope, value: input.value, until: iso(until), reason: input.reason ?? null, source: "manual" },
      now,
      when: made,
    }),
    sql`SELECT ${blockColumns} FROM fraud_blocks WHERE id = ${id}`,
    activeUntilSql(input.scope, input.value, now),
  ]);
  if ("error" in results) return results;
  const row = (results.at(-2) as BlockRow[])[0] as BlockRow;
  refreshEdge(deps, input.scope, input.value, (results.at(-1) as { until: number | null }[])[0]?.until ?? null);
  return blockOut(row, now);
}

/** `DELETE /v1/admin/fraud/blocks/{id}`: lifts an active block. */
export async function liftBlock(deps: Deps, claims: AccessClaims, id: string): Promise<"lifted" | Failure> {
  const { now } = deps;
  // Only the request whose UPDATE lifted the block records it (two lifts in one millisecond: one event).
  const marker = randomToken();
  const lifted = sql`EXISTS (SELECT 1 FROM fraud_blocks WHERE id = ${id} AND lift_marker = ${marker})`;
  const target = sql`(SELECT scope FROM fraud_blocks WHERE id = ${id})`;
  const results = await asAdmin(deps, claims, [
    sql`UPDATE fraud_blocks SET lifted_at = ${now}, lifted_by = ${claims.sub}, lift_marker = ${marker}
      WHERE id = ${id} AND ${liveBlockSql(now)} AND ${callerIsAdmin(deps, claims)}`,
    await eventSql(
      deps,
      { type: "destination_unblocked", userId: claims.sub, detail: { by: claims.sub, block_id: id, scope: target } },
      lifted,
    ),
    webhookSql({
      type: "destination.unblocked",
      data: { block_id: id, scope: target, value: sql`(SELECT value FROM fraud_blocks WHERE id = ${id})`, by: claims.sub },
      now,
      when: lifted,
    }),
    sql`SELECT b.scope, b.value, b.lift_marker IS ${marker} AS lifted,
        (${activeUntilSql(sql`b.scope`, sql`b.value`, now)}) AS until
      FROM fraud_blocks b WHERE b.id = ${id}`,
  ]);
  if ("error" in results) return results;
  const row = (results.at(-1) as { scope: BlockScope; value: string; lifted: number; until: number | null }[])[0];
  if (!row?.lifted) return fail("not_found", { detail: "No such active block." });
  refreshEdge(deps, row.scope, row.value, row.until);
  return "lifted";
}

/** The most blocks in force `listActiveBlocks` lists (its count stays exact beyond it). */
const ACTIVE_ROWS = 1000;

/** How far back a block can have begun and still be in force: the longest block. */
export const longestBlockMs = (config: Deps["config"]) => Math.max(BLOCK_SECONDS.max, config.FRAUD_BLOCK_SECONDS) * 1000;

/** SQL condition on a `fraud_blocks` row (its columns unqualified: the innermost `fraud_blocks`): in force at `now`. */
export const liveBlockSql = (now: number) => sql`lifted_at IS NULL AND until > ${now}`;

/** `liveBlockSql`, bounded by index fraud_blocks_created: a block in force began at most the longest block ago. */
export const inForceSql = (deps: Pick<Deps, "config" | "now">) =>
  sql`created_at >= ${deps.now - longestBlockMs(deps.config)} AND ${liveBlockSql(deps.now)}`;

/**
 * The blocks in force now, latest end first (the console's lift buttons: the paged list of recent
 * blocks would push an active one behind newer ones), with their exact count. A block in force
 * began at most the longest block ago (index fraud_blocks_created).
 */
export async function listActiveBlocks(deps: Deps, claims: AccessClaims): Promise<{ items: Block[]; count: number } | Failure> {
  const { now } = deps;
  const inForce = inForceSql(deps);
  const results = await asAdmin(deps, claims, [
    sql`SELECT ${blockColumns} FROM fraud_blocks WHERE ${inForce} ORDER BY until DESC, id DESC LIMIT ${ACTIVE_ROWS}`,
    sql`SELECT count(*) AS n FROM fraud_blocks WHERE ${inForce}`,
  ]);
  if ("error" in results) return results;
  const [rows, counted] = results as [BlockRow[], { n: number }[]];
  return { items: rows.map((row) => blockOut(row, now)), count: counted[0]?.n ?? rows.length };
}

/** `GET /v1/admin/fraud/blocks`: active and recent blocks, newest first. */
export async function listBlocks(deps: Deps, claims: AccessClaims, query: { limit: number; cursor?: Cursor }) {
  const after = query.cursor
    ? sql`WHERE created_at < ${query.cursor.createdAt} OR (created_at = ${query.cursor.createdAt} AND id < ${query.cursor.id})`
    : sql``;
  const results = await asAdmin(deps, claims, [
    sql`SELECT ${blockColumns} FROM fraud_blocks ${after} ORDER BY created_at DESC, id DESC LIMIT ${query.limit + 1}`,
  ]);
  if ("error" in results) return results;
  const rows = results[0] as BlockRow[];
  const items = rows.slice(0, query.limit);
  const last = items.at(-1);
  return {
    items: items.map((row) => blockOut(row, deps.now)),
    next_cursor: rows.length > query.limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null,
  };
}
