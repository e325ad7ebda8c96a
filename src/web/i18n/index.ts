import { en } from "./en";
import { ru } from "./ru";
import type { Messages } from "./types";

export type { Messages } from "./types";

export const LANGUAGES = { en, ru } as const satisfies Record<string, Messages>;
export type Lang = keyof typeof LANGUAGES;

export const isLang = (value: string | undefined): value is Lang => value !== undefined && Object.hasOwn(LANGUAGES, value);

/**
 * The page language: the `lang` cookie (the switch) wins; otherwise the first supported
 * language of `Accept-Language` by q-value (RFC 9110 §12.5.4; `ru-RU` counts as `ru`, q=0 means
 * "not this one"); English when nothing matches.
 */
export function pickLanguage(acceptLanguage: string | undefined, cookie: string | undefined): Lang {
  if (isLang(cookie)) return cookie;
  const ranked = (acceptLanguage ?? "")
    .split(",")
    .slice(0, 32)
    .map((entry, index) => {
      const [tag = "", ...params] = entry.trim().split(";");
      const q = params.map((param) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/i.exec(param)?.[1]).find(Boolean);
      return { base: tag.trim().toLowerCase().split("-")[0] ?? "", q: q === undefined ? 1 : Number(q), index };
    })
    .filter((entry) => entry.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  return ranked.map((entry) => entry.base).find(isLang) ?? "en";
}
