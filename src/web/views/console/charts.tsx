// Charts drawn on the server as plain SVG (no script, no CDN; the CSP allows inline SVG). Series
// differ by colour and also by line pattern and marker shape, so no chart needs colour vision;
// each has a text summary for screen readers and its numbers as a table under a disclosure.

import type { Child } from "hono/jsx";
import { DataTable, num } from "./table";

export type Tone = 1 | 2 | 3 | 4;

export type Series = {
  name: string;
  /** One value per label; null leaves a gap (e.g. no conversion where nothing was sent). */
  values: (number | null)[];
  tone: Tone;
  marker: "circle" | "square" | "diamond";
  /** An SVG stroke-dasharray: lines differ by pattern as well as colour. */
  dash?: string;
};

type ChartProps = {
  id: string;
  title: string;
  /** One line for screen readers: what the chart says. */
  summary: string;
  labels: string[];
  format: (value: number) => string;
  /** The value axis' labels, when they need more precision than the values (half of 1 is 0.5, not 1). */
  axisFormat?: (value: number) => string;
  /** The table's first column heading. */
  when: string;
  tableLabel: string;
};

const WIDTH = 640;
const HEIGHT = 220;
const PLOT = { left: 64, right: 12, top: 12, bottom: 30 };
const INNER_W = WIDTH - PLOT.left - PLOT.right;
const INNER_H = HEIGHT - PLOT.top - PLOT.bottom;
const MAX_X_LABELS = 7;

/** A round axis top at or above `max` (1, 2, 2.5, 5 × a power of ten). */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  const step = [1, 2, 2.5, 5, 10].find((factor) => factor * power >= max) ?? 10;
  return step * power;
}

const round = (n: number) => Math.round(n * 10) / 10;
const xOf = (index: number, count: number) => round(PLOT.left + ((index + 0.5) * INNER_W) / Math.max(count, 1));
const yOf = (value: number, top: number) => round(PLOT.top + INNER_H - (value / top) * INNER_H);

/** The frame every chart shares: gridlines with the axis values, and spaced bucket labels. */
function Frame(props: { labels: string[]; top: number; format: (value: number) => string }) {
  const { labels, top } = props;
  const every = Math.max(1, Math.ceil(labels.length / MAX_X_LABELS));
  return (
    <g>
      {[0, 0.5, 1].map((share) => {
        const y = yOf(top * share, top);
        return (
          <g>
            <line class={share === 0 ? "axis" : "grid"} x1={PLOT.left} x2={WIDTH - PLOT.right} y1={y} y2={y} />
            <text x={PLOT.left - 6} y={y + 4} text-anchor="end">
              {props.format(top * share)}
            </text>
          </g>
        );
      })}
      {labels.map((label, index) =>
        index % every === 0 || index === labels.length - 1 ? (
          <text x={xOf(index, labels.length)} y={HEIGHT - 10} text-anchor="middle">
            {label}
          </text>
        ) : null,
      )}
    </g>
  );
}

function Marker(props: { shape: Series["marker"]; x: number; y: number; tone: Tone }) {
  const { x, y } = props;
  const tone = `tone-${props.tone}`;
  if (props.shape === "square") return <rect class={tone} x={x - 3.5} y={y - 3.5} width={7} height={7} />;
  if (props.shape === "diamond") return <polygon class={tone} points={`${x},${y - 5} ${x + 5},${y} ${x},${y + 5} ${x - 5},${y}`} />;
  return <circle class={tone} cx={x} cy={y} r={3.5} />;
}

/** A legend entry's sample: the series' line pattern and marker. */
function Swatch(props: { series: Pick<Series, "tone" | "marker" | "dash"> }) {
  const { series } = props;
  return (
    <svg viewBox="0 0 28 12" aria-hidden="true" focusable="false">
      <line class={`line tone-${series.tone}`} x1={0} x2={28} y1={6} y2={6} stroke-dasharray={series.dash} />
      <Marker shape={series.marker} x={14} y={6} tone={series.tone} />
    </svg>
  );
}

/** The chart's numbers as a table, for whoever cannot or would rather not read the picture. */
function NumbersTable(props: ChartProps & { series: Series[] }) {
  return (
    <details>
      <summary>{props.tableLabel}</summary>
      <DataTable
        headers={[props.when, ...props.series.map((series) => num(series.name))]}
        rows={props.labels}
        row={(label, index) => (
          <tr>
            <th scope="row">{label}</th>
            {props.series.map((series) => {
              const value = series.values[index];
              return <td class="num">{value == null ? "—" : props.format(value)}</td>;
            })}
          </tr>
        )}
      />
    </details>
  );
}

/** What every chart shares: its caption, the SVG (named and summarised) over the frame, then the numbers table. */
function ChartFigure(props: ChartProps & { series: Series[]; top: number; plot: Child; legend?: Child }) {
  return (
    <figure class="chart" id={props.id}>
      <figcaption>{props.title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-labelledby={`${props.id}-name ${props.id}-desc`}>
        <title id={`${props.id}-name`}>{props.title}</title>
        <desc id={`${props.id}-desc`}>{props.summary}</desc>
        <Frame labels={props.labels} top={props.top} format={props.axisFormat ?? props.format} />
        {props.plot}
      </svg>
      {props.legend}
      <NumbersTable {...props} />
    </figure>
  );
}

/** Lines over the buckets, with an optional threshold drawn dashed (e.g. FRAUD_MIN_CONVERSION). */
export function LineChart(props: ChartProps & { series: Series[]; threshold?: { value: number; label: string }; top?: number }) {
  const count = props.labels.length;
  const highest = Math.max(0, props.threshold?.value ?? 0, ...props.series.flatMap((series) => series.values.map((value) => value ?? 0)));
  const top = props.top ?? niceMax(highest);
  const plot = (
    <>
      {props.threshold ? (
        <line
          class="threshold"
          x1={PLOT.left}
          x2={WIDTH - PLOT.right}
          y1={yOf(props.threshold.value, top)}
          y2={yOf(props.threshold.value, top)}
          stroke-dasharray="8 5"
        />
      ) : null}
      {props.series.map((series) => {
        const points = series.values.map((value, index) => (value == null ? null : { x: xOf(index, count), y: yOf(value, top) }));
        // A gap (null) splits the line: nothing is drawn through a bucket without a value.
        const runs: string[] = [];
        let run: string[] = [];
        for (const point of [...points, null]) {
          if (point) run.push(`${point.x},${point.y}`);
          else if (run.length > 0) {
            runs.push(run.join(" "));
            run = [];
          }
        }
        return (
          <g>
            {runs.map((run) => (
              <polyline class={`line tone-${series.tone}`} points={run} stroke-dasharray={series.dash} />
            ))}
            {points.map((point) => (point ? <Marker shape={series.marker} x={point.x} y={point.y} tone={series.tone} /> : null))}
          </g>
        );
      })}
    </>
  );
  const legend = (
    <ul class="legend">
      {props.series.map((series) => (
        <li>
          <Swatch series={series} />
          {series.name}
        </li>
      ))}
      {props.threshold ? (
        <li>
          <svg viewBox="0 0 28 12" aria-hidden="true" focusable="false">
            <line class="threshold" x1={0} x2={28} y1={6} y2={6} stroke-dasharray="8 5" />
          </svg>
          {props.threshold.label}
        </li>
      ) : null}
    </ul>
  );
  return <ChartFigure {...props} top={top} plot={plot} legend={legend} />;
}

/** One bar per bucket (spend, blocks in force). */
export function BarChart(props: ChartProps & { series: Series }) {
  const { series } = props;
  const count = props.labels.length;
  const top = niceMax(Math.max(0, ...series.values.map((value) => value ?? 0)));
  const width = round(Math.max(2, (INNER_W / Math.max(count, 1)) * 0.7));
  const bars = series.values.map((value, index) =>
    value ? (
      <rect
        class={`tone-${series.tone}`}
        x={round(xOf(index, count) - width / 2)}
        y={yOf(value, top)}
        width={width}
        height={round((value / top) * INNER_H)}
      />
    ) : null,
  );
  return <ChartFigure {...props} series={[series]} top={top} plot={bars} />;
}
