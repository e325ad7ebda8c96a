import { Hono } from "hono";
import { GROUPINGS as ANALYTICS_GROUPINGS, analyticsReport } from "../../fraud/analytics";
import type { WebEnv } from "../context";
import { type Grouping, TrafficPage } from "../views/console/traffic";
import { consoleRequest, queryText, refusedPage } from "./page";
import { periodOf } from "./period";

// `/admin/traffic`: the period's sends as a table by country, prefix, channel or provider (the
// rollups of /v1/admin/analytics). A grouping the page does not know falls back to country, said.

const GROUPINGS = ANALYTICS_GROUPINGS.filter((key): key is Grouping => key !== "day" && key !== "hour");
const ROWS = 100;

const isGrouping = (value: string): value is Grouping => (GROUPINGS as readonly string[]).includes(value);

export const trafficPages = new Hono<WebEnv>().get("/admin/traffic", async (c) => {
  const { page, services, claims } = consoleRequest(c, "/admin/traffic");
  const period = periodOf(c.req.query("period"), services.now);
  const asked = queryText(c, "group_by", 40);
  const groupBy = isGrouping(asked) ? asked : "country";
  const report = await analyticsReport(services, claims, { from: period.from, to: period.to, groupBy, limit: ROWS });
  if ("error" in report) return refusedPage(c, page, report);
  return c.html(
    <TrafficPage
      page={page}
      view={{
        period,
        groupBy,
        groupings: GROUPINGS,
        unknownGroup: asked && !isGrouping(asked) ? asked : undefined,
        items: report.items,
        minConversion: services.config.FRAUD_MIN_CONVERSION,
      }}
    />,
  );
});
