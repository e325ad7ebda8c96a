import { guarded } from "../storage/guard";

// NIST SP 800-63B-4 §3.1.1.2 for a password used as a single factor: a minimum length (15 by
// default; 8 only where configured), at least 64 allowed (we take 128), any Unicode and spaces,
// no composition rules, no truncation, and a blocklist of commonly used passwords.

export const MAX_PASSWORD_LENGTH = 128;

export type WeakPasswordRule = "too_short" | "too_long" | "common" | "contains_phone";

// The blocklist is static data served by the Worker's ASSETS binding (assets/passwords/common.txt,
// `npm run data:passwords`), not bundled: only setting a password needs it, so it costs neither
// the bundle (13 KiB gzip) nor any other route. `run_worker_first` keeps it off the public web.
const BLOCKLIST_URL = "https://assets.local/passwords/common.txt";
let blocklist: Promise<Set<string>> | undefined;

/** The common-password set, fetched once per isolate on first use (again after a failure). */
export function commonPasswords(assets: Fetcher, timeoutMs: number): Promise<Set<string>> {
  blocklist ??= guarded("assets", timeoutMs, async () => {
    const response = await assets.fetch(BLOCKLIST_URL);
    if (!response.ok) throw new Error(`common-password list answered ${response.status}`);
    return new Set((await response.text()).split("\n").filter(Boolean));
  }).catch((error: unknown) => {
    blocklist = undefined;
    throw error;
  });
  return blocklist;
}

/** NFKC, so composed and decomposed forms (and compatibility variants) are one password. */
export function normalisePassword(password: string): string {
  return password.normalize("NFKC");
}

/**
 * The first rule the password breaks, in the contract's order, or null. Length is counted in
 * Unicode code points after normalisation. `phoneDigits` are the E.164 digits and the national
 * number of the account's phone.
 */
export function weakPasswordRule(
  password: string,
  options: { minLength: number; phoneDigits: string[]; common: Set<string> },
): WeakPasswordRule | null {
  const normalised = normalisePassword(password);
  const length = [...normalised].length;
  if (length < options.minLength) return "too_short";
  if (length > MAX_PASSWORD_LENGTH) return "too_long";
  if (options.common.has(normalised.toLowerCase())) return "common";
  // On the password's digits alone: separators and "+" between them must not hide the number.
  const digitsOnly = asciiDigits(normalised).replace(/\D/g, "");
  if (options.phoneDigits.some((digits) => digits.length >= 6 && digitsOnly.includes(digits))) return "contains_phone";
  return null;
}

/**
 * Every decimal digit as ASCII: NFKC leaves Persian (۰–۹), Arabic-Indic (٠–٩) and other scripts'
 * digits as they are, and a number written in them is the same number.
 */
function asciiDigits(text: string): string {
  return text.replace(/\p{Nd}/gu, (digit) => {
    const code = digit.codePointAt(0) as number;
    // Unicode lays every decimal digit set out as ten consecutive code points, 0 first.
    for (let zero = code; zero > code - 10; zero--) {
      if (!/\p{Nd}/u.test(String.fromCodePoint(zero - 1)) || zero === code - 9) return String(code - zero);
    }
    return digit;
  });
}

const RULE_DETAIL: Record<WeakPasswordRule, (minLength: number) => string> = {
  too_short: (min) => `Use at least ${min} characters.`,
  too_long: () => `Use at most ${MAX_PASSWORD_LENGTH} characters.`,
  common: () => "This password is too common.",
  contains_phone: () => "The password must not contain your phone number.",
};

export function weakPasswordDetail(rule: WeakPasswordRule, minLength: number): string {
  return RULE_DETAIL[rule](minLength);
}
