import { batch } from "../db/client";
import type { SQL } from "../db/sql";
import { attemptsSql } from "../delivery/store";
import type { WalkOutcome } from "../delivery/walk";
import type { Deps } from "../deps";
import { prefixOf } from "../phone";
import { type BlockScope, writeBlockEdge } from "./blocks";
import { autoBlockStatements, codeSentSql, judgeSql } from "./guard";
import { attemptsRollupSql } from "./rollups";

/** The send a delivery record belongs to. */
export type SendRecord = { codeId: string; phone: string; purpose: string; country?: string };

/**
 * Records one send's delivery after the answer, in one batch: every attempt (`delivery_attempts`),
 * the hourly counters, and for a code a provider accepted its `code_sends` row and one read that
 * judges its prefix and country (src/fraud/guard.ts `judgeSql`). Only when a destination trips
 * does a second batch make the block (deciding again, exactly) with its audit and webhook events,
 * and write its KV edge copy so the next sends to it are refused at the edge.
 */
export async function recordDelivery(deps: Deps, send: SendRecord, outcome: WalkOutcome): Promise<void> {
  const { config, now } = deps;
  const destination = { prefix: prefixOf(send.phone), country: send.country ?? null };
  const accepted = outcome.attempts.find((attempt) => attempt.status === "sent");
  const judged = accepted !== undefined && config.FRAUD_GUARD === "on";
  const statements = [
    attemptsSql(send.codeId, send.phone, send.country, outcome.attempts),
    attemptsRollupSql(destination, now, outcome.attempts),
    // A verify that came first left no send row to mark: the row is inserted verified, and the
    // analytics count it then (trigger code_sends_verified_first_hourly, migration 0018).
    ...(accepted ? [codeSentSql({ ...send, ...destination, channel: accepted.channel, provider: accepted.provider, at: now })] : []),
    ...(judged ? [judgeSql(config, destination, now)] : []),
  ].filter((statement): statement is SQL => statement !== null);
  if (statements.length === 0) return;
  const results = await batch(deps.db, statements);
  if (!judged) return;
  const verdict = (results.at(-1) as { prefix_trips: number; country_trips: number }[])[0];
  const tripped: [BlockScope, string][] = [];
  if (verdict?.prefix_trips) tripped.push(["prefix", destination.prefix]);
  if (verdict?.country_trips && destination.country) tripped.push(["country", destination.country]);
  if (tripped.length === 0) return;
  const blocks = await batch(deps.db, (await Promise.all(tripped.map(([scope, value]) => autoBlockStatements(deps, scope, value)))).flat());
  await Promise.all(
    blocks
      .flatMap((rows) => rows as { scope?: BlockScope; value?: string; until?: number }[])
      .filter((row) => row.scope !== undefined && typeof row.until === "number")
      .map((row) => writeBlockEdge(deps, row.scope as BlockScope, row.value as string, row.until as number)),
  );
}
