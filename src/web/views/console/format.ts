import type { Messages } from "../../i18n";

/** The console's number and date formats in the page's language (dates in UTC, like the buckets). */
export function formatsOf(t: Messages) {
  const locale = t.dates;
  const count = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
  const decimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
  const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
  const money = new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const seconds = new Intl.NumberFormat(locale, { style: "unit", unit: "second", unitDisplay: "short", maximumFractionDigits: 0 });
  const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });
  const day = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", timeZone: "UTC" });
  const hour = new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit", timeZone: "UTC" });
  const dash = "—";
  return {
    count: (n: number) => count.format(n),
    decimal: (n: number) => decimal.format(n),
    percent: (n: number | null) => (n == null ? dash : percent.format(n)),
    money: (n: number) => money.format(n),
    seconds: (n: number | null) => (n == null ? dash : seconds.format(n)),
    dateTime: (iso: string | number | null) => (iso == null ? dash : dateTime.format(new Date(iso))),
    /** A chart bucket's label: the day, or the hour of the day. */
    bucket: (start: number, size: "hour" | "day") => (size === "hour" ? hour.format(start) : day.format(start)),
  };
}

export type Formats = ReturnType<typeof formatsOf>;
