import type { Child } from "hono/jsx";
import type { Period } from "../../console/period";
import type { PageContext } from "../../middleware";
import { Notice } from "../fields";
import { BarChart, LineChart } from "./charts";
import { formatsOf } from "./format";
import { ConsoleHead, ConsoleLayout, PeriodSelect } from "./layout";

export type Overview = {
  sent: number;
  verified: number;
  conversion: number | null;
  conversionAlarm: boolean;
  minConversion: number;
  spend: number;
  activeBlocks: number;
  passkeyShare: number | null;
  signIns: { passkey: number; code: number };
  attempts: number;
  failed: number;
  failedShare: number | null;
  failedAlarm: boolean;
  failedThreshold: number;
  /** Per bucket of the period, oldest first. */
  series: { starts: number[]; sent: number[]; verified: number[]; conversion: (number | null)[]; cost: number[]; blocks: number[] };
};

type KpiProps = { id: string; label: string; value: string; raw: number | null; note?: Child; alarm?: string };

/** One headline number; an alarming one says so in words ("⚠ Alarm: …") and gets a thick border. */
function Kpi(props: KpiProps & { alarmLabel: string }) {
  return (
    <div class={props.alarm ? "kpi alarm" : "kpi"} data-kpi={props.id} data-alarm={props.alarm ? "true" : undefined}>
      <dt>{props.label}</dt>
      <dd>
        <span class="value" data-value={props.raw ?? ""}>
          {props.value}
        </span>
        {props.alarm ? (
          <strong class="flag">
            ⚠ {props.alarmLabel}: {props.alarm}
          </strong>
        ) : null}
        {props.note ? <span class="note">{props.note}</span> : null}
      </dd>
    </div>
  );
}

/** `/admin`: the period's headline numbers first, alarming ones marked, then the charts. */
export function OverviewPage(props: { page: PageContext; period: Period; overview: Overview }) {
  const { page, period, overview: o } = props;
  const t = page.t.console;
  const v = t.overview;
  const f = formatsOf(page.t);
  const labels = o.series.starts.map((start) => f.bucket(start, period.bucket));
  const chart = { labels, when: v.when, tableLabel: v.asTable };
  const shown = t.period.options[period.key];
  const kpis: KpiProps[] = [
    { id: "sent", label: v.codesSent, value: f.count(o.sent), raw: o.sent, note: v.verifiedOf(f.count(o.verified)) },
    {
      id: "conversion",
      label: v.conversion,
      value: f.percent(o.conversion),
      raw: o.conversion,
      alarm: o.conversionAlarm ? v.belowThreshold(f.percent(o.minConversion)) : undefined,
    },
    { id: "spend", label: v.spend, value: f.money(o.spend), raw: o.spend, note: v.spendNote },
    {
      id: "blocks",
      label: v.activeBlocks,
      value: f.count(o.activeBlocks),
      raw: o.activeBlocks,
      note: <a href="/admin/blocks">{t.nav.blocks}</a>,
      alarm: o.activeBlocks > 0 ? v.activeBlocksNote(o.activeBlocks) : undefined,
    },
    {
      id: "passkey",
      label: v.passkeyShare,
      value: f.percent(o.passkeyShare),
      raw: o.passkeyShare,
      note: v.passkeyNote(f.count(o.signIns.passkey), f.count(o.signIns.code)),
    },
    {
      id: "failed",
      label: v.failedShare,
      value: f.percent(o.failedShare),
      raw: o.failedShare,
      note: v.failedNote(f.count(o.failed), f.count(o.attempts)),
      alarm: o.failedAlarm ? v.aboveThreshold(f.percent(o.failedThreshold)) : undefined,
    },
  ];
  return (
    <ConsoleLayout page={page} section="overview" title={v.title}>
      <ConsoleHead title={v.title}>
        <form method="get" action="/admin" class="filters">
          <PeriodSelect page={page} selected={period.key} />
          <button type="submit">{t.period.show}</button>
        </form>
      </ConsoleHead>
      <p class="lead">
        {shown}. {v.lead}
      </p>
      <Notice message={period.unknown ? t.period.unknown(period.unknown, shown) : undefined} />
      <dl class="kpis">
        {kpis.map((kpi) => (
          <Kpi {...kpi} alarmLabel={t.alarm} />
        ))}
      </dl>
      {o.sent === 0 ? <p class="meta">{v.noData}</p> : null}
      <div class="charts">
        <section class="card">
          <LineChart
            id="chart-sent"
            title={v.sentChart}
            summary={`${shown}: ${v.sent} ${f.count(o.sent)}, ${v.verified} ${f.count(o.verified)}.`}
            format={f.count}
            axisFormat={f.decimal}
            series={[
              { name: v.sent, values: o.series.sent, tone: 1, marker: "circle" },
              { name: v.verified, values: o.series.verified, tone: 2, marker: "square", dash: "6 4" },
            ]}
            {...chart}
          />
        </section>
        <section class="card">
          <LineChart
            id="chart-conversion"
            title={v.conversionChart}
            summary={`${shown}: ${v.conversion} ${f.percent(o.conversion)}; ${v.threshold} ${f.percent(o.minConversion)}.`}
            format={f.percent}
            top={1}
            threshold={{ value: o.minConversion, label: `${v.threshold} ${f.percent(o.minConversion)}` }}
            series={[{ name: v.conversion, values: o.series.conversion, tone: 4, marker: "diamond" }]}
            {...chart}
          />
        </section>
        <section class="card">
          <BarChart
            id="chart-spend"
            title={v.spendChart}
            summary={`${shown}: ${v.spend} ${f.money(o.spend)}.`}
            format={f.money}
            series={{ name: v.spend, values: o.series.cost, tone: 3, marker: "square" }}
            {...chart}
          />
        </section>
        <section class="card">
          <BarChart
            id="chart-blocks"
            title={v.blocksChart}
            summary={`${shown}: ${v.activeBlocks} ${f.count(o.activeBlocks)}.`}
            format={f.count}
            axisFormat={f.decimal}
            series={{ name: v.blocksActive, values: o.series.blocks, tone: 1, marker: "square" }}
            {...chart}
          />
        </section>
      </div>
    </ConsoleLayout>
  );
}
