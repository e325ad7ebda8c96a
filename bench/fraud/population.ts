// The legitimate population of the fraud simulation: which prefixes real people sign in from,
// how often over a day, how many of them enter their code and how fast. Pure (no I/O), seeded, so
// a run can be replayed with BENCH_FRAUD_SEED.

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Sends per day of the whole population at scale 1 (BENCH_FRAUD_SCALE multiplies it). */
export const SENDS_PER_DAY = 5000;

/**
 * Relative sends per hour of the day (UTC; one curve for every country, a simplification): quiet
 * at night, a morning ramp, a plateau, an evening peak. At 5,000 sends a day the peak hour has
 * ~355 sends, ~210 of them Russian, so the country rule (200 in the window) sees real traffic too.
 */
export const DAY_CURVE = [
  0.35, 0.22, 0.15, 0.12, 0.12, 0.18, 0.35, 0.65, 1.0, 1.25, 1.35, 1.4, 1.45, 1.4, 1.35, 1.35, 1.4, 1.5, 1.6, 1.65, 1.55, 1.3, 0.95, 0.6,
];

/**
 * Where real sign-ins come from: share of sends per country, and the prefixes (E.164 without the
 * last 4 digits) in popularity order; within a country a prefix's share falls as 1/rank (Zipf).
 * Every number made from them is checked with the Worker's own parser (libphonenumber-js `mobile`).
 */
export const LEGIT_COUNTRIES = [
  {
    country: "RU",
    share: 0.6,
    prefixes: [
      "+7916123",
      "+7926555",
      "+7903444",
      "+7905210",
      "+7910377",
      "+7911402",
      "+7912118",
      "+7915630",
      "+7917245",
      "+7919804",
      "+7920561",
      "+7925319",
      "+7929470",
      "+7950126",
      "+7960388",
      "+7977512",
      "+7985222",
      "+7999111",
      "+7900734",
      "+7909650",
    ],
  },
  {
    country: "BY",
    share: 0.15,
    prefixes: ["+37529123", "+37533456", "+37544789", "+37529871", "+37533210", "+37544555", "+37529640", "+37533902"],
  },
  { country: "KZ", share: 0.1, prefixes: ["+7701123", "+7705222", "+7707431", "+7747333", "+7777120"] },
  { country: "IR", share: 0.1, prefixes: ["+98912123", "+98935345", "+98901112", "+98919000", "+98930111", "+98917222"] },
  { country: "DE", share: 0.05, prefixes: ["+491701234", "+491711234", "+491751234", "+491521234"] },
] as const;

/** Conversion of a legitimate prefix: uniform in this range, per prefix (the 60–95 %). */
export const CONVERSION_RANGE = [0.6, 0.95] as const;

/** Seconds from send to verify: lognormal, median 25 s, σ 0.9 (≈ 4 % past the 120 s grace), 3–250 s. */
export const VERIFY_DELAY = { median: 25, sigma: 0.9, min: 3, max: 250 } as const;

export type Random = () => number;

/** mulberry32: a small seeded PRNG (the workerd side cannot import bench/lib's Node helpers). */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A standard normal draw (Box–Muller). */
export function normal(random: Random): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** A Poisson draw: Knuth's product for small means, a rounded normal for large ones. */
export function poisson(random: Random, mean: number): number {
  if (mean > 500) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal(random)));
  const limit = Math.exp(-mean);
  let count = 0;
  for (let product = random(); product > limit; product *= random()) count++;
  return count;
}

/** Milliseconds a real person takes to type the code in. */
export function verifyDelay(random: Random): number {
  const { median, sigma, min, max } = VERIFY_DELAY;
  return Math.round(Math.min(max, Math.max(min, median * Math.exp(sigma * normal(random)))) * SECOND);
}

export type LegitPrefix = { prefix: string; country: string; weight: number; conversion: number };

/**
 * The population's prefixes with their share of all sends and their conversion. The busiest
 * prefix gets the lowest conversion of the range (the worst legitimate case the rule must spare).
 */
export function legitPrefixes(random: Random): LegitPrefix[] {
  const prefixes: LegitPrefix[] = [];
  for (const { country, share, prefixes: list } of LEGIT_COUNTRIES) {
    const harmonic = list.reduce((sum, _, rank) => sum + 1 / (rank + 1), 0);
    list.forEach((prefix, rank) => {
      const conversion = CONVERSION_RANGE[0] + (CONVERSION_RANGE[1] - CONVERSION_RANGE[0]) * random();
      prefixes.push({ prefix, country, weight: share / (rank + 1) / harmonic, conversion });
    });
  }
  const busiest = prefixes.reduce((top, entry) => (entry.weight > top.weight ? entry : top));
  busiest.conversion = CONVERSION_RANGE[0];
  return prefixes;
}

/** One prefix, drawn by its share of sends. */
export function pickPrefix(random: Random, prefixes: LegitPrefix[]): LegitPrefix {
  let left = random();
  for (const entry of prefixes) {
    left -= entry.weight;
    if (left <= 0) return entry;
  }
  return prefixes.at(-1) as LegitPrefix;
}

/**
 * Times (ms) of the population's sends between `from` and `to`: a Poisson process whose rate
 * follows DAY_CURVE hour by hour, scaled so a whole day holds `perDay` sends on average.
 */
export function legitSendTimes(random: Random, from: number, to: number, perDay: number): number[] {
  const total = DAY_CURVE.reduce((sum, weight) => sum + weight, 0);
  const times: number[] = [];
  for (let hour = Math.floor(from / HOUR) * HOUR; hour < to; hour += HOUR) {
    const weight = DAY_CURVE[new Date(hour).getUTCHours()] ?? 1;
    const start = Math.max(hour, from);
    const end = Math.min(hour + HOUR, to);
    const count = poisson(random, (perDay * weight * (end - start)) / total / HOUR);
    for (let i = 0; i < count; i++) times.push(start + Math.floor(random() * (end - start)));
  }
  return times.sort((a, b) => a - b);
}
