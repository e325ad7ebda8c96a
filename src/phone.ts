import { type CountryCode, getCountryCallingCode, type MetadataJson, parsePhoneNumberFromString } from "libphonenumber-js/core";
import type { Config } from "./config";
import { rememberingHasher } from "./crypto";
import { type Failure, fail } from "./http/problem";
import { remembered } from "./memo";
import { guarded } from "./storage/guard";

// The numbering plans (libphonenumber-js's `mobile` metadata, ~95 KiB, a fifth of the bundle) are
// static data behind the ASSETS binding (assets/phone/metadata.mobile.json, `npm run data:phone`,
// never public: run_worker_first), read once per isolate before the first request that needs
// them (`loadPhoneMetadata`, app middleware), like the common-password list.
const METADATA_URL = "https://assets.local/phone/metadata.mobile.json";
let metadata: MetadataJson | undefined;
let loading: Promise<void> | undefined;

/** Reads the numbering plans once per isolate (again after a failure, which is a 503). */
export function loadPhoneMetadata(assets: Fetcher, timeoutMs: number): Promise<void> {
  if (metadata) return Promise.resolve();
  loading ??= guarded("assets", timeoutMs, async () => {
    const response = await assets.fetch(METADATA_URL);
    if (!response.ok) throw new Error(`phone metadata answered ${response.status}`);
    metadata = (await response.json()) as MetadataJson;
  }).catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

/** Sets the numbering plans directly (Node tools such as the importer, which read the package's JSON). */
export function usePhoneMetadata(json: MetadataJson): void {
  metadata = json;
  masked.clear();
}

function plans(): MetadataJson {
  if (!metadata) throw new Error("phone metadata not loaded: call loadPhoneMetadata first");
  return metadata;
}

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
  const parsed = parsePhoneNumberFromString(compact, { defaultCountry: region as CountryCode | undefined }, plans());
  if (!parsed?.country || !parsed.isValid()) return null;
  return { e164: parsed.number, country: parsed.country, national: parsed.nationalNumber };
}

/** A number's prefix, what the analytics and the fraud guard group by: its E.164 without the last 4 digits. */
export const prefixOf = (e164: string) => e164.slice(0, -4);

/**
 * Masks someone else's phone: `+`, country code, first two national digits, one `*` per hidden
 * digit, last two digits (`+37529*****67`).
 */
export function maskPhone(e164: string): string {
  return masked(e164);
}

// Parsed once per phone (src/memo.ts): a request masks its phone in each of its audit events.
const masked = remembered((e164: string) => {
  const parsed = parsePhoneNumberFromString(e164, plans());
  const countryCode = parsed ? parsed.countryCallingCode : "";
  const national = parsed ? parsed.nationalNumber : e164.slice(1);
  const hidden = Math.max(national.length - 4, 0);
  return `+${countryCode}${national.slice(0, 2)}${"*".repeat(hidden)}${national.slice(2 + hidden)}`;
});

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
  return rememberingHasher(config.PASSWORD_PEPPER, "phone")(phone);
}

/** A number for reading: `+375 29 123-45-67` (E.164 if it will not parse). */
export function formatPhone(e164: string): string {
  return parsePhoneNumberFromString(e164, plans())?.formatInternational() ?? e164;
}

/** The calling code of a region (`BY` → `375`); throws for an unknown region. */
export function callingCode(region: string): string {
  return getCountryCallingCode(region as CountryCode, plans());
}
