import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Config, loadConfig } from "../src/config";
import { compile } from "../src/db/client";
import { countryStatsSql, exactStatsSql } from "../src/fraud/guard";

// The fraud guard's country rule reads whole minutes from `country_minutes` (kept by triggers on
// `code_sends`) and only its two edge minutes row by row (src/fraud/guard.ts). Unit test of that
// SQL: over random sends, verifications and lifts, it must give exactly what counting every row
// gives, at every `now`, window, grace and lift time.

const MINUTE = 60_000;
const loaded = loadConfig(env);
if (!loaded.ok) throw new Error(loaded.problems.join("; "));
const base = loaded.config;

const run = async (statement: ReturnType<typeof sql>) => {
  const query = compile(statement);
  return env.DB.prepare(query.sql)
    .bind(...query.params)
    .all();
};

type Stats = { sends: number; verified: number; judged: number };
const statsOf = async (from: ReturnType<typeof sql>) =>
  (await run(sql`SELECT COALESCE(s.sends, 0) AS sends, COALESCE(s.verified, 0) AS verified, COALESCE(s.judged, 0) AS judged FROM ${from}`))
    .results[0] as Stats;

let serial = 0;

describe("the country rule's minute buckets", () => {
  it("give the same sends, verified and judged counts as counting every row", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          sends: fc.array(
            fc.record({ at: fc.integer({ min: 0, max: 200 * MINUTE }), verifyAfter: fc.option(fc.integer({ min: 0, max: 400_000 })) }),
            {
              maxLength: 60,
            },
          ),
          now: fc.integer({ min: 0, max: 200 * MINUTE }),
          windowSeconds: fc.constantFrom(60, 119, 600, 3600),
          graceSeconds: fc.constantFrom(1, 59, 60, 120, 90_000),
          liftAt: fc.option(fc.integer({ min: 0, max: 200 * MINUTE })),
        }),
        async (input) => {
          serial += 1;
          const country = `Q${serial}`;
          const origin = 1_900_000_000_000 - (1_900_000_000_000 % MINUTE) + 7_123;
          const now = origin + input.now;
          // Rows are written as the Worker writes them: the insert (trigger counts the send), then the verify (trigger counts it).
          for (const [i, send] of input.sends.entries()) {
            const sentAt = origin + send.at;
            if (sentAt > now) continue;
            const id = `${country}-${i}`;
            await env.DB.prepare(
              "INSERT INTO code_sends (code_id, prefix, country, channel, provider, sent_at) VALUES (?, '+0', ?, 'sms', 'console', ?)",
            )
              .bind(id, country, sentAt)
              .run();
            if (send.verifyAfter !== null && sentAt + send.verifyAfter <= now) {
              await env.DB.prepare("UPDATE code_sends SET verified_at = ? WHERE code_id = ?")
                .bind(sentAt + send.verifyAfter, id)
                .run();
            }
          }
          if (input.liftAt !== null) {
            await env.DB.prepare(
              "INSERT INTO fraud_blocks (id, scope, value, source, created_at, until, lifted_at) VALUES (?, 'country', ?, 'manual', ?, ?, ?)",
            )
              .bind(`lift-${country}`, country, origin, origin + 1, origin + input.liftAt)
              .run();
          }
          const config = { ...base, FRAUD_WINDOW_SECONDS: input.windowSeconds, FRAUD_GRACE_SECONDS: input.graceSeconds } as Config;
          const exact = await statsOf(exactStatsSql(config, "country", country, now));
          const minutes = await statsOf(countryStatsSql(config, country, now));
          expect(minutes).toEqual(exact);
        },
      ),
      { seed: 20261206, numRuns: 120 },
    );
  });

  it("reads country_minutes by key and code_sends only in two bounded ranges (the edge minutes), never the whole window", async () => {
    const query = compile(sql`SELECT * FROM ${countryStatsSql(base, "BY", 1_900_000_000_000)}`);
    const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${query.sql}`)
      .bind(...query.params)
      .all<{ detail: string }>();
    const details = plan.results.map((row) => row.detail);
    const scans = details.filter((detail) => /code_sends/.test(detail));
    expect(scans).toHaveLength(2);
    for (const scan of scans) expect(scan).toMatch(/USING COVERING INDEX code_sends_country \(country=\? AND sent_at>\? AND sent_at<\?\)/);
    expect(details.filter((detail) => /country_minutes/.test(detail)).every((detail) => /USING PRIMARY KEY|USING INDEX/.test(detail))).toBe(
      true,
    );
  });

  it("a repeated verification counts once, and a send row without a country counts nowhere", async () => {
    await env.DB.prepare(
      "INSERT INTO code_sends (code_id, prefix, country, channel, provider, sent_at) VALUES ('twice', '+0', 'QQ', 'sms', 'console', 120000), ('none', '+0', NULL, 'sms', 'console', 120000)",
    ).run();
    await env.DB.prepare("UPDATE code_sends SET verified_at = 130000 WHERE code_id IN ('twice', 'none')").run();
    await env.DB.prepare("UPDATE code_sends SET verified_at = 140000 WHERE code_id = 'twice'").run();
    const rows = await env.DB.prepare(
      "SELECT country, minute, sends, verified FROM country_minutes WHERE country = 'QQ' OR country IS NULL",
    ).all();
    expect(rows.results).toEqual([{ country: "QQ", minute: 2, sends: 1, verified: 1 }]);
  });
});
