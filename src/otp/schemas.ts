import type { Config } from "../config";
import { z } from "../http/openapi";
import { ApiError, fail } from "../http/problem";
import { UserSchema } from "../users/schemas";

const phoneField = z.string().trim().min(1).max(64).openapi({
  description: "E.164, `00`-prefixed, or national format with `region`. Spaces, dashes, dots and parentheses are ignored.",
  example: "+375 29 123-45-67",
});
const regionField = z
  .string()
  .regex(/^[A-Za-z]{2}$/, "must be an ISO 3166-1 alpha-2 code")
  .optional()
  .openapi({ description: "Region for national formats; defaults to DEFAULT_REGION.", example: "BY" });

export const PurposeSchema = z.enum(["login", "reset_password", "change_phone"]);

const channelField = z.enum(["sms", "whatsapp", "telegram", "voice", "auto"]).optional().openapi({
  description:
    "How to send the code: one channel, or `auto` (the country's route in order, falling over to the next entry). Defaults to DEFAULT_CHANNEL.",
  example: "auto",
});
const localeField = z
  .string()
  .regex(/^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$/, "must be a language tag such as ru or fa-IR")
  .optional()
  .openapi({
    description: "Language of the message (`en`, `ru`, `fa` ship). Defaults to Accept-Language, then DEFAULT_LOCALE.",
    example: "ru",
  });

export const SendCodeRequest = z
  .object({
    phone: phoneField,
    // Optional, defaulted in the handler: with `.default()` the generated schema would carry
    // `default`, which openapi-typescript (default options) turns into a required field.
    purpose: PurposeSchema.optional().openapi({ description: "What the code is for. Default: `login`." }),
    region: regionField,
    channel: channelField,
    locale: localeField,
    turnstile_token: z.string().max(2048).optional(),
  })
  .openapi("SendCodeRequest");

export const SendCodeResponse = z
  .object({
    phone: z.string().openapi({ example: "+375291234567" }),
    purpose: PurposeSchema,
    channel: z
      .enum(["sms", "whatsapp", "telegram", "voice"])
      .openapi({ description: "The channel that carried the code.", example: "sms" }),
    expires_in: z.number().int().openapi({ example: 300 }),
    resend_in: z.number().int().openapi({ example: 60 }),
    code_length: z.number().int().openapi({ example: 6 }),
    dev_code: z.string().optional().openapi({ description: "Development sandbox only." }),
  })
  .openapi("SendCodeResponse");

/**
 * The form (`OTP_LENGTH` digits) is checked against config by `requireCodeLength`, so a refusal
 * can say how many digits are expected; the schema only bounds the size.
 */
export const codeField = z
  .string()
  .max(64)
  .openapi({ description: "The code's digits: `code_length` of the send answer (`OTP_LENGTH`, 6 by default).", example: "123456" });

/**
 * A code that is not `OTP_LENGTH` digits is a validation failure, refused before anything is read
 * or counted (spec: it is not a guess). Every route that takes a code calls this first.
 */
export function requireCodeLength(config: Config, code: string) {
  if (code.length === config.OTP_LENGTH && /^\d+$/.test(code)) return;
  const message = `must be ${config.OTP_LENGTH} digits`;
  throw new ApiError(fail("validation_failed", { detail: `code: ${message}`, errors: [{ path: "code", message }] }));
}

export const VerifyCodeRequest = z
  .object({
    phone: phoneField,
    code: codeField,
    region: regionField,
    invite_code: z.string().max(32).optional(),
    turnstile_token: z
      .string()
      .max(2048)
      .optional()
      .openapi({ description: "Needed only while a guess storm is on and Turnstile is configured (`captcha_required` otherwise)." }),
  })
  .openapi("VerifyCodeRequest");

export const TokenResponse = z
  .object({
    access_token: z.string(),
    token_type: z.literal("Bearer"),
    expires_in: z.number().int().openapi({ example: 900 }),
    refresh_token: z.string(),
    refresh_expires_in: z.number().int().openapi({ example: 2592000 }),
    is_new_user: z.boolean(),
    user: UserSchema.optional(),
  })
  .openapi("TokenResponse");
