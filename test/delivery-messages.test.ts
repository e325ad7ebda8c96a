import { describe, expect, it } from "vitest";
import { pickLocale, smsSegments } from "../src/delivery/messages";
import { parseRoutes } from "../src/delivery/routing";

describe("SMS segments", () => {
  it.each([
    ["160 GSM-7 characters: one part", "a".repeat(160), { encoding: "gsm7", segments: 1 }],
    ["161: two parts of 153", "a".repeat(161), { encoding: "gsm7", segments: 2 }],
    ["extension characters count twice (80 × €)", "€".repeat(80), { encoding: "gsm7", segments: 1 }],
    ["81 × € is 162 septets: two parts", "€".repeat(81), { encoding: "gsm7", segments: 2 }],
    ["Cyrillic is UCS-2: 70 a part", "ж".repeat(70), { encoding: "ucs2", segments: 1 }],
    ["71 UCS-2 characters: two parts of 67", "ж".repeat(71), { encoding: "ucs2", segments: 2 }],
    ["an emoji is two UTF-16 units", "😀".repeat(36), { encoding: "ucs2", segments: 2 }],
  ])("%s", (_name, text, expected) => {
    expect(smsSegments(text)).toEqual(expected);
  });
});

describe("locale", () => {
  const settings = { APP_NAME: "x", MESSAGE_TEMPLATES: { sms: { uk: "{code}" } }, DEFAULT_LOCALE: "en" };
  it("prefers the field, then Accept-Language by q, then DEFAULT_LOCALE", () => {
    expect(pickLocale(settings, "ru-RU", "fa")).toBe("ru");
    expect(pickLocale(settings, "de", "de, fa;q=0.4, ru;q=0.9")).toBe("ru");
    expect(pickLocale(settings, undefined, "uk-UA")).toBe("uk");
    expect(pickLocale(settings, undefined, "de, ru;q=0")).toBe("en");
  });
});

describe("DELIVERY_ROUTES", () => {
  it("parses the contract's example", () => {
    const routes = parseRoutes("IR:telegram:telegram_gateway,sms:kavenegar;RU:sms:smsru,sms:twilio;*:sms:twilio,sms:vonage");
    expect(routes).toEqual(
      new Map([
        [
          "IR",
          [
            { channel: "telegram", provider: "telegram_gateway" },
            { channel: "sms", provider: "kavenegar" },
          ],
        ],
        [
          "RU",
          [
            { channel: "sms", provider: "smsru" },
            { channel: "sms", provider: "twilio" },
          ],
        ],
        [
          "*",
          [
            { channel: "sms", provider: "twilio" },
            { channel: "sms", provider: "vonage" },
          ],
        ],
      ]),
    );
  });
  it("refuses a provider on a channel it cannot carry, and a bad country", () => {
    expect(typeof parseRoutes("*:whatsapp:twilio")).toBe("string");
    expect(typeof parseRoutes("Russia:sms:smsru")).toBe("string");
  });
});
