import type { Config } from "../../config";
import { callProvider, hmacSha256Hex, httpError } from "../http";
import type { Fetcher, Provider, SendResult } from "../types";

// Our own SMS gateway contract: POST `{ to, body, code, purpose, channel }` as JSON to
// SMS_WEBHOOK_URL with `X-Webhook-Timestamp` and `X-Webhook-Signature: sha256=<hex HMAC-SHA-256,
// keyed by SMS_WEBHOOK_SECRET, of "<timestamp>.<raw body>">`. Any 2xx is success.

export function webhookProvider(config: Config, fetcher: Fetcher): Provider {
  return {
    name: "webhook",
    async send(message): Promise<SendResult> {
      const { to, text: body, code, purpose, channel } = message;
      const raw = JSON.stringify({ to, body, code, purpose, channel });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signature = await hmacSha256Hex(config.SMS_WEBHOOK_SECRET ?? "", `${timestamp}.${raw}`);
      const answer = await callProvider(
        fetcher,
        config.SMS_WEBHOOK_URL ?? "",
        {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": `sha256=${signature}` },
          body: raw,
        },
        message.signal,
      );
      if (!("response" in answer)) return answer;
      return answer.response.ok ? { ok: true, messageId: null } : httpError(answer.response);
    },
  };
}
