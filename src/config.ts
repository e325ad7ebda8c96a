import { z } from "zod";
import { checkDelivery, type DeliveryPlan, deliveryVars } from "./delivery/config";

/** A whole number above zero (a duration, count or limit) with its default. */
const positive = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const list = z
  .string()
  .optional()
  .transform((raw) =>
    (raw ?? "")
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean),
  );

const jwkSet = z
  .string({ error: "is required (a JSON Web Key Set of EC P-256 private keys)" })
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: "is not valid JSON" });
      return z.NEVER;
    }
  })
  .pipe(
    z.object({
      keys: z
        .array(
          z.looseObject({
            kty: z.literal("EC"),
            crv: z.literal("P-256"),
            kid: z.string().min(1).max(64),
            x: z.string(),
            y: z.string(),
            d: z.string(),
          }),
        )
        .min(1, "must hold at least one key"),
    }),
  );

/** The old systems' client APIs this Worker can stand in for (see src/compat). */
export const COMPAT_API_NAMES = ["users", "register", "auth", "usr"] as const;
export type CompatApi = (typeof COMPAT_API_NAMES)[number];

/** The raw variables and secrets, as wrangler hands them to the Worker. */
const configSchema = z.object({
  ENVIRONMENT: z.enum(["development", "production"]).default("production"),
  APP_NAME: z.string().min(1).default("phone-auth-edge"),
  JWT_ISSUER: z.string().min(1).default("phone-auth-edge"),
  JWT_AUDIENCE: z.string().min(1).default("phone-auth-edge"),
  JWT_PRIVATE_KEYS: jwkSet,
  ACCESS_TOKEN_TTL_SECONDS: positive(900),
  REFRESH_TOKEN_TTL_SECONDS: positive(2_592_000),
  REFRESH_REUSE_GRACE_SECONDS: z.coerce.number().int().min(0).default(10),
  SESSION_IDLE_SECONDS: positive(1_209_600),
  OTP_LENGTH: z.coerce.number().int().min(4).max(10).default(6),
  OTP_TTL_SECONDS: positive(300),
  OTP_MAX_ATTEMPTS: positive(5),
  OTP_RESEND_SECONDS: positive(60),
  OTP_LOCKOUT_FAILURES: positive(10),
  OTP_LOCKOUT_SECONDS: positive(3600),
  OTP_HOURLY_LIMIT: positive(5),
  OTP_DAILY_LIMIT: positive(10),
  OTP_IP_PER_MINUTE: positive(5),
  OTP_IP_PER_DAY: positive(50),
  VERIFY_IP_PER_MINUTE: positive(10),
  PASSWORD_PEPPER: z.string({ error: "is required" }).min(32, "must be at least 32 characters"),
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(128).default(15),
  PASSWORD_LOCKOUT_SECONDS: positive(900),
  PASSWORD_LOCKOUT_FAILURES: positive(5),
  PASSWORD_IP_PER_MINUTE: positive(10),
  CORS_ORIGINS: list,
  /** The public origin: `servers` in /openapi.json (unset: none, tools use the document's own origin) and the URL delivery providers call back and sign against. */
  PUBLIC_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  DEFAULT_REGION: z
    .string()
    .regex(/^[A-Za-z]{2}$/, "must be an ISO 3166-1 alpha-2 code")
    .transform((s) => s.toUpperCase())
    .optional(),
  ALLOWED_COUNTRIES: list.pipe(
    z.array(
      z
        .string()
        .regex(/^[A-Za-z]{2}$/)
        .transform((s) => s.toUpperCase()),
    ),
  ),
  TEST_PHONES: list,
  ADMIN_PHONES: list,
  REFERRAL_BONUS_POINTS: z.coerce.number().int().min(0).default(100),
  AUDIT_RETENTION_DAYS: positive(90),
  ...deliveryVars,
  SMS_TIMEOUT_MS: positive(5000),
  SMS_DAILY_LIMIT: z.coerce.number().int().positive().optional(),
  SMS_WEBHOOK_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  SMS_WEBHOOK_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  TWILIO_ACCOUNT_SID: z
    .string()
    .regex(/^AC[0-9a-fA-F]{32}$/, "must look like AC followed by 32 hex digits")
    .optional(),
  TWILIO_AUTH_TOKEN: z.string().min(16).optional(),
  TWILIO_FROM: z.string().min(1).optional(),
  KAVENEGAR_API_KEY: z.string().min(8).optional(),
  KAVENEGAR_SENDER: z.string().min(1).optional(),
  TURNSTILE_SECRET_KEY: z.string().min(1).optional(),
  TURNSTILE_SITE_KEY: z.string().min(1).optional(),
  /** Per-country daily SMS caps, e.g. `IR:500,BY:100` (beside the global SMS_DAILY_LIMIT). */
  SMS_COUNTRY_DAILY_LIMITS: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const limits = new Map<string, number>();
      for (const entry of (raw ?? "")
        .split(",")
        .map((part) => part.trim())
        .filter(Boolean)) {
        const match = /^([A-Za-z]{2}):(\d{1,9})$/.exec(entry);
        if (!match) {
          ctx.addIssue({ code: "custom", message: 'entries must look like "IR:500"' });
          return z.NEVER;
        }
        limits.set((match[1] as string).toUpperCase(), Number(match[2]));
      }
      return limits;
    }),
  WEBOTP_DOMAIN: z.string().min(1).optional(),
  /** How long one D1 or KV call may take before the request answers 503 (src/storage/guard.ts). */
  STORAGE_TIMEOUT_MS: positive(3000),
  /** Which old client APIs to serve (`users,register,auth,usr`); unset means all, `none` means none. */
  COMPAT_APIS: z
    .string()
    .default(COMPAT_API_NAMES.join(","))
    .transform((raw) =>
      raw
        .split(",")
        .map((part) => part.trim().toLowerCase())
        .filter((part) => part && part !== "none"),
    )
    .pipe(z.array(z.enum(COMPAT_API_NAMES, { error: `entries must be among ${COMPAT_API_NAMES.join(", ")} or none` }))),
  /** Lifetime of the `users` API's token: those clients never refresh (still revocable). */
  COMPAT_TOKEN_TTL_SECONDS: positive(86_400),
  /** Passkeys (src/passkeys): the WebAuthn relying party. Without all three the routes answer 404. */
  WEBAUTHN_RP_ID: z
    .string()
    .regex(
      /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/,
      "must be a lowercase host name",
    )
    .optional(),
  WEBAUTHN_RP_NAME: z.string().min(1).max(64).optional(),
  /** The page origins a passkey ceremony may run on (`https://auth.example.com,https://example.com`). */
  WEBAUTHN_ORIGINS: list.pipe(z.array(z.url({ protocol: /^https?$/, error: "entries must be http(s) origins" }))),
  PASSKEY_CHALLENGE_SECONDS: positive(300),
  /** Passkey sign-in requests (options and verify) per client IP per minute. */
  PASSKEY_IP_PER_MINUTE: positive(30),
  /** Lifetime of the `register` session_id in KV: KV refuses TTLs under 60 s, and set-password needs a sign-in within 300 s. */
  COMPAT_SESSION_TTL_SECONDS: z.coerce.number().int().min(60).max(300).default(120),
  /** How long a fraud-guard block lasts when no length is given (spec: Fraud guard). */
  FRAUD_BLOCK_SECONDS: positive(43_200),
  /** `off` turns the automatic blocks off (manual blocks still work). */
  FRAUD_GUARD: z.enum(["on", "off"]).default("on"),
  /** The automatic block's window, and the codes a prefix / a country must have sent in it to be judged. */
  FRAUD_WINDOW_SECONDS: positive(3600),
  FRAUD_MIN_SENDS: positive(20),
  FRAUD_COUNTRY_MIN_SENDS: positive(200),
  /** An unverified code is judged (counts against conversion) only once it is this old. */
  FRAUD_GRACE_SECONDS: positive(120),
  /** Verified ÷ judged codes under this blocks the destination. */
  FRAUD_MIN_CONVERSION: z.coerce.number().min(0).max(1).default(0.2),
  /** Wrong guesses across all phones within an hour above which a guess storm is raised. */
  FRAUD_GLOBAL_FAILURES: positive(1000),
  /** Webhook deliveries: attempts before a delivery is kept as dead, and each attempt's deadline. */
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(8),
  WEBHOOK_TIMEOUT_MS: positive(5000),
  /** DNS-over-HTTPS resolver (JSON API) that vets endpoint hosts in production: no private addresses. */
  WEBHOOK_DNS_RESOLVER: z.url({ protocol: /^https$/, error: "must be an https URL" }).default("https://cloudflare-dns.com/dns-query"),
});

type RawConfig = z.output<typeof configSchema>;

/** The validated settings every module reads instead of `env` strings. */
export type Config = Omit<RawConfig, "TEST_PHONES"> & {
  /** DELIVERY_ROUTES (or SMS_PROVIDER) and DELIVERY_PRICES, parsed (src/delivery/config.ts). */
  delivery: DeliveryPlan;
  /** The WebAuthn relying party, or null when passkeys are off (their routes answer 404). */
  webauthn: WebAuthnConfig | null;
  /** Sandbox: `dev_code` in responses. Only ever true when ENVIRONMENT=development. */
  sandbox: boolean;
  /** E.164 test phone → its fixed code. */
  TEST_PHONES: Map<string, string>;
};

export type WebAuthnConfig = { rpId: string; rpName: string; origins: string[] };

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

const cache = new WeakMap<object, ConfigResult>();

/**
 * Parses and validates the Worker's variables once per `env` object (once per isolate in
 * production). Unsafe production settings are refused here, so no route can serve with them.
 * Problems name the variable, never its value.
 */
export function loadConfig(env: object): ConfigResult {
  let result = cache.get(env);
  if (!result) {
    result = parseConfig(env as Record<string, unknown>);
    cache.set(env, result);
  }
  return result;
}

function parseConfig(env: Record<string, unknown>): ConfigResult {
  // Empty strings mean "unset" (wrangler writes `VAR = ""` for cleared vars).
  const raw = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`) };
  }
  const values = parsed.data;
  const sandbox = values.ENVIRONMENT === "development";
  const problems: string[] = [];
  const delivery = checkDelivery(values, sandbox);
  problems.push(...delivery.problems);
  const testPhones = new Map<string, string>();
  for (const entry of values.TEST_PHONES) {
    const [phone, code] = entry.split(":");
    if (!phone || !/^\+[1-9]\d{6,14}$/.test(phone) || !code || !new RegExp(`^\\d{${values.OTP_LENGTH}}$`).test(code)) {
      problems.push(`TEST_PHONES has an entry that is not "+E164:${"d".repeat(values.OTP_LENGTH)}"`);
      break;
    }
    testPhones.set(phone, code);
  }
  if (values.ADMIN_PHONES.some((phone) => !/^\+[1-9]\d{6,14}$/.test(phone))) problems.push("ADMIN_PHONES has an entry that is not +E164");
  // A test phone's code is fixed and public to whoever configured it: never an admin in production.
  if (!sandbox && values.ADMIN_PHONES.some((phone) => testPhones.has(phone))) {
    problems.push("ADMIN_PHONES lists a TEST_PHONES number, refused in production");
  }
  const webauthn = webauthnConfig(values, problems);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: { ...values, delivery: delivery.plan, sandbox, TEST_PHONES: testPhones, webauthn } };
}

/** Passkeys are on when the RP ID, name and origins are all set; each origin must sit on the RP ID (WebAuthn §5.1.4.1). */
function webauthnConfig(values: RawConfig, problems: string[]): WebAuthnConfig | null {
  const { WEBAUTHN_RP_ID: rpId, WEBAUTHN_RP_NAME: rpName, WEBAUTHN_ORIGINS: entries } = values;
  if (!rpId && !rpName && entries.length === 0) return null;
  if (!rpId || !rpName || entries.length === 0) {
    problems.push("WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME and WEBAUTHN_ORIGINS are set together or not at all");
    return null;
  }
  const origins = entries.map((entry) => new URL(entry));
  if (origins.some((url) => url.hostname !== rpId && !url.hostname.endsWith(`.${rpId}`))) {
    problems.push("WEBAUTHN_ORIGINS has an origin that is not the WEBAUTHN_RP_ID host or one of its subdomains");
  }
  if (values.ENVIRONMENT !== "development" && origins.some((url) => url.protocol !== "https:")) {
    problems.push("WEBAUTHN_ORIGINS has a plain-http origin, refused in production");
  }
  return { rpId, rpName, origins: origins.map((url) => url.origin) };
}
