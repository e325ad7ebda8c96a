import { type SQL, sql } from "drizzle-orm";
import { batch } from "../db/client";
import { attemptsSql } from "../delivery/store";
import type { WalkOutcome } from "../delivery/walk";
import type { Deps } from "../deps";
import { type BlockScope, writeBlockEdge } from "./blocks";
import { autoBlockStatements, codeSentSql } from "./guard";
import { attemptsRollupSql, verifiedRollupSql } from "./rollups";

/** The send a delivery record belongs to. */
export type SendRecord = { codeId: string; phone: string; purpose: string; country?: string };

/**
 * Records one send's delivery after the answer, in one batch: every attempt (`delivery_attempts`),
 * the hourly counters, and for a code a provider accepted its `code_sends` row and the automatic
 * block's judgement of its prefix and country (src/fraud/guard.ts). A block it makes gets its KV
 * edge copy so the next sends to it are refused at the edge.
 */
export async function recordDelivery(deps: Deps, send: SendRecord, outcome: WalkOutcome): Promise<void> {
  const { config, now } = deps;
  const destination = { prefix: send.phone.slice(0, -4), country: send.country ?? null };
  const accepted = outcome.attempts.find((attempt) => attempt.status === "sent");
  const statements: (SQL | null)[] = [
    attemptsSql(send.codeId, send.phone, send.country, outcome.attempts),
    attemptsRollupSql(destination, now, outcome.attempts),
  ];
  if (accepted) {
    statements.push(
      codeSentSql({ ...send, ...destination, channel: accepted.channel, provider: accepted.provider, at: now }),
      // The verify came first and found no send row: count its verification here.
      verifiedRollupSql(send.codeId, sql`1`),
    );
    if (config.FRAUD_GUARD === "on") {
      statements.push(...(await autoBlockStatements(deps, "prefix", destination.prefix)));
      if (destination.country) {
        statements.push(...(await autoBlockStatements(deps, "country", destination.country)));
      }
    }
  }
  const written = statements.filter((statement): statement is SQL => statement !== null);
  if (written.length === 0) return;
  const results = await batch(deps.db, written);
  const blocks = results.flatMap((rows) => rows as { scope?: BlockScope; value?: string; until?: number }[]);
  await Promise.all(
    blocks
      .filter((row) => row.scope !== undefined && typeof row.until === "number")
      .map((row) => writeBlockEdge(deps, row.scope as BlockScope, row.value as string, row.until as number)),
  );
}
