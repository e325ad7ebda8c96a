// The console's time windows (pure: no I/O). A period is whole UTC buckets ending with the current
// one, so a chart's first and last points are comparable and the analytics' bucket keys (ISO
// strings of each bucket's start) line up with ours.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const PERIODS = {
  "24h": { buckets: 24, bucket: "hour" },
  "7d": { buckets: 7, bucket: "day" },
  "30d": { buckets: 30, bucket: "day" },
} as const;

export type PeriodKey = keyof typeof PERIODS;
export const DEFAULT_PERIOD: PeriodKey = "7d";

export type Period = {
  key: PeriodKey;
  bucket: "hour" | "day";
  /** Bucket starts, oldest first (ms since the epoch). */
  starts: number[];
  from: number;
  to: number;
  /** The query's value when it named no known period (the page says what it shows instead). */
  unknown?: string;
};

const isPeriodKey = (value: string): value is PeriodKey => Object.hasOwn(PERIODS, value);

/** The period a `?period=` value asks for at `now`; anything else is the default, flagged. */
export function periodOf(raw: string | undefined, now: number): Period {
  const known = raw !== undefined && isPeriodKey(raw);
  const key = known ? raw : DEFAULT_PERIOD;
  const { buckets, bucket } = PERIODS[key];
  const size = bucketSize({ bucket });
  const current = Math.floor(now / size) * size;
  const starts = Array.from({ length: buckets }, (_, index) => current - (buckets - 1 - index) * size);
  return {
    key,
    bucket,
    starts,
    from: starts[0] ?? current,
    to: now,
    ...(raw !== undefined && raw !== "" && !known ? { unknown: raw.slice(0, 40) } : {}),
  };
}

/** The bucket size of a period, in ms. */
export const bucketSize = (period: Pick<Period, "bucket">) => (period.bucket === "hour" ? HOUR : DAY);
