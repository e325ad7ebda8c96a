import type { Config } from "../config";
import type { Purpose } from "../otp/gate";

/** A code message carries its `code` and `purpose`; a security notice has purpose `notice` and no code. */
export type SmsMessage = { to: string; body: string; code: string | null; purpose: Purpose | "notice" };

/** Delivers one text. Rejects when the provider fails or times out. */
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

/**
 * POSTs `{ to, body, code, purpose }` to `SMS_WEBHOOK_URL`, signed with
 * `X-Webhook-Signature: sha256=<hex HMAC-SHA-256 of "<timestamp>.<raw body>">`.
 */
function webhookSender(config: Config, fetcher: typeof fetch): SmsSender {
  const url = config.SMS_WEBHOOK_URL ?? "";
  const secret = config.SMS_WEBHOOK_SECRET ?? "";
  return {
    async send(message) {
      const raw = JSON.stringify(message);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
      ]);
      const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${timestamp}.${raw}`));
      const signature = [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
      const response = await fetcher(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": `sha256=${signature}` },
        body: raw,
        signal: AbortSignal.timeout(config.SMS_TIMEOUT_MS),
      });
      if (!response.ok) throw new Error(`webhook answered ${response.status}`);
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
    default:
      throw new Error(`SMS provider ${config.SMS_PROVIDER} is not available yet`);
  }
}

/**
 * Sends a security notice (password or phone changed). Best effort: the change already happened,
 * so a failed notice is logged, not reported to the client.
 */
export async function sendNotice(sms: SmsSender, to: string, body: string): Promise<void> {
  try {
    await sms.send({ to, body, code: null, purpose: "notice" });
  } catch (error) {
    console.error(`notice sms failed: ${error instanceof Error ? error.message : "unknown error"}`);
  }
}
