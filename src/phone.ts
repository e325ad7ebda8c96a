import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js/mobile";
import type { Config } from "./config";
import { keyedHasher } from "./crypto";
import { type Failure, fail } from "./http/problem";

export type Phone = {
  /** E.164, the key of every lookup and limit. */
  e164: string;
  /** ISO 3166-1 alpha-2 region the number belongs to. */
  country: string;
  /** National significant number (no trunk prefix). */
  national: string;
};

// Formatting a person may type: spaces, dashes, dots, parentheses. Anything else (letters,
// extensions, a second number) is refused rather than guessed at.
const formatting = /[\s().-]/g;
const plausible = /^\+?\d{3,17}$/;
// Digits without `+` or `00`: a national number, readable only with its country.
const national = /^(?!00)\d{6,17}$/;

/**
 * Normalises user input to E.164 with the `mobile` metadata of libphonenumber-js, so only numbers
 * that can receive SMS are valid: landlines, premium-rate, toll-free and impossible numbers
 * answer `null`. A leading `00` counts as `+`; national formats need `region`.
 */
export function parsePhone(input: string, region?: string): Phone | null {
  let compact = input.replace(formatting, "");
  if (compact.startsWith("00")) compact = `+${compact.slice(2)}`;
  if (!plausible.test(compact)) return null;
  const parsed = parsePhoneNumberFromString(compact, region as CountryCode | undefined);
  if (!parsed?.country || !parsed.isValid()) return null;
  return { e164: parsed.number, country: parsed.country, national: parsed.nationalNumber };
}

/**
 * Masks someone else's phone: `+`, country code, first two national digits, one `*` per hidden
 * digit, last two digits (`+37529*****67`).
 */
export function maskPhone(e164: string): string {
  const parsed = parsePhoneNumberFromString(e164);
  const countryCode = parsed ? parsed.countryCallingCode : "";
  const national = parsed ? parsed.nationalNumber : e164.slice(1);
  const hidden = Math.max(national.length - 4, 0);
  return `+${countryCode}${national.slice(0, 2)}${"*".repeat(hidden)}${national.slice(2 + hidden)}`;
}

/**
 * Resolves a client's phone field: the body's `region`, else `DEFAULT_REGION`, for national
 * formats; then `ALLOWED_COUNTRIES`.
 */
export function phoneFromInput(
  config: Pick<Config, "DEFAULT_REGION" | "ALLOWED_COUNTRIES">,
  input: string,
  region?: string,
): Phone | Failure {
  const known = region?.toUpperCase() ?? config.DEFAULT_REGION;
  const phone = parsePhone(input, known);
  if (!phone && !known && national.test(input.replace(formatting, ""))) {
    return fail("invalid_phone", {
      detail: "The country is missing: start the number with + and its country code (+375 29 123 45 67), or send `region` (e.g. BY).",
    });
  }
  if (!phone) return fail("invalid_phone", { detail: "This is not a mobile number that can receive SMS." });
  if (config.ALLOWED_COUNTRIES.length > 0 && !config.ALLOWED_COUNTRIES.includes(phone.country)) {
    return fail("country_not_allowed", { detail: `Numbers from ${phone.country} are not served.` });
  }
  return phone;
}

/** Keyed hash of a phone: lets referrals and the audit trail recognise a number without storing it. */
export function phoneKey(config: Pick<Config, "PASSWORD_PEPPER">, phone: string): Promise<string> {
  return keyedHasher(config.PASSWORD_PEPPER, "phone")(phone);
}
