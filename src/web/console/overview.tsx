import { Hono } from "hono";
import { type AnalyticsItem, analyticsReport } from "../../fraud/analytics";
import type { WebEnv } from "../context";
import { type Overview, OverviewPage } from "../views/console/overview";
import { consoleRequest, refusedPage } from "./page";
import { bucketSize, type Period, periodOf } from "./period";
import { type BlockSpan, overviewFacts, type SignIns } from "./queries";

// `/admin`: the numbers an operator checks first (codes sent, conversion, spend, blocks, passkey
// share, failed deliveries), each marked when alarming, then the same over time as charts.

/** More than one delivery attempt in ten failing is worth a look at the providers. */
const FAILED_SHARE_ALARM = 0.1;

const ratio = (part: number, whole: number) => (whole > 0 ? part / whole : null);

/** The overview's numbers and series from the period's hourly or daily analytics and the audit/blocks facts. */
export function overviewOf(
  period: Period,
  items: AnalyticsItem[],
  facts: { signIns: SignIns; blocks: BlockSpan[]; activeBlocks: number },
  minConversion: number,
): Overview {
  const byStart = new Map(items.map((item) => [Date.parse(item.key), item]));
  const buckets = period.starts.map((start) => ({ start, item: byStart.get(start) }));
  const sum = (field: "attempts" | "sent" | "verified" | "failed" | "cost") => items.reduce((total, item) => total + item[field], 0);
  const sent = sum("sent");
  const verified = sum("verified");
  const attempts = sum("attempts");
  const failed = sum("failed");
  const conversion = ratio(verified, sent);
  const failedShare = ratio(failed, attempts);
  const size = bucketSize(period);
  return {
    sent,
    verified,
    conversion,
    conversionAlarm: conversion !== null && conversion < minConversion,
    minConversion,
    spend: sum("cost"),
    activeBlocks: facts.activeBlocks,
    passkeyShare: ratio(facts.signIns.passkey, facts.signIns.passkey + facts.signIns.code),
    signIns: facts.signIns,
    attempts,
    failed,
    failedShare,
    failedAlarm: failedShare !== null && failedShare > FAILED_SHARE_ALARM,
    failedThreshold: FAILED_SHARE_ALARM,
    series: {
      starts: period.starts,
      sent: buckets.map(({ item }) => item?.sent ?? 0),
      verified: buckets.map(({ item }) => item?.verified ?? 0),
      conversion: buckets.map(({ item }) => (item ? ratio(item.verified, item.sent) : null)),
      cost: buckets.map(({ item }) => item?.cost ?? 0),
      // A block counts in every bucket it was in force for some of.
      blocks: buckets.map(({ start }) => facts.blocks.filter((block) => block.from < start + size && block.to > start).length),
    },
  };
}

export const overviewPages = new Hono<WebEnv>().get("/admin", async (c) => {
  const { page, services, claims } = consoleRequest(c, "/admin");
  const period = periodOf(c.req.query("period"), services.now);
  const [report, facts] = await Promise.all([
    analyticsReport(services, claims, { from: period.from, to: period.to, groupBy: period.bucket }),
    overviewFacts(services, claims, period),
  ]);
  if ("error" in report) return refusedPage(c, page, report);
  if ("error" in facts) return refusedPage(c, page, facts);
  const overview = overviewOf(period, report.items, facts, services.config.FRAUD_MIN_CONVERSION);
  return c.html(<OverviewPage page={page} period={period} overview={overview} />);
});
