import { type SQL, sql } from "../db/sql";
import { prefixOf } from "../phone";
import type { Receipt } from "./types";
import type { AttemptRecord } from "./walk";

/**
 * One statement recording every attempt of one send (rows keyed by code id and attempt number).
 * The phone is not stored: its country and prefix (E.164 without the last 4 digits) are enough
 * for the analytics, and a receipt finds its row by the provider's message id.
 */
export function attemptsSql(codeId: string, phone: string, country: string | undefined, attempts: AttemptRecord[]): SQL | null {
  if (attempts.length === 0) return null;
  const prefix = prefixOf(phone);
  const rows = attempts.map(
    (a) => sql`(${codeId}, ${a.attempt}, ${a.channel}, ${a.provider}, ${country ?? null}, ${prefix}, ${a.status},
      ${a.messageId}, ${a.errorCode}, ${a.segments}, ${a.cost}, ${a.startedAt}, ${a.endedAt})`,
  );
  return sql`INSERT INTO delivery_attempts (code_id, attempt, channel, provider, country, prefix, status,
      provider_message_id, error_code, segments, cost, created_at, updated_at)
    VALUES ${sql.join(rows, sql`, `)}
    ON CONFLICT (code_id, attempt) DO NOTHING`;
}

/**
 * SQL condition on a `delivery_attempts` row: `receipt` is for it and may change it. Receipts may
 * arrive out of order, so `sent` never overwrites a later status and `delivered` is final.
 */
export function receiptTakesSql(provider: string, receipt: Receipt): SQL {
  return sql`provider = ${provider} AND provider_message_id = ${receipt.messageId}
    AND status <> 'delivered' AND (${receipt.status} <> 'sent' OR status = 'sent')`;
}

/** A receipt: one statement updating the attempt the provider's message id names (`receiptTakesSql`). */
export function receiptSql(provider: string, receipt: Receipt, now: number): SQL {
  return sql`UPDATE delivery_attempts SET status = ${receipt.status}, error_code = COALESCE(${receipt.errorCode}, error_code),
      updated_at = ${now}
    WHERE ${receiptTakesSql(provider, receipt)}`;
}
