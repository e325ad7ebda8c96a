import type { AnalyticsItem, GroupBy } from "../../../fraud/analytics";
import type { Period } from "../../console/period";
import type { PageContext } from "../../middleware";
import { Notice } from "../fields";
import { formatsOf } from "./format";
import { ConsoleHead, ConsoleLayout, PeriodSelect } from "./layout";
import { DataTable, num } from "./table";

/** The traffic page's groupings: the analytics' own, less the time series (the overview draws those). */
export type Grouping = Exclude<GroupBy, "day" | "hour">;

export type TrafficView = {
  period: Period;
  groupBy: Grouping;
  groupings: readonly Grouping[];
  unknownGroup?: string;
  items: AnalyticsItem[];
  /** FRAUD_MIN_CONVERSION: rows under it are marked. */
  minConversion: number;
};

/** `/admin/traffic`: the filter form (period, grouping), then one row per country, prefix, channel or provider. */
export function TrafficPage(props: { page: PageContext; view: TrafficView }) {
  const { page, view } = props;
  const t = page.t.console;
  const r = t.traffic;
  const f = formatsOf(page.t);
  const shown = t.period.options[view.period.key];
  const low = (item: AnalyticsItem) => item.conversion !== null && item.conversion < view.minConversion;
  return (
    <ConsoleLayout page={page} section="traffic" title={r.title}>
      <ConsoleHead title={r.title}>
        <form method="get" action="/admin/traffic" class="filters">
          <PeriodSelect page={page} selected={view.period.key} />
          <div>
            <label for="traffic-group">{r.groupBy}</label>
            <select id="traffic-group" name="group_by">
              {view.groupings.map((grouping) => (
                <option value={grouping} selected={grouping === view.groupBy}>
                  {r.groups[grouping]}
                </option>
              ))}
            </select>
          </div>
          <button type="submit">{t.period.show}</button>
        </form>
      </ConsoleHead>
      <p class="lead">
        {shown}. {r.lead}
      </p>
      <Notice message={view.period.unknown ? t.period.unknown(view.period.unknown, shown) : undefined} />
      <Notice message={view.unknownGroup ? r.unknownGroup(view.unknownGroup, r.groups[view.groupBy]) : undefined} />
      <section class="card" aria-label={r.title}>
        <DataTable
          headers={[r.key[view.groupBy], ...[r.sent, r.delivered, r.failed, r.verified, r.conversion, r.p50, r.p90, r.cost].map(num)]}
          rows={view.items}
          empty={<p>{r.none}</p>}
          data={{ "data-group-by": view.groupBy }}
          row={(item) => (
            <tr class={low(item) ? "alarm" : undefined} data-key={item.key}>
              <th scope="row">
                <code>{item.key}</code>
              </th>
              <td class="num">{f.count(item.sent)}</td>
              <td class="num">{f.count(item.delivered)}</td>
              <td class="num">{f.count(item.failed)}</td>
              <td class="num">{f.count(item.verified)}</td>
              <td class="num">
                {f.percent(item.conversion)}
                {low(item) ? <span class="flag-inline"> ⚠ {t.alarm}</span> : null}
              </td>
              <td class="num">{f.seconds(item.p50_seconds_to_verify)}</td>
              <td class="num">{f.seconds(item.p90_seconds_to_verify)}</td>
              <td class="num">{f.money(item.cost)}</td>
            </tr>
          )}
        />
      </section>
    </ConsoleLayout>
  );
}
