import { vi } from "vitest";

// Fakes of each provider's real HTTP API, installed as globalThis.fetch. Each checks what the real
// API checks (method, path, auth, encoding, required fields) and answers in the API's own shapes,
// success and failure, so the Worker's answer mapping is exercised as it would be in production.

export const creds = {
  TWILIO_ACCOUNT_SID: `AC${"a1".repeat(16)}`,
  TWILIO_AUTH_TOKEN: "twilio-token-1234567890",
  TWILIO_FROM: "+15005550006",
  VONAGE_API_KEY: "vonage-key",
  VONAGE_API_SECRET: "vonage-secret-123",
  VONAGE_FROM: "AcmeAuth",
  VONAGE_SIGNATURE_SECRET: "vonage-signature-secret-xyz",
  KAVENEGAR_API_KEY: "kavenegar-key-123",
  KAVENEGAR_SENDER: "10004346",
  SMSRU_API_ID: "A3CA597E-3ACF-4E7D-82EE-CF82B52B1A8B",
  WHATSAPP_TOKEN: "EAAJB-whatsapp-token-0123456789",
  WHATSAPP_PHONE_NUMBER_ID: "106540352242922",
  WHATSAPP_TEMPLATE: "auth_code",
  WHATSAPP_APP_SECRET: "whatsapp-app-secret-0123",
  WHATSAPP_VERIFY_TOKEN: "meta-verify-token-42",
  TELEGRAM_GATEWAY_TOKEN: "AAGCGW-telegram-gateway-token",
  PUBLIC_URL: "https://auth.example.com",
};

export type FakeName = "twilio" | "vonage" | "kavenegar" | "smsru" | "whatsapp_cloud" | "telegram_gateway";
/** ok: accepted; fail: the API's own failure (HTTP 500, or 200 with an error status where the API does that); hang: never answers; unreachable: no account on that channel. */
export type Mode = "ok" | "fail" | "hang" | "unreachable";
export type Seen = { provider: FakeName; url: string; method: string; headers: Headers; body: string };

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;
const isForm = (headers: Headers) => headers.get("Content-Type") === "application/x-www-form-urlencoded";
const isJson = (headers: Headers) => (headers.get("Content-Type") ?? "").startsWith("application/json");
let serial = 0;

function twilio(request: Seen, mode: Mode): Response {
  const match = new RegExp(`^https://api\\.twilio\\.com/2010-04-01/Accounts/${creds.TWILIO_ACCOUNT_SID}/(Messages|Calls)\\.json$`).exec(
    request.url,
  );
  if (!match || request.method !== "POST") return json({ code: 20404, message: "The requested resource was not found", status: 404 }, 404);
  if (request.headers.get("Authorization") !== basic(creds.TWILIO_ACCOUNT_SID, creds.TWILIO_AUTH_TOKEN)) {
    return json({ code: 20003, message: "Authenticate", status: 401 }, 401);
  }
  const form = new URLSearchParams(request.body);
  const content = match[1] === "Calls" ? form.get("Twiml") : form.get("Body");
  if (!isForm(request.headers) || !form.get("To") || !form.get("From") || !content) {
    return json({ code: 21604, message: "A 'To' phone number is required.", status: 400 }, 400);
  }
  if (mode === "fail") return json({ code: 20500, message: "Internal Server Error", status: 500 }, 500);
  const sid = `${match[1] === "Calls" ? "CA" : "SM"}${(++serial).toString(16).padStart(32, "0")}`;
  return json({ sid, status: "queued", to: form.get("To") }, 201);
}

function vonage(request: Seen, mode: Mode): Response {
  if (request.url !== "https://rest.nexmo.com/sms/json" || request.method !== "POST") return new Response("Not Found", { status: 404 });
  const form = new URLSearchParams(request.body);
  if (!isForm(request.headers) || form.get("api_key") !== creds.VONAGE_API_KEY || form.get("api_secret") !== creds.VONAGE_API_SECRET) {
    return json({ "message-count": "1", messages: [{ status: "4", "error-text": "Bad Credentials" }] });
  }
  if (!form.get("to") || /\D/.test(form.get("to") ?? "") || !form.get("text") || !form.get("from")) {
    return json({ "message-count": "1", messages: [{ status: "2", "error-text": "Missing to param" }] });
  }
  // Vonage answers 200 whatever happened; the part's status tells.
  if (mode === "fail") return json({ "message-count": "1", messages: [{ status: "5", "error-text": "Internal Error" }] });
  const id = `0C0000002${(++serial).toString(16).padStart(7, "0").toUpperCase()}`;
  return json({ "message-count": "1", messages: [{ to: form.get("to"), "message-id": id, status: "0", "message-price": "0.03330000" }] });
}

function kavenegar(request: Seen, mode: Mode): Response {
  const path = new URL(request.url).pathname;
  const lookup = path === `/v1/${creds.KAVENEGAR_API_KEY}/verify/lookup.json`;
  if ((!lookup && path !== `/v1/${creds.KAVENEGAR_API_KEY}/sms/send.json`) || request.method !== "POST") {
    return json({ return: { status: 403, message: "کد شناسائی API-Key معتبر نمیباشد" } }, 403);
  }
  const form = new URLSearchParams(request.body);
  const content = lookup ? form.get("token") && form.get("template") : form.get("message");
  if (!isForm(request.headers) || !form.get("receptor") || !content) {
    return json({ return: { status: 411, message: "گیرنده نامعتبر است" } }, 411);
  }
  if (mode === "fail") return json({ return: { status: 418, message: "اعتبار حساب شما کافی نیست" } }, 418);
  return json({
    return: { status: 200, message: "تایید شد" },
    entries: [{ messageid: ++serial, status: 1, receptor: form.get("receptor") }],
  });
}

function smsru(request: Seen, mode: Mode): Response {
  if (request.url !== "https://sms.ru/sms/send" || request.method !== "POST") return new Response("Not Found", { status: 404 });
  const form = new URLSearchParams(request.body);
  if (form.get("api_id") !== creds.SMSRU_API_ID) return json({ status: "ERROR", status_code: 200, status_text: "Неправильный api_id" });
  const to = form.get("to") ?? "";
  if (!isForm(request.headers) || form.get("json") !== "1" || !/^\d+$/.test(to) || !form.get("msg")) {
    return json({ status: "ERROR", status_code: 202, status_text: "Неправильно указан номер" });
  }
  // SMS.ru answers 200 with an error status in the body.
  if (mode === "fail") return json({ status: "ERROR", status_code: 201, status_text: "Не хватает средств на лицевом счету" });
  return json({
    status: "OK",
    status_code: 100,
    sms: { [to]: { status: "OK", status_code: 100, sms_id: `000000-${++serial}` } },
    balance: 10,
  });
}

function whatsapp(request: Seen, mode: Mode): Response {
  if (request.url !== `https://graph.facebook.com/v23.0/${creds.WHATSAPP_PHONE_NUMBER_ID}/messages` || request.method !== "POST") {
    return json({ error: { message: "Unknown path components", type: "OAuthException", code: 2500 } }, 400);
  }
  if (request.headers.get("Authorization") !== `Bearer ${creds.WHATSAPP_TOKEN}`) {
    return json({ error: { message: "Invalid OAuth access token.", type: "OAuthException", code: 190 } }, 401);
  }
  const body = isJson(request.headers) ? (JSON.parse(request.body) as Record<string, unknown>) : {};
  if (body.messaging_product !== "whatsapp" || body.type !== "template" || !/^\d+$/.test(String(body.to))) {
    return json({ error: { message: "(#100) Invalid parameter", type: "OAuthException", code: 100 } }, 400);
  }
  if (mode === "unreachable") {
    return json(
      {
        error: { message: "(#131026) Message Undeliverable.", type: "OAuthException", code: 131026, fbtrace_id: "Az8or2yhqkZfEZ-_4Qn_Bam" },
      },
      400,
    );
  }
  if (mode === "fail") return json({ error: { message: "(#131000) Something went wrong", type: "OAuthException", code: 131000 } }, 500);
  return json({
    messaging_product: "whatsapp",
    contacts: [{ input: body.to, wa_id: body.to }],
    messages: [{ id: `wamid.HBgL${++serial}` }],
  });
}

function telegram(request: Seen, mode: Mode): Response {
  if (request.url !== "https://gatewayapi.telegram.org/sendVerificationMessage" || request.method !== "POST") {
    return json({ ok: false, error: "METHOD_NOT_FOUND" }, 404);
  }
  if (request.headers.get("Authorization") !== `Bearer ${creds.TELEGRAM_GATEWAY_TOKEN}`)
    return json({ ok: false, error: "ACCESS_TOKEN_INVALID" }, 401);
  const body = isJson(request.headers) ? (JSON.parse(request.body) as Record<string, unknown>) : {};
  if (!/^\+\d+$/.test(String(body.phone_number)) || !/^\d{4,8}$/.test(String(body.code)))
    return json({ ok: false, error: "CODE_INVALID" }, 400);
  if (mode === "unreachable") return json({ ok: false, error: "PHONE_NUMBER_INVALID" }, 400);
  if (mode === "fail") return json({ ok: false, error: "INTERNAL_ERROR" }, 500);
  const request_id = `tg-${++serial}`;
  return json({
    ok: true,
    result: { request_id, phone_number: body.phone_number, request_cost: 0.01, delivery_status: { status: "sent", updated_at: 0 } },
  });
}

const HOSTS: Record<string, [FakeName, (request: Seen, mode: Mode) => Response]> = {
  "api.twilio.com": ["twilio", twilio],
  "rest.nexmo.com": ["vonage", vonage],
  "api.kavenegar.com": ["kavenegar", kavenegar],
  "sms.ru": ["smsru", smsru],
  "graph.facebook.com": ["whatsapp_cloud", whatsapp],
  "gatewayapi.telegram.org": ["telegram_gateway", telegram],
};

/** Installs the fakes; `modes` picks each provider's behaviour (default ok). Returns every request seen. */
export function fakeProviders(modes: Partial<Record<FakeName, Mode>> = {}): Seen[] {
  const seen: Seen[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init);
    const host = HOSTS[new URL(request.url).host];
    if (!host) throw new TypeError(`unexpected outbound call to ${request.url}`);
    const [provider, answer] = host;
    const entry: Seen = { provider, url: request.url, method: request.method, headers: request.headers, body: await request.text() };
    seen.push(entry);
    const mode = modes[provider] ?? "ok";
    if (mode === "hang") {
      const signal = init?.signal;
      return new Promise<Response>((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason)));
    }
    return answer(entry, mode);
  });
  return seen;
}
