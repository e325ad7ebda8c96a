import type { Config } from "../../config";
import { timingSafeEqual } from "../../crypto";
import { basicAuth, hmacSha1Base64, jsonOf, postForm } from "../http";
import type { Callback, Fetcher, OutgoingMessage, Provider, Receipt, ReceiptStatus, SendResult } from "../types";
import { receiptUrl } from "./callbacks";

// Twilio REST API 2010-04-01: SMS through Programmable Messaging (Messages.json), voice through a
// call (Calls.json) whose inline TwiML <Say>s the code. Form-encoded, HTTP basic auth (SID:token).
// Status callbacks are signed with X-Twilio-Signature: base64 HMAC-SHA1, keyed by the auth token,
// of the callback URL followed by every POST parameter, sorted by name, as name + value.

const VOICE_LANGUAGE: Record<string, string> = { en: "en-US", ru: "ru-RU", fa: "fa-IR" };

const xml = (text: string) =>
  text.replace(/[<>&"']/g, (char) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[char] as string);

/** The TwiML of a code call: the sentence (which says the code twice), in the message's language. */
export function voiceTwiml(message: Pick<OutgoingMessage, "text" | "locale">): string {
  const language = VOICE_LANGUAGE[message.locale] ?? message.locale;
  return `<Response><Pause length="1"/><Say language="${xml(language)}">${xml(message.text)}</Say></Response>`;
}

// Message and call statuses → ours. Anything not listed (queued, sending, ringing…) is not recorded.
const STATUS: Record<string, ReceiptStatus> = {
  sent: "sent",
  delivered: "delivered",
  read: "delivered",
  undelivered: "undelivered",
  failed: "failed",
  completed: "delivered",
  busy: "undelivered",
  "no-answer": "undelivered",
  canceled: "failed",
};

export function twilioProvider(config: Config, fetcher: Fetcher): Provider {
  const sid = config.TWILIO_ACCOUNT_SID ?? "";
  const token = config.TWILIO_AUTH_TOKEN ?? "";
  const account = `${config.TWILIO_API_BASE.replace(/\/$/, "")}/2010-04-01/Accounts/${encodeURIComponent(sid)}`;
  return {
    name: "twilio",
    async send(message): Promise<SendResult> {
      const form = new URLSearchParams({ To: message.to, From: config.TWILIO_FROM ?? "" });
      if (message.channel === "voice") form.set("Twiml", voiceTwiml(message));
      else form.set("Body", message.text);
      const callback = receiptUrl(config, "twilio");
      if (callback) form.set("StatusCallback", callback);
      const url = `${account}/${message.channel === "voice" ? "Calls" : "Messages"}.json`;
      const answer = await postForm(fetcher, url, form, message.signal, { Authorization: basicAuth(sid, token) });
      if (!("response" in answer)) return answer;
      const body = await jsonOf(answer.response);
      if (answer.response.ok && typeof body?.sid === "string") return { ok: true, messageId: body.sid };
      // Error answers carry Twilio's numeric code (21211 invalid To, 21408 region not enabled…).
      return { ok: false, reason: "error", errorCode: `twilio_${body?.code ?? answer.response.status}` };
    },
    async verifyReceipt(callback: Callback): Promise<Receipt[] | null> {
      const signature = callback.headers.get("X-Twilio-Signature");
      if (!signature || !token) return null;
      const params = [...new URLSearchParams(callback.body)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const expected = await hmacSha1Base64(token, callback.url + params.map(([name, value]) => name + value).join(""));
      if (!timingSafeEqual(expected, signature)) return null;
      const form = new URLSearchParams(callback.body);
      const id = form.get("MessageSid") ?? form.get("CallSid");
      const status = STATUS[form.get("MessageStatus") ?? form.get("CallStatus") ?? ""];
      if (!id || !status) return [];
      return [{ messageId: id, status, errorCode: form.get("ErrorCode") }];
    },
  };
}
