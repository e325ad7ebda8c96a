import { Name, SQL, type SQLChunk, StringChunk } from "drizzle-orm";

export type { SQL } from "drizzle-orm";

/**
 * Drizzle's `sql` template tag, made for statements built on every request. It makes the same
 * Drizzle `SQL` objects (our `compile`, Drizzle's own compiler and drizzle-kit read them alike),
 * with two costs left out: Drizzle's tag wraps each text piece in a new chunk on every call and its
 * `SQL` constructor tests every chunk against Drizzle's Table class (to track the tables a query
 * builder uses, which plain templates never carry). Here a call site's text chunks are made once
 * (a template's strings array is the same object on every call, so its layout is compacted
 * once too) and nothing is tested: on a sign-in flow's few dozen templates that was 4.5 % of the
 * Worker's CPU samples (BENCH_PROFILE), against 1 % now.
 */
class Template extends SQL {
  constructor(chunks: SQLChunk[]) {
    super([]);
    (this as { queryChunks: SQLChunk[] }).queryChunks = chunks;
  }
}

const textChunks = new WeakMap<TemplateStringsArray, StringChunk[]>();

/**
 * A text piece with its line breaks and indentation made one space, outside quoted literals: every
 * statement goes over the D1 binding as JSON, and our templates' layout was 5 % of a sign-in flow's
 * SQL (3.63 → 3.45 KB a request, BENCH_OPS_ONLY). A piece with a `--` comment or an unclosed
 * quote is kept as written.
 */
export function compactSql(text: string): string {
  const parts = text.split("'");
  if (text.includes("--") || parts.length % 2 === 0) return text;
  return parts.map((part, i) => (i % 2 === 0 ? part.replace(/\s*\n\s*/g, " ") : part)).join("'");
}

function chunksOf(strings: TemplateStringsArray): StringChunk[] {
  let chunks = textChunks.get(strings);
  if (!chunks) {
    // A `--` comment anywhere keeps the whole template as written: it may run on past an interpolation.
    const commented = strings.some((text) => text.includes("--"));
    chunks = strings.map((text) => new StringChunk(commented ? text : compactSql(text)));
    textChunks.set(strings, chunks);
  }
  return chunks;
}

function template(strings: TemplateStringsArray, ...params: unknown[]): SQL {
  const text = chunksOf(strings);
  const chunks: SQLChunk[] = [text[0]];
  for (let i = 0; i < params.length; i++) chunks.push(params[i] as SQLChunk, text[i + 1]);
  return new Template(chunks);
}

/** `sql\`…\``, `sql.join`, `sql.raw` and `sql.identifier`, as Drizzle's. */
export const sql = Object.assign(template, {
  join(chunks: SQLChunk[], separator?: SQLChunk): SQL {
    const joined: SQLChunk[] = [];
    for (let i = 0; i < chunks.length; i++) {
      if (i > 0 && separator !== undefined) joined.push(separator);
      joined.push(chunks[i]);
    }
    return new Template(joined);
  },
  raw(text: string): SQL {
    return new Template([new StringChunk(text)]);
  },
  identifier(name: string): Name {
    return new Name(name);
  },
});
