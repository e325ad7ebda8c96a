import { parsePhoneNumberFromString } from "libphonenumber-js/mobile";

/** The user's own number for reading: `+375 29 123-45-67` (E.164 if it will not parse). */
export function formatPhone(e164: string): string {
  return parsePhoneNumberFromString(e164)?.formatInternational() ?? e164;
}
