import type { Channel } from "./types";

// Message texts per channel and locale. WhatsApp's and Telegram's wording is the platform's own
// (Meta's authentication template, the Gateway's template): their text here is what the log and
// the console provider show.

/** `{app}` and `{code}` are replaced; voice gets the code spelled out digit by digit, twice. */
export type Templates = Partial<Record<Channel, Record<string, string>>>;

const SHIPPED: Required<Templates> = {
  sms: {
    en: "Your {app} code is {code}",
    ru: "Ваш код {app}: {code}",
    fa: "کد {app} شما: {code}",
  },
  voice: {
    en: "Your {app} code is {code}. Once again, your code is {code}.",
    ru: "Ваш код {app}: {code}. Повторяю, ваш код: {code}.",
    fa: "کد {app} شما {code} است. تکرار می‌کنم، کد شما {code} است.",
  },
  whatsapp: {
    en: "{code} is your verification code.",
    ru: "{code} — ваш код подтверждения.",
    fa: "{code} کد تأیید شماست.",
  },
  telegram: {
    en: "Your {app} code is {code}",
    ru: "Ваш код {app}: {code}",
    fa: "کد {app} شما: {code}",
  },
};

export const SHIPPED_LOCALES = ["en", "ru", "fa"] as const;

export type MessageSettings = {
  APP_NAME: string;
  SMS_TEMPLATE?: string;
  MESSAGE_TEMPLATES: Templates;
  DEFAULT_LOCALE: string;
  WEBOTP_DOMAIN?: string;
  ANDROID_APP_HASH?: string;
};

/** The locales a message can be written in: the shipped ones and any MESSAGE_TEMPLATES adds. */
export function knownLocales(settings: Pick<MessageSettings, "MESSAGE_TEMPLATES">): Set<string> {
  const locales = new Set<string>(SHIPPED_LOCALES);
  for (const byLocale of Object.values(settings.MESSAGE_TEMPLATES)) for (const locale of Object.keys(byLocale ?? {})) locales.add(locale);
  return locales;
}

/**
 * The message's locale: the request's `locale` field, else the best `Accept-Language` match
 * (by q-value, primary subtag), else DEFAULT_LOCALE.
 */
export function pickLocale(settings: MessageSettings, field: string | undefined, acceptLanguage: string | undefined): string {
  const known = knownLocales(settings);
  const primary = (tag: string) => tag.trim().toLowerCase().split(/[-_]/)[0] ?? "";
  if (field && known.has(primary(field))) return primary(field);
  const ranked = (acceptLanguage ?? "")
    .split(",")
    .map((part, index) => {
      const [tag = "", ...params] = part.split(";");
      const q = Number(
        params
          .find((p) => p.trim().startsWith("q="))
          ?.trim()
          .slice(2) ?? 1,
      );
      return { tag: primary(tag), q: Number.isFinite(q) ? q : 0, index };
    })
    .filter((entry) => entry.q > 0 && known.has(entry.tag))
    .sort((a, b) => b.q - a.q || a.index - b.index);
  return ranked[0]?.tag ?? settings.DEFAULT_LOCALE;
}

function template(settings: MessageSettings, channel: Channel, locale: string): string {
  const override = settings.MESSAGE_TEMPLATES[channel];
  if (override?.[locale]) return override[locale];
  if (channel === "sms" && settings.SMS_TEMPLATE) return settings.SMS_TEMPLATE;
  const shipped = SHIPPED[channel];
  return shipped[locale] ?? override?.[settings.DEFAULT_LOCALE] ?? shipped[settings.DEFAULT_LOCALE] ?? shipped.en ?? "{code}";
}

/**
 * The text of a code message. SMS gets the Android SMS Retriever hash and then the WebOTP line:
 * WebOTP reads only the last line (`@domain #code`), the Retriever finds its hash anywhere.
 */
export function renderCode(settings: MessageSettings, channel: Channel, locale: string, code: string): string {
  // Spoken digit by digit ("1, 2, 3"), so a text-to-speech voice does not read "123456" as a number.
  const shown = channel === "voice" ? code.split("").join(", ") : code;
  const text = template(settings, channel, locale).replaceAll("{app}", settings.APP_NAME).replaceAll("{code}", shown);
  if (channel !== "sms") return text;
  const lines = [text];
  if (settings.ANDROID_APP_HASH) lines.push(settings.ANDROID_APP_HASH);
  if (settings.WEBOTP_DOMAIN) lines.push(`@${settings.WEBOTP_DOMAIN} #${code}`);
  return lines.join("\n\n");
}

// GSM 03.38: the basic set costs one septet a character, the extension table two (escape + char).
const GSM_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION = "^{}\\[~]|€\f";

/**
 * How many SMS parts a text takes: GSM-7 (160 septets, 153 a part when split) when every
 * character is in the GSM alphabet, else UCS-2 (70 UTF-16 units, 67 a part).
 */
export function smsSegments(text: string): { encoding: "gsm7" | "ucs2"; segments: number } {
  let septets = 0;
  for (const char of text) {
    if (GSM_BASIC.includes(char)) septets += 1;
    else if (GSM_EXTENSION.includes(char)) septets += 2;
    else {
      const units = text.length;
      return { encoding: "ucs2", segments: units <= 70 ? 1 : Math.ceil(units / 67) };
    }
  }
  return { encoding: "gsm7", segments: septets <= 160 ? 1 : Math.ceil(septets / 153) };
}
