import { describe, expect, it } from "vitest";
import type { AnalyticsItem } from "../src/fraud/analytics";
import { blockTarget } from "../src/web/console/blocks";
import { overviewOf } from "../src/web/console/overview";
import { periodOf } from "../src/web/console/period";
import { niceMax } from "../src/web/views/console/charts";

// The operator console's pure pieces: what the pages' HTTP tests (test/console.test.ts) and the
// Chromium suite see only through rendered numbers, checked here at their edges.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 11, 6, 15, 42, 10);

const item = (start: number, counts: Partial<AnalyticsItem>): AnalyticsItem => ({
  key: new Date(start).toISOString(),
  attempts: 0,
  sent: 0,
  delivered: 0,
  failed: 0,
  verified: 0,
  conversion: null,
  p50_seconds_to_verify: null,
  p90_seconds_to_verify: null,
  cost: 0,
  ...counts,
});

describe("periodOf: whole UTC buckets ending with the current one", () => {
  it("24h is 24 hour buckets, the last one the current hour; 7d and 30d are days", () => {
    const day = periodOf("24h", NOW);
    expect(day).toMatchObject({ key: "24h", bucket: "hour", to: NOW });
    expect(day.starts).toHaveLength(24);
    expect(day.starts.at(-1)).toBe(Date.UTC(2026, 11, 6, 15));
    expect(day.from).toBe(Date.UTC(2026, 11, 5, 16));
    const week = periodOf("7d", NOW);
    expect(week).toMatchObject({ key: "7d", bucket: "day", from: Date.UTC(2026, 10, 30) });
    expect(week.starts.at(-1)).toBe(Date.UTC(2026, 11, 6));
    const month = periodOf("30d", NOW);
    expect(month).toMatchObject({ key: "30d", bucket: "day", from: Date.UTC(2026, 10, 7) });
    expect(month.starts).toHaveLength(30);
  });

  it("at the first millisecond of an hour, that hour is the last bucket", () => {
    const onTheHour = Date.UTC(2026, 11, 6, 15);
    expect(periodOf("24h", onTheHour).starts.at(-1)).toBe(onTheHour);
    expect(periodOf("24h", onTheHour - 1).starts.at(-1)).toBe(onTheHour - HOUR);
  });

  it("an unknown or missing value is the 7-day default; only an unknown one is flagged, cut to 40 characters", () => {
    for (const missing of [undefined, ""]) {
      const period = periodOf(missing, NOW);
      expect(period).toMatchObject({ key: "7d", bucket: "day" });
      expect(period).not.toHaveProperty("unknown");
    }
    const odd = periodOf("x".repeat(100), NOW);
    expect(odd).toMatchObject({ key: "7d", bucket: "day", unknown: "x".repeat(40) });
    expect(periodOf("__proto__", NOW)).toMatchObject({ key: "7d", unknown: "__proto__" });
  });
});

describe("niceMax: a round axis top at or above the largest value", () => {
  it.each([
    [0, 1],
    [-3, 1],
    [Number.NaN, 1],
    [1, 1],
    [10, 10],
    [100, 100],
    [1000, 1000],
    [1001, 2000],
    [7, 10],
    [11, 20],
    [21, 25],
    [26, 50],
    [51, 100],
    [250, 250],
    [251, 500],
    [0.3, 0.5],
  ])("%s → %s", (max, top) => {
    expect(niceMax(max)).toBe(top);
  });
});

describe("blockTarget: what the block form's target names", () => {
  it.each([
    ["+375 29 (61)", { scope: "prefix", value: "+3752961" }],
    ["+3752", { scope: "prefix", value: "+3752" }],
    ["+37529612345678", { scope: "prefix", value: "+37529612345678" }],
    [" by ", { scope: "country", value: "BY" }],
    ["Kp", { scope: "country", value: "KP" }],
  ])("%j → %j", (text, target) => {
    expect(blockTarget(text)).toEqual(target);
  });

  it.each(["", "+375", "+0375", "375291", "+375296123456789", "BLR", "B1", "+37529x"])("%j → nothing", (text) => {
    expect(blockTarget(text)).toBeNull();
  });
});

describe("overviewOf: the overview's numbers and series", () => {
  const period = periodOf("24h", NOW);
  const [first, second] = period.starts as [number, number];
  const last = period.starts.at(-1) as number;
  const noFacts = { signIns: { passkey: 0, code: 0 }, blocks: [], activeBlocks: 0 };

  it("sums the period, puts each bucket's numbers at its start and leaves a bucket without traffic at 0 (conversion unknown)", () => {
    const overview = overviewOf(
      period,
      [
        item(first, { attempts: 12, sent: 10, verified: 8, failed: 2, cost: 0.5 }),
        item(last, { attempts: 5, sent: 5, verified: 1, cost: 0.25 }),
      ],
      { signIns: { passkey: 1, code: 3 }, blocks: [], activeBlocks: 2 },
      0.2,
    );
    expect(overview).toMatchObject({
      sent: 15,
      verified: 9,
      conversion: 9 / 15,
      conversionAlarm: false,
      spend: 0.75,
      activeBlocks: 2,
      passkeyShare: 0.25,
      attempts: 17,
      failed: 2,
      failedShare: 2 / 17,
      failedAlarm: true,
    });
    expect(overview.series.sent).toHaveLength(24);
    expect(overview.series.sent[0]).toBe(10);
    expect(overview.series.sent[1]).toBe(0);
    expect(overview.series.sent[23]).toBe(5);
    expect(overview.series.conversion[0]).toBe(0.8);
    expect(overview.series.conversion[1]).toBeNull();
    expect(overview.series.conversion[23]).toBe(0.2);
  });

  it("alarms below FRAUD_MIN_CONVERSION and above one failed attempt in ten, not at them; nothing sent is no alarm", () => {
    const at = (counts: Partial<AnalyticsItem>) => overviewOf(period, [item(first, counts)], noFacts, 0.2);
    expect(at({ sent: 10, verified: 2 }).conversionAlarm).toBe(false);
    expect(at({ sent: 10, verified: 1 }).conversionAlarm).toBe(true);
    expect(at({ attempts: 10, failed: 1 }).failedAlarm).toBe(false);
    expect(at({ attempts: 9, failed: 1 }).failedAlarm).toBe(true);
    const quiet = overviewOf(period, [], noFacts, 0.2);
    expect(quiet).toMatchObject({ conversion: null, conversionAlarm: false, failedShare: null, failedAlarm: false, passkeyShare: null });
  });

  it("counts a block in every bucket it was in force for some of, and in no other", () => {
    const overview = overviewOf(
      period,
      [],
      {
        ...noFacts,
        blocks: [
          // From inside the first bucket to the second's very start: the first bucket only.
          { from: first + 10 * 60_000, to: second },
          // From the second's very start: not in the first.
          { from: second, to: second + 60_000 },
          // Over the whole period.
          { from: first - DAY, to: NOW + HOUR },
        ],
      },
      0.2,
    );
    expect(overview.series.blocks[0]).toBe(2);
    expect(overview.series.blocks[1]).toBe(2);
    expect(overview.series.blocks[2]).toBe(1);
    expect(overview.series.blocks[23]).toBe(1);
  });
});
