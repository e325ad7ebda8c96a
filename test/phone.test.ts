import { describe, expect, it } from "vitest";
import { maskPhone, parsePhone } from "../src/phone";

describe("phone parsing (libphonenumber-js, mobile metadata)", () => {
  it.each([
    ["+375291234567", undefined],
    ["+375 29 123-45-67", undefined],
    ["00375291234567", undefined],
    ["(029) 123.45.67", "BY"],
    ["8 029 123 45 67", "BY"],
  ])("normalises %s to E.164", (input, region) => {
    expect(parsePhone(input, region)?.e164).toBe("+375291234567");
  });

  it("reads an Iranian national number with region IR", () => {
    expect(parsePhone("09123456789", "IR")).toEqual({ e164: "+989123456789", country: "IR", national: "9123456789" });
  });

  it.each([
    ["+375172000000", "a Minsk landline"],
    ["+18002345678", "a US toll-free number"],
    ["+4419", "an impossible number"],
    ["call +375291234567", "text around a number"],
    ["+375291234567 ext. 12", "an extension"],
    ["0291234567", "a national number without a region"],
  ])("refuses %s (%s)", (input) => {
    expect(parsePhone(input)).toBeNull();
  });
});

describe("masking others' phones", () => {
  it("keeps country code, two national digits and the last two", () => {
    expect(maskPhone("+375291234567")).toBe("+37529*****67");
    expect(maskPhone("+989123456789")).toBe("+9891******89");
  });
});
