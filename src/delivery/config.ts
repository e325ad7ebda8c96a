import { z } from "zod";
import type { Templates } from "./messages";
import { type Prices, parsePrices } from "./prices";
import { defaultRoutes, parseRoutes, providersIn, type Routes } from "./routing";
import { CHANNELS, PROVIDER_NAMES, type ProviderName } from "./types";

const base = (fallback: string) => z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).default(fallback);
const secret = z.string().min(8).optional();

/** The delivery variables, merged into the one config schema (src/config.ts). */
export const deliveryVars = {
  SMS_PROVIDER: z.enum(["console", "twilio", "vonage", "kavenegar", "smsru", "webhook"]).optional(),
  SMS_TEMPLATE: z.string().min(1).optional(),
  DELIVERY_ROUTES: z.string().optional(),
  DEFAULT_CHANNEL: z.enum([...CHANNELS, "auto"]).default("sms"),
  DELIVERY_DEADLINE_MS: z.coerce.number().int().positive().default(8000),
  DELIVERY_PRICES: z.string().optional(),
  DEFAULT_LOCALE: z
    .string()
    .regex(/^[a-z]{2,3}$/, "must be a primary language subtag such as en")
    .default("en"),
  MESSAGE_TEMPLATES: z
    .string()
    .optional()
    .transform((raw, ctx): Templates => {
      if (!raw) return {};
      try {
        return z.partialRecord(z.enum(CHANNELS), z.record(z.string().regex(/^[a-z]{2,3}$/), z.string().min(1))).parse(JSON.parse(raw));
      } catch {
        ctx.addIssue({ code: "custom", message: 'must be JSON like {"sms":{"en":"Your {app} code is {code}"}}' });
        return z.NEVER;
      }
    }),
  ANDROID_APP_HASH: z
    .string()
    .regex(/^[A-Za-z0-9+/]{11}$/, "must be the 11-character app hash")
    .optional(),
  TWILIO_API_BASE: base("https://api.twilio.com"),
  VONAGE_API_BASE: base("https://rest.nexmo.com"),
  KAVENEGAR_API_BASE: base("https://api.kavenegar.com"),
  SMSRU_API_BASE: base("https://sms.ru"),
  WHATSAPP_API_BASE: base("https://graph.facebook.com/v23.0"),
  TELEGRAM_GATEWAY_API_BASE: base("https://gatewayapi.telegram.org"),
  VONAGE_API_KEY: z.string().min(1).optional(),
  VONAGE_API_SECRET: secret,
  VONAGE_FROM: z.string().min(1).optional(),
  /** Vonage's signature secret: delivery receipts are accepted only when signed with it. */
  VONAGE_SIGNATURE_SECRET: secret,
  /** A Kavenegar verify template: codes go through verify/lookup.json with it (notices stay on sms/send.json). */
  KAVENEGAR_TEMPLATE: z.string().min(1).optional(),
  SMSRU_API_ID: secret,
  SMSRU_FROM: z.string().min(1).optional(),
  WHATSAPP_TOKEN: z.string().min(16).optional(),
  WHATSAPP_PHONE_NUMBER_ID: z
    .string()
    .regex(/^\d{5,20}$/, "must be the numeric phone number id")
    .optional(),
  WHATSAPP_TEMPLATE: z.string().min(1).optional(),
  WHATSAPP_APP_SECRET: secret,
  /** The token Meta echoes when subscribing the webhook (GET /v1/hooks/delivery/whatsapp_cloud). */
  WHATSAPP_VERIFY_TOKEN: z.string().min(8).optional(),
  TELEGRAM_GATEWAY_TOKEN: z.string().min(16).optional(),
};

type DeliveryValues = z.output<z.ZodObject<typeof deliveryVars>> & {
  SMS_WEBHOOK_URL?: string;
  SMS_WEBHOOK_SECRET?: string;
  TWILIO_ACCOUNT_SID?: string;
  TWILIO_AUTH_TOKEN?: string;
  TWILIO_FROM?: string;
  KAVENEGAR_API_KEY?: string;
};

/** Each provider's required variables (its credentials), checked for every provider a route names. */
const REQUIRED: Record<ProviderName, (keyof DeliveryValues)[]> = {
  console: [],
  twilio: ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"],
  vonage: ["VONAGE_API_KEY", "VONAGE_API_SECRET", "VONAGE_FROM"],
  kavenegar: ["KAVENEGAR_API_KEY"],
  smsru: ["SMSRU_API_ID"],
  webhook: ["SMS_WEBHOOK_URL", "SMS_WEBHOOK_SECRET"],
  whatsapp_cloud: ["WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_TEMPLATE", "WHATSAPP_APP_SECRET"],
  telegram_gateway: ["TELEGRAM_GATEWAY_TOKEN"],
};

export type DeliveryPlan = { routes: Routes; prices: Prices };

/**
 * The routes and prices, or the problems that refuse the config: a malformed route or price
 * list, a provider without its credentials, the console provider in production. Problems name
 * the variable, never its value.
 */
export function checkDelivery(values: DeliveryValues, sandbox: boolean): { plan: DeliveryPlan; problems: string[] } {
  const problems: string[] = [];
  let routes: Routes;
  if (values.DELIVERY_ROUTES) {
    const parsed = parseRoutes(values.DELIVERY_ROUTES);
    if (typeof parsed === "string") problems.push(`DELIVERY_ROUTES ${parsed}`);
    routes = typeof parsed === "string" ? new Map() : parsed;
  } else {
    if (!values.SMS_PROVIDER && !sandbox) problems.push("SMS_PROVIDER (or DELIVERY_ROUTES) is required in production");
    routes = defaultRoutes(values.SMS_PROVIDER, sandbox);
  }
  const named = providersIn(routes);
  if (!sandbox && named.has("console")) {
    problems.push(
      `${values.DELIVERY_ROUTES ? "DELIVERY_ROUTES" : "SMS_PROVIDER"} names the development console provider, refused in production`,
    );
  }
  for (const provider of PROVIDER_NAMES.filter((name) => named.has(name))) {
    for (const name of REQUIRED[provider]) if (!values[name]) problems.push(`${name} is required for the ${provider} provider`);
  }
  const prices = parsePrices(values.DELIVERY_PRICES ?? "");
  if (typeof prices === "string") problems.push(`DELIVERY_PRICES ${prices}`);
  return { plan: { routes, prices: typeof prices === "string" ? new Map() : prices }, problems };
}
