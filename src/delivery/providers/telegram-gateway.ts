import type { Config } from "../../config";
import { timingSafeEqual } from "../../crypto";
import { callProvider, hmacSha256Hex, jsonOf, sha256 } from "../http";
import type { Callback, Fetcher, Provider, Receipt, ReceiptStatus, SendResult } from "../types";
import { receiptUrl } from "./callbacks";

// Telegram Gateway API: POST /sendVerificationMessage with `Authorization: Bearer <token>` and a
// JSON body carrying our own `code` (Telegram shows it in its verification template), `ttl`
// (30–3600 s; an undelivered message is refunded after it) and `callback_url`. Answers
// `{ ok, result: RequestStatus }` or `{ ok: false, error: "PHONE_NUMBER_INVALID" }`. Delivery
// reports are signed: X-Request-Signature = hex HMAC-SHA256 of "<X-Request-Timestamp>\n<body>",
// keyed by the SHA-256 of the API token.

const STATUS: Record<string, ReceiptStatus> = {
  sent: "sent",
  delivered: "delivered",
  read: "delivered",
  expired: "undelivered",
  revoked: "failed",
};

export function telegramGatewayProvider(config: Config, fetcher: Fetcher): Provider {
  const base = config.TELEGRAM_GATEWAY_API_BASE.replace(/\/$/, "");
  const token = config.TELEGRAM_GATEWAY_TOKEN ?? "";
  return {
    name: "telegram_gateway",
    async send(message): Promise<SendResult> {
      const callback = receiptUrl(config, "telegram_gateway");
      const body = {
        phone_number: message.to,
        code: message.code ?? "",
        ttl: Math.min(3600, Math.max(30, config.OTP_TTL_SECONDS)),
        ...(callback ? { callback_url: callback } : {}),
      };
      const answer = await callProvider(
        fetcher,
        `${base}/sendVerificationMessage`,
        { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify(body) },
        message.signal,
      );
      if (!("response" in answer)) return answer;
      const json = await jsonOf(answer.response);
      const requestId = (json?.result as { request_id?: unknown } | undefined)?.request_id;
      if (json?.ok === true && typeof requestId === "string") return { ok: true, messageId: requestId };
      const error = typeof json?.error === "string" ? json.error : `http_${answer.response.status}`;
      // The Gateway cannot reach a number without a Telegram account (or one it refuses): next entry.
      return { ok: false, reason: error.startsWith("PHONE_NUMBER") ? "unreachable" : "error", errorCode: `telegram_${error}` };
    },
    async verifyReceipt(callback: Callback): Promise<Receipt[] | null> {
      const timestamp = callback.headers.get("X-Request-Timestamp");
      const signature = callback.headers.get("X-Request-Signature");
      if (!token || !timestamp || !signature) return null;
      const expected = await hmacSha256Hex(await sha256(token), `${timestamp}\n${callback.body}`);
      if (!timingSafeEqual(expected, signature.toLowerCase())) return null;
      let report: { request_id?: unknown; delivery_status?: { status?: unknown } };
      try {
        report = JSON.parse(callback.body);
      } catch {
        return [];
      }
      const status = STATUS[String(report.delivery_status?.status ?? "")];
      if (typeof report.request_id !== "string" || !status) return [];
      return [{ messageId: report.request_id, status, errorCode: null }];
    },
  };
}
