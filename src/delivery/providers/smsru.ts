import type { Config } from "../../config";
import { httpError, jsonOf, postForm } from "../http";
import type { Fetcher, Provider, SendResult } from "../types";

// SMS.ru: POST /sms/send, form-encoded api_id, to (digits), msg, json=1, from (an approved sender
// name, optional). HTTP 200 even on failure: the answer's `status` is "OK" or "ERROR" with a
// `status_code` (100 = accepted; 200 bad api_id, 201 no money, 202 bad number…), overall and per
// number under `sms`.

type SmsRuStatus = { status?: string; status_code?: number; sms_id?: string };

export function smsruProvider(config: Config, fetcher: Fetcher): Provider {
  const url = `${config.SMSRU_API_BASE.replace(/\/$/, "")}/sms/send`;
  return {
    name: "smsru",
    async send(message): Promise<SendResult> {
      const to = message.to.replace(/^\+/, "");
      const form = new URLSearchParams({ api_id: config.SMSRU_API_ID ?? "", to, msg: message.text, json: "1" });
      if (config.SMSRU_FROM) form.set("from", config.SMSRU_FROM);
      const answer = await postForm(fetcher, url, form, message.signal);
      if (!("response" in answer)) return answer;
      if (!answer.response.ok) return httpError(answer.response);
      const body = (await jsonOf(answer.response)) as (SmsRuStatus & { sms?: Record<string, SmsRuStatus> }) | null;
      const part = body?.sms?.[to];
      if (body?.status !== "OK" || part?.status !== "OK") {
        return { ok: false, reason: "error", errorCode: `smsru_${part?.status_code ?? body?.status_code ?? "unknown"}` };
      }
      return { ok: true, messageId: part.sms_id ?? null };
    },
  };
}
