import type { Config } from "../../config";
import { timingSafeEqual } from "../../crypto";
import { callProvider, hmacSha256Hex, jsonOf } from "../http";
import type { Callback, Fetcher, Provider, Receipt, ReceiptStatus, SendResult } from "../types";

// Meta WhatsApp Cloud API: POST /{phone-number-id}/messages with a Bearer token and a JSON
// `template` message: an authentication template (category AUTHENTICATION, copy-code button)
// whose body and button URL each take the code as their one parameter. Meta's language codes
// match ours (en, ru, fa). Status webhooks are signed with X-Hub-Signature-256: sha256=<hex
// HMAC-SHA256 of the raw body, keyed by the app secret>.

// Error codes meaning "this number cannot be reached on WhatsApp": undeliverable (no account,
// or not on a current client), and a test number's recipient outside the allowed list.
const UNREACHABLE = new Set([131026, 131030, 131049]);

const STATUS: Record<string, ReceiptStatus> = { sent: "sent", delivered: "delivered", read: "delivered", failed: "failed" };

export function whatsappCloudProvider(config: Config, fetcher: Fetcher): Provider {
  const url = `${config.WHATSAPP_API_BASE.replace(/\/$/, "")}/${config.WHATSAPP_PHONE_NUMBER_ID ?? ""}/messages`;
  return {
    name: "whatsapp_cloud",
    async send(message): Promise<SendResult> {
      const code = message.code ?? "";
      const body = {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to: message.to.replace(/^\+/, ""),
        type: "template",
        template: {
          name: config.WHATSAPP_TEMPLATE,
          language: { code: message.locale },
          components: [
            { type: "body", parameters: [{ type: "text", text: code }] },
            { type: "button", sub_type: "url", index: "0", parameters: [{ type: "text", text: code }] },
          ],
        },
      };
      const answer = await callProvider(
        fetcher,
        url,
        {
          method: "POST",
          headers: { Authorization: `Bearer ${config.WHATSAPP_TOKEN ?? ""}`, "Content-Type": "application/json" },
          body: JSON.stringify(body),
        },
        message.signal,
      );
      if (!("response" in answer)) return answer;
      const json = await jsonOf(answer.response);
      const id = (json?.messages as { id?: unknown }[] | undefined)?.[0]?.id;
      if (answer.response.ok && typeof id === "string") return { ok: true, messageId: id };
      const error = Number((json?.error as { code?: unknown } | undefined)?.code ?? Number.NaN);
      const errorCode = `whatsapp_${Number.isNaN(error) ? answer.response.status : error}`;
      return { ok: false, reason: UNREACHABLE.has(error) ? "unreachable" : "error", errorCode };
    },
    async verifyReceipt(callback: Callback): Promise<Receipt[] | null> {
      const header = callback.headers.get("X-Hub-Signature-256") ?? "";
      if (!config.WHATSAPP_APP_SECRET || !header.startsWith("sha256=")) return null;
      const expected = await hmacSha256Hex(config.WHATSAPP_APP_SECRET, callback.body);
      if (!timingSafeEqual(expected, header.slice("sha256=".length).toLowerCase())) return null;
      return statusesOf(callback.body);
    },
  };
}

type Notification = {
  entry?: { changes?: { value?: { statuses?: { id?: string; status?: string; errors?: { code?: number }[] }[] } }[] }[];
};

function statusesOf(raw: string): Receipt[] {
  let body: Notification;
  try {
    body = JSON.parse(raw) as Notification;
  } catch {
    return [];
  }
  const receipts: Receipt[] = [];
  for (const entry of body.entry ?? []) {
    for (const change of entry.changes ?? []) {
      for (const status of change.value?.statuses ?? []) {
        const mapped = STATUS[status.status ?? ""];
        if (!status.id || !mapped) continue;
        const code = status.errors?.[0]?.code;
        receipts.push({ messageId: status.id, status: mapped, errorCode: code != null ? String(code) : null });
      }
    }
  }
  return receipts;
}
