import { base64url } from "../crypto";
import { type Failure, fail } from "../http/problem";

/** A position in a newest-first list: the last item served. */
export type Cursor = { createdAt: number; id: string };

/** Opaque keyset cursor: base64url of `<created_at>.<id>` of the last item served. */
export function encodeCursor(cursor: Cursor): string {
  return base64url(new TextEncoder().encode(`${cursor.createdAt}.${cursor.id}`));
}

/** `undefined` for a cursor this API did not issue. */
export function decodeCursor(raw: string): Cursor | undefined {
  try {
    const text = atob(raw.replace(/-/g, "+").replace(/_/g, "/"));
    const match = /^(\d{1,15})\.([0-9a-f-]{36})$/.exec(text);
    return match ? { createdAt: Number(match[1]), id: match[2] as string } : undefined;
  } catch {
    return undefined;
  }
}

/** Reads an optional `cursor` query parameter; one this API did not issue is `validation_failed`. */
export function cursorParam(raw: string | undefined): Cursor | Failure | undefined {
  if (raw === undefined) return undefined;
  const cursor = decodeCursor(raw);
  if (cursor) return cursor;
  const message = "is not a cursor this API issued";
  return fail("validation_failed", { detail: `cursor: ${message}`, errors: [{ path: "cursor", message }] });
}
