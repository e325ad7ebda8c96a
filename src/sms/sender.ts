import type { Config } from "../config";
import type { Purpose } from "../otp/gate";

/** A code message carries its `code` and `purpose`; a security notice has purpose `notice` and no code. */
export type SmsMessage = { to: string; body: string; code: string | null; purpose: Purpose | "notice" };

/** Delivers one text. Rejects when the provider fails, answers non-2xx, or times out. */
export interface SmsSender {
  send(message: SmsMessage): Promise<void>;
}

/** The message text: `SMS_TEMPLATE`, then the WebOTP line (`@domain #code`) when configured. */
export function renderSms(config: Config, code: string): string {
  const text = config.SMS_TEMPLATE.replaceAll("{app}", config.APP_NAME).replaceAll("{code}", code);
  return config.WEBOTP_DOMAIN ? `${text}\n\n@${config.WEBOTP_DOMAIN} #${code}` : text;
}

/** Development only (config refuses it in production): the text goes to the log. */
const consoleSender: SmsSender = {
  async send({ to, body }) {
    console.log(`[sms:console] to ${to}: ${body}`);
  },
};

const encoder = new TextEncoder();

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(message));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** One provider call with the configured timeout; any non-2xx is a failure (status only, no body in logs). */
async function deliver(fetcher: typeof fetch, config: Config, provider: string, url: string, init: RequestInit): Promise<void> {
  const response = await fetcher(url, { ...init, signal: AbortSignal.timeout(config.SMS_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`${provider} answered ${response.status}`);
}

/**
 * POSTs `{ to, body, code, purpose }` to `SMS_WEBHOOK_URL`, signed with
 * `X-Webhook-Signature: sha256=<hex HMAC-SHA-256 of "<timestamp>.<raw body>">`.
 */
function webhookSender(config: Config, fetcher: typeof fetch): SmsSender {
  return {
    async send(message) {
      const raw = JSON.stringify(message);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signature = await hmacHex(config.SMS_WEBHOOK_SECRET ?? "", `${timestamp}.${raw}`);
      await deliver(fetcher, config, "webhook", config.SMS_WEBHOOK_URL ?? "", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": `sha256=${signature}` },
        body: raw,
      });
    },
  };
}

/** Twilio Programmable Messaging: form-encoded `To`, `From`, `Body`, HTTP basic auth (SID:token). */
function twilioSender(config: Config, fetcher: typeof fetch): SmsSender {
  const sid = config.TWILIO_ACCOUNT_SID ?? "";
  const url = `https://api.twilio.com/2010-04-01/Accounts/${encodeURIComponent(sid)}/Messages.json`;
  const authorization = `Basic ${btoa(`${sid}:${config.TWILIO_AUTH_TOKEN ?? ""}`)}`;
  return {
    async send({ to, body }) {
      await deliver(fetcher, config, "twilio", url, {
        method: "POST",
        headers: { Authorization: authorization, "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ To: to, From: config.TWILIO_FROM ?? "", Body: body }).toString(),
      });
    },
  };
}

/** Kavenegar `sms/send.json`: the API key in the path, form-encoded `receptor`, `sender`, `message`. */
function kavenegarSender(config: Config, fetcher: typeof fetch): SmsSender {
  const url = `https://api.kavenegar.com/v1/${encodeURIComponent(config.KAVENEGAR_API_KEY ?? "")}/sms/send.json`;
  return {
    async send({ to, body }) {
      const form = new URLSearchParams({ receptor: to, message: body });
      if (config.KAVENEGAR_SENDER) form.set("sender", config.KAVENEGAR_SENDER);
      await deliver(fetcher, config, "kavenegar", url, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: form.toString(),
      });
    },
  };
}

/** The configured provider. `fetcher` is injectable so tests drive outbound HTTP. */
export function createSmsSender(config: Config, fetcher: typeof fetch = fetch): SmsSender {
  switch (config.SMS_PROVIDER) {
    case "console":
      return consoleSender;
    case "webhook":
      return webhookSender(config, fetcher);
    case "twilio":
      return twilioSender(config, fetcher);
    case "kavenegar":
      return kavenegarSender(config, fetcher);
  }
}

/**
 * Sends a security notice (password or phone changed). Best effort: the change already happened,
 * so a failed notice is logged, not reported to the client. Test phones never get an SMS.
 */
export async function sendNotice(config: Config, sms: SmsSender, to: string, body: string): Promise<void> {
  if (config.TEST_PHONES.has(to)) return;
  try {
    await sms.send({ to, body, code: null, purpose: "notice" });
  } catch (error) {
    console.error(`notice sms failed: ${error instanceof Error ? error.message : "unknown error"}`);
  }
}
