import type { Config } from "../../config";
import { timingSafeEqual } from "../../crypto";
import { hmacSha256Hex, httpError, jsonOf, postForm } from "../http";
import { smsSegments } from "../messages";
import type { Callback, Fetcher, Provider, Receipt, ReceiptStatus, SendResult } from "../types";
import { receiptUrl } from "./callbacks";

// Vonage SMS API: POST /sms/json, form-encoded api_key, api_secret, from, to (digits, no "+"),
// text, `type=unicode` for non-GSM text. HTTP 200 even on failure: each part answers its own
// `status` ("0" = accepted). Delivery receipts are checked as signed messages: `sig` = hex
// HMAC-SHA256, keyed by the signature secret, of every other parameter sorted by name as
// "&name=value" (with "&" and "=" in values replaced by "_").

const STATUS: Record<string, ReceiptStatus> = {
  accepted: "sent",
  buffered: "sent",
  delivered: "delivered",
  expired: "undelivered",
  failed: "failed",
  rejected: "failed",
};

export function vonageProvider(config: Config, fetcher: Fetcher): Provider {
  const url = `${config.VONAGE_API_BASE.replace(/\/$/, "")}/sms/json`;
  return {
    name: "vonage",
    async send(message): Promise<SendResult> {
      const form = new URLSearchParams({
        api_key: config.VONAGE_API_KEY ?? "",
        api_secret: config.VONAGE_API_SECRET ?? "",
        from: config.VONAGE_FROM ?? "",
        to: message.to.replace(/^\+/, ""),
        text: message.text,
      });
      if (smsSegments(message.text).encoding === "ucs2") form.set("type", "unicode");
      const callback = receiptUrl(config, "vonage");
      if (callback) form.set("callback", callback);
      const answer = await postForm(fetcher, url, form, message.signal);
      if (!("response" in answer)) return answer;
      if (!answer.response.ok) return httpError(answer.response);
      const parts = ((await jsonOf(answer.response))?.messages ?? []) as Record<string, unknown>[];
      const failed = parts.find((part) => part.status !== "0");
      if (parts.length === 0 || failed) return { ok: false, reason: "error", errorCode: `vonage_${failed?.status ?? "empty"}` };
      return { ok: true, messageId: String(parts[0]?.["message-id"] ?? "") || null };
    },
    async verifyReceipt(callback: Callback): Promise<Receipt[] | null> {
      const secret = config.VONAGE_SIGNATURE_SECRET;
      const params = receiptParams(callback);
      const sig = params.get("sig");
      if (!secret || !sig) return null;
      params.delete("sig");
      const signed = [...params]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, value]) => `&${name}=${value.replace(/[&=]/g, "_")}`)
        .join("");
      if (!timingSafeEqual(await hmacSha256Hex(secret, signed), sig.toLowerCase())) return null;
      const id = params.get("messageId");
      const status = STATUS[params.get("status") ?? ""];
      if (!id || !status) return [];
      const error = params.get("err-code");
      return [{ messageId: id, status, errorCode: error && error !== "0" ? error : null }];
    },
  };
}

/** Receipts come form-encoded or as JSON, depending on the account's webhook setting. */
function receiptParams(callback: Callback): Map<string, string> {
  if ((callback.headers.get("Content-Type") ?? "").includes("json")) {
    try {
      const body = JSON.parse(callback.body) as Record<string, unknown>;
      return new Map(Object.entries(body).map(([name, value]) => [name, String(value)]));
    } catch {
      return new Map();
    }
  }
  return new Map(new URLSearchParams(callback.body));
}
