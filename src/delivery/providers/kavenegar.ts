import type { Config } from "../../config";
import { jsonOf, postForm } from "../http";
import type { Fetcher, Provider, SendResult } from "../types";

// Kavenegar REST: POST /v1/{API-KEY}/sms/send.json, form-encoded receptor, message, sender; or,
// with KAVENEGAR_TEMPLATE set, a code goes through verify/lookup.json (receptor, token = the code,
// template = a template approved in the Kavenegar panel), which Iranian operators deliver even to
// numbers that block advertising lines. The answer's `return.status` is 200 on success (the HTTP
// status follows it; 411 bad receptor, 418 no credit…), and `entries[0].messageid` names it.

export function kavenegarProvider(config: Config, fetcher: Fetcher): Provider {
  const base = `${config.KAVENEGAR_API_BASE.replace(/\/$/, "")}/v1/${encodeURIComponent(config.KAVENEGAR_API_KEY ?? "")}`;
  return {
    name: "kavenegar",
    async send(message): Promise<SendResult> {
      const lookup = Boolean(config.KAVENEGAR_TEMPLATE && message.code);
      const form = lookup
        ? new URLSearchParams({ receptor: message.to, token: message.code ?? "", template: config.KAVENEGAR_TEMPLATE ?? "" })
        : new URLSearchParams({ receptor: message.to, message: message.text });
      if (!lookup && config.KAVENEGAR_SENDER) form.set("sender", config.KAVENEGAR_SENDER);
      const url = `${base}/${lookup ? "verify/lookup.json" : "sms/send.json"}`;
      const answer = await postForm(fetcher, url, form, message.signal);
      if (!("response" in answer)) return answer;
      const body = await jsonOf(answer.response);
      const status = Number((body?.return as { status?: unknown } | undefined)?.status ?? answer.response.status);
      if (!answer.response.ok || status !== 200) return { ok: false, reason: "error", errorCode: `kavenegar_${status}` };
      const entry = (body?.entries as { messageid?: unknown }[] | undefined)?.[0];
      return { ok: true, messageId: entry?.messageid != null ? String(entry.messageid) : null };
    },
  };
}
