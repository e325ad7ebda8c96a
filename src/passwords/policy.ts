import commonPasswords from "./common-passwords.json";

// NIST SP 800-63B-4 §3.1.1.2 for a password used as a single factor: a minimum length (15 by
// default; 8 only where configured), at least 64 allowed (we take 128), any Unicode and spaces,
// no composition rules, no truncation, and a blocklist of commonly used passwords.

export const MAX_PASSWORD_LENGTH = 128;

export type WeakPasswordRule = "too_short" | "too_long" | "common" | "contains_phone";

let blocklist: Set<string> | undefined;

/** The common-password set, built once per isolate on first use. */
function isCommon(password: string): boolean {
  blocklist ??= new Set(commonPasswords);
  return blocklist.has(password.toLowerCase());
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
export function weakPasswordRule(password: string, options: { minLength: number; phoneDigits: string[] }): WeakPasswordRule | null {
  const normalised = normalisePassword(password);
  const length = [...normalised].length;
  if (length < options.minLength) return "too_short";
  if (length > MAX_PASSWORD_LENGTH) return "too_long";
  if (isCommon(normalised)) return "common";
  if (options.phoneDigits.some((digits) => digits.length >= 6 && normalised.includes(digits))) return "contains_phone";
  return null;
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
