import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { creds, fakeProviders, type Seen } from "./delivery-fakes";
import { expectProblem, freshIp, freshPhone, row } from "./helpers";
import { guardColumns } from "./otp-helpers";
import { WebClient } from "./web-helpers";

// Delivery through the real Worker: channels, routes, failover, receipts. Every provider is a fake
// of its real HTTP API (test/delivery-fakes.ts); nothing of ours is mocked.

const ROUTES =
  "BY:telegram:telegram_gateway,whatsapp:whatsapp_cloud,sms:twilio,sms:vonage,voice:twilio;RU:sms:smsru,sms:twilio;IR:sms:kavenegar;*:sms:twilio";
const routed = {
  ...env,
  ENVIRONMENT: "production",
  SMS_PROVIDER: undefined,
  SMS_TIMEOUT_MS: "200",
  ...creds,
  DELIVERY_ROUTES: ROUTES,
  DELIVERY_PRICES: "sms:twilio:*=0.05,sms:vonage:BY=0.04,telegram:telegram_gateway:*=0.01",
};
/** The whole walk may take 250 ms: a second hung provider is cut short by the deadline, not its own timeout. */
const shortDeadline = { ...routed, DELIVERY_DEADLINE_MS: "250" };
const testPhone = "+375291234500";
const withTestPhone = { ...routed, TEST_PHONES: `${testPhone}:123456` };

afterEach(() => {
  vi.restoreAllMocks();
});

let serial = 0;
const digits = (n: number) =>
  String(Math.floor(Math.random() * 10 ** n) + serial++)
    .padStart(n, "0")
    .slice(-n);
const russianPhone = () => `+7916${digits(7)}`;
const iranianPhone = () => `+98912${digits(7)}`;

async function send(variant: object, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const request = new Request("http://api.test/v1/auth/otp", {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp(), ...headers },
    body: JSON.stringify(body),
  });
  const response = await worker.fetch(request, variant as typeof env, ctx);
  // The attempts are written after the answer (waitUntil): let that finish before reading them.
  await waitOnExecutionContext(ctx);
  return response;
}

type AttemptRow = {
  attempt: number;
  channel: string;
  provider: string;
  status: string;
  error_code: string | null;
  segments: number | null;
  cost: number;
  provider_message_id: string | null;
};

async function attemptsOf(phone: string): Promise<AttemptRow[]> {
  const result = await env.DB.prepare(
    `SELECT attempt, channel, provider, status, error_code, segments, cost, provider_message_id FROM delivery_attempts
     WHERE code_id = (SELECT code_id FROM otp_challenges WHERE phone = ? AND purpose = 'login') ORDER BY attempt`,
  )
    .bind(phone)
    .all<AttemptRow>();
  return result.results;
}

const form = (seen: Seen) => new URLSearchParams(seen.body);
const jsonBody = (seen: Seen) => JSON.parse(seen.body) as Record<string, any>;

describe("the message each channel sends, in each shipped locale", () => {
  const sms = { en: "Your phone-auth-edge code is C", ru: "Ваш код phone-auth-edge: C", fa: "کد phone-auth-edge شما: C" };

  it.each(Object.entries(sms))("sms (%s): Twilio's Messages API, form-encoded, basic auth", async (locale, text) => {
    const seen = fakeProviders();
    const phone = freshPhone();
    const response = await send(routed, { phone, channel: "sms", locale });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ channel: "sms" });
    expect(seen).toHaveLength(1);
    const [call] = seen as [Seen];
    expect(call.url).toBe(`https://api.twilio.com/2010-04-01/Accounts/${creds.TWILIO_ACCOUNT_SID}/Messages.json`);
    const body = form(call);
    const code = /\d{6}/.exec(body.get("Body") ?? "")?.[0] ?? "";
    expect(body.get("Body")).toBe(text.replace("C", code));
    expect(body.get("To")).toBe(phone);
    expect(body.get("StatusCallback")).toBe("https://auth.example.com/v1/hooks/delivery/twilio");
  });

  it.each([
    ["en", "en-US", "Your phone-auth-edge code is D. Once again, your code is D."],
    ["ru", "ru-RU", "Ваш код phone-auth-edge: D. Повторяю, ваш код: D."],
    ["fa", "fa-IR", "کد phone-auth-edge شما D است. تکرار می‌کنم، کد شما D است."],
  ])("voice (%s): a Twilio call whose TwiML says the code twice in the language", async (locale, language, sentence) => {
    const seen = fakeProviders();
    const response = await send(routed, { phone: freshPhone(), channel: "voice", locale });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ channel: "voice" });
    const [call] = seen as [Seen];
    expect(call.url).toBe(`https://api.twilio.com/2010-04-01/Accounts/${creds.TWILIO_ACCOUNT_SID}/Calls.json`);
    const twiml = form(call).get("Twiml") ?? "";
    const spoken = /(\d(?:, \d){5})/.exec(twiml)?.[1] ?? "none";
    expect(twiml).toBe(`<Response><Pause length="1"/><Say language="${language}">${sentence.replaceAll("D", spoken)}</Say></Response>`);
    expect(twiml.split(spoken)).toHaveLength(3);
  });

  it.each(["en", "ru", "fa"])(
    "whatsapp (%s): the authentication template with the code in the body and the copy-code button",
    async (locale) => {
      const seen = fakeProviders();
      const response = await send(routed, { phone: freshPhone(), channel: "whatsapp", locale });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ channel: "whatsapp" });
      const [call] = seen as [Seen];
      expect(call.headers.get("Authorization")).toBe(`Bearer ${creds.WHATSAPP_TOKEN}`);
      const body = jsonBody(call);
      const code = body.template.components[0].parameters[0].text;
      expect(code).toMatch(/^\d{6}$/);
      expect(body).toEqual({
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to: expect.stringMatching(/^37529\d{7}$/),
        type: "template",
        template: {
          name: "auth_code",
          language: { code: locale },
          components: [
            { type: "body", parameters: [{ type: "text", text: code }] },
            { type: "button", sub_type: "url", index: "0", parameters: [{ type: "text", text: code }] },
          ],
        },
      });
    },
  );

  it("telegram: the Gateway gets our own code, a ttl and the callback URL (its template is Telegram's, in the user's language)", async () => {
    const seen = fakeProviders();
    const phone = freshPhone();
    const response = await send(routed, { phone, channel: "telegram", locale: "ru" });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ channel: "telegram" });
    const [call] = seen as [Seen];
    expect(call.headers.get("Authorization")).toBe(`Bearer ${creds.TELEGRAM_GATEWAY_TOKEN}`);
    expect(jsonBody(call)).toEqual({
      phone_number: phone,
      code: expect.stringMatching(/^\d{6}$/),
      ttl: 300,
      callback_url: "https://auth.example.com/v1/hooks/delivery/telegram_gateway",
    });
  });

  it("takes the locale from Accept-Language when the body names none, and DEFAULT_LOCALE after that", async () => {
    const seen = fakeProviders();
    await send(routed, { phone: freshPhone() }, { "Accept-Language": "de-DE, fa;q=0.8, ru;q=0.5" });
    await send(routed, { phone: freshPhone() }, { "Accept-Language": "de-DE" });
    expect(form(seen[0] as Seen).get("Body")).toMatch(/^کد phone-auth-edge شما: \d{6}$/);
    expect(form(seen[1] as Seen).get("Body")).toMatch(/^Your phone-auth-edge code is \d{6}$/);
  });

  it("MESSAGE_TEMPLATES overrides a shipped text; SMS_TEMPLATE still sets one text for every locale", async () => {
    const seen = fakeProviders();
    await send(
      { ...routed, MESSAGE_TEMPLATES: JSON.stringify({ sms: { ru: "{code} — код {app}" } }) },
      { phone: freshPhone(), locale: "ru" },
    );
    await send({ ...routed, SMS_TEMPLATE: "{app}: {code}" }, { phone: freshPhone(), locale: "fa" });
    expect(form(seen[0] as Seen).get("Body")).toMatch(/^\d{6} — код phone-auth-edge$/);
    expect(form(seen[1] as Seen).get("Body")).toMatch(/^phone-auth-edge: \d{6}$/);
  });

  it("adds the Android SMS Retriever hash and then the WebOTP line (WebOTP reads the last line)", async () => {
    const seen = fakeProviders();
    await send({ ...routed, WEBOTP_DOMAIN: "auth.example.com", ANDROID_APP_HASH: "FA+9qCX9VSu" }, { phone: freshPhone() });
    const body = form(seen[0] as Seen).get("Body") ?? "";
    const code = /\d{6}/.exec(body)?.[0];
    expect(body).toBe(`Your phone-auth-edge code is ${code}\n\nFA+9qCX9VSu\n\n@auth.example.com #${code}`);
  });
});

describe("each SMS provider's own API", () => {
  it("SMS.ru: form-encoded api_id, digits-only `to`, json=1 (RU route)", async () => {
    const seen = fakeProviders();
    const phone = russianPhone();
    expect((await send(routed, { phone, locale: "ru" })).status).toBe(200);
    const [call] = seen as [Seen];
    expect(call.provider).toBe("smsru");
    expect(Object.fromEntries(form(call))).toEqual({
      api_id: creds.SMSRU_API_ID,
      to: phone.slice(1),
      msg: expect.stringMatching(/^Ваш код phone-auth-edge: \d{6}$/),
      json: "1",
    });
    expect(await attemptsOf(phone)).toMatchObject([
      { provider: "smsru", status: "sent", provider_message_id: expect.stringMatching(/^000000-/), segments: 1 },
    ]);
  });

  it("Kavenegar: the key in the path, form-encoded receptor, sender and message (IR route)", async () => {
    const seen = fakeProviders();
    const phone = iranianPhone();
    expect((await send(routed, { phone, locale: "fa" })).status).toBe(200);
    const [call] = seen as [Seen];
    expect(call.url).toBe(`https://api.kavenegar.com/v1/${creds.KAVENEGAR_API_KEY}/sms/send.json`);
    expect(Object.fromEntries(form(call))).toMatchObject({ receptor: phone, sender: "10004346" });
    // Persian text is UCS-2: one part up to 70 characters.
    expect(await attemptsOf(phone)).toMatchObject([{ provider: "kavenegar", status: "sent", segments: 1 }]);
  });

  it("Kavenegar with KAVENEGAR_TEMPLATE: the code goes through verify/lookup.json as the template's token", async () => {
    const seen = fakeProviders();
    const phone = iranianPhone();
    expect((await send({ ...routed, KAVENEGAR_TEMPLATE: "login-code" }, { phone })).status).toBe(200);
    const [call] = seen as [Seen];
    expect(call.url).toBe(`https://api.kavenegar.com/v1/${creds.KAVENEGAR_API_KEY}/verify/lookup.json`);
    expect(Object.fromEntries(form(call))).toEqual({ receptor: phone, token: expect.stringMatching(/^\d{6}$/), template: "login-code" });
  });

  it("SMS.ru and Kavenegar answer errors inside a 200 (or their own status): those pass the message on", async () => {
    const seen = fakeProviders({ smsru: "fail" });
    const phone = russianPhone();
    expect((await send(routed, { phone })).status).toBe(200);
    expect(seen.map((s) => s.provider)).toEqual(["smsru", "twilio"]);
    expect(await attemptsOf(phone)).toMatchObject([
      { attempt: 1, provider: "smsru", status: "failed", error_code: "smsru_201", cost: 0 },
      { attempt: 2, provider: "twilio", status: "sent", cost: 0.05 },
    ]);
    vi.restoreAllMocks();
    fakeProviders({ kavenegar: "fail" });
    await expectProblem(await send(routed, { phone: iranianPhone() }), 502, "sms_delivery_failed");
  });

  it("Vonage: form-encoded api_key/api_secret, `type=unicode` for Cyrillic text, a status per part", async () => {
    const seen = fakeProviders({ twilio: "fail" });
    const phone = freshPhone();
    expect((await send(routed, { phone, channel: "sms", locale: "ru" })).status).toBe(200);
    const vonage = seen.find((s) => s.provider === "vonage") as Seen;
    expect(Object.fromEntries(form(vonage))).toEqual({
      api_key: creds.VONAGE_API_KEY,
      api_secret: creds.VONAGE_API_SECRET,
      from: "AcmeAuth",
      to: phone.slice(1),
      text: expect.stringMatching(/^Ваш код/),
      type: "unicode",
      callback: "https://auth.example.com/v1/hooks/delivery/vonage",
    });
  });
});

describe("routing and failover", () => {
  it("auto walks the route: a 500, an unreachable channel and a timeout each pass the code to the next entry", async () => {
    const seen = fakeProviders({ telegram_gateway: "fail", whatsapp_cloud: "unreachable", twilio: "hang" });
    const phone = freshPhone();
    const response = await send(routed, { phone, channel: "auto" });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ channel: "sms" });
    expect(seen.map((s) => s.provider)).toEqual(["telegram_gateway", "whatsapp_cloud", "twilio", "vonage"]);
    expect(await attemptsOf(phone)).toMatchObject([
      { attempt: 1, channel: "telegram", provider: "telegram_gateway", status: "failed", error_code: "telegram_INTERNAL_ERROR" },
      { attempt: 2, channel: "whatsapp", provider: "whatsapp_cloud", status: "failed", error_code: "whatsapp_131026" },
      { attempt: 3, channel: "sms", provider: "twilio", status: "failed", error_code: "timeout" },
      { attempt: 4, channel: "sms", provider: "vonage", status: "sent", segments: 1, cost: 0.04 },
    ]);
  });

  it("counts the whole chain as one send for every window and the cooldown", async () => {
    fakeProviders({ telegram_gateway: "unreachable", whatsapp_cloud: "fail", twilio: "fail" });
    const phone = freshPhone();
    expect((await send(routed, { phone, channel: "auto" })).status).toBe(200);
    expect(await guardColumns(["hour_count", "day_count"], phone)).toEqual({ hour_count: 1, day_count: 1 });
    await expectProblem(await send(routed, { phone, channel: "auto" }), 429, "resend_too_soon");
  });

  it("a named channel walks only its own providers", async () => {
    const seen = fakeProviders({ twilio: "fail" });
    expect((await send(routed, { phone: freshPhone(), channel: "sms" })).status).toBe(200);
    expect(seen.map((s) => s.provider)).toEqual(["twilio", "vonage"]);
  });

  it("answers 502 naming the channels tried when every entry fails, with no live code and no cooldown", async () => {
    fakeProviders({ telegram_gateway: "unreachable", whatsapp_cloud: "unreachable", twilio: "fail", vonage: "fail" });
    const phone = freshPhone();
    const problem = await expectProblem(await send(routed, { phone, channel: "auto" }), 502, "sms_delivery_failed");
    expect(problem.detail).toContain("telegram, whatsapp, sms, voice");
    expect(await row("SELECT count(*) AS n FROM otp_challenges WHERE phone = ?", phone)).toEqual({ n: 0 });
    expect(await guardColumns(["last_sent_at", "hour_count"], phone)).toEqual({
      last_sent_at: null,
      hour_count: 1,
    });
    const failed = await env.DB.prepare("SELECT count(*) AS n FROM delivery_attempts WHERE prefix = ? AND status = 'failed'")
      .bind(phone.slice(0, -4))
      .first<{ n: number }>();
    expect(failed?.n).toBeGreaterThanOrEqual(5);
  });

  it("stops at DELIVERY_DEADLINE_MS however many entries are left", async () => {
    const seen = fakeProviders({ telegram_gateway: "hang", whatsapp_cloud: "hang", twilio: "hang", vonage: "hang" });
    const started = Date.now();
    await expectProblem(await send(shortDeadline, { phone: freshPhone(), channel: "auto" }), 502, "sms_delivery_failed");
    expect(seen.map((s) => s.provider)).toEqual(["telegram_gateway", "whatsapp_cloud"]);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("answers 400 channel_unavailable for a channel the number's route lacks, after country_not_allowed", async () => {
    const seen = fakeProviders();
    await expectProblem(await send(routed, { phone: russianPhone(), channel: "whatsapp" }), 400, "channel_unavailable");
    await expectProblem(
      await send({ ...routed, ALLOWED_COUNTRIES: "BY" }, { phone: russianPhone(), channel: "whatsapp" }),
      403,
      "country_not_allowed",
    );
    await expectProblem(await send(routed, { phone: freshPhone(), channel: "pigeon" }), 400, "validation_failed");
    expect(seen).toHaveLength(0);
  });

  it("the compatibility APIs send over sms only, whatever DEFAULT_CHANNEL says", async () => {
    const seen = fakeProviders();
    const request = new Request("http://api.test/api/auth/send-otp/", {
      method: "POST",
      headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
      body: JSON.stringify({ phone_number: freshPhone() }),
    });
    const ctx = createExecutionContext();
    const response = await worker.fetch(request, { ...routed, DEFAULT_CHANNEL: "auto" } as unknown as typeof env, ctx);
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(200);
    expect(seen.map((s) => s.url)).toEqual([`https://api.twilio.com/2010-04-01/Accounts/${creds.TWILIO_ACCOUNT_SID}/Messages.json`]);
  });

  it("test phones reach no provider on any channel and accept their fixed code", async () => {
    const seen = fakeProviders();
    for (const channel of ["sms", "whatsapp", "telegram", "voice", "auto"]) {
      vi.setSystemTime(Date.now() + 61_000);
      const response = await send(withTestPhone, { phone: testPhone, channel });
      expect(response.status).toBe(200);
    }
    vi.useRealTimers();
    expect(seen).toHaveLength(0);
  });
});

const encoder = new TextEncoder();
async function hmac(hash: "SHA-1" | "SHA-256", key: string | ArrayBuffer, message: string) {
  const imported = await crypto.subtle.importKey(
    "raw",
    typeof key === "string" ? encoder.encode(key) : key,
    { name: "HMAC", hash },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", imported, encoder.encode(message)));
}
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

function postReceipt(provider: string, body: string, headers: Record<string, string>) {
  return worker.fetch(
    new Request(`http://api.test/v1/hooks/delivery/${provider}`, { method: "POST", headers, body }),
    routed as unknown as typeof env,
    createExecutionContext(),
  );
}

/** Sends a code over `channel` and returns the provider's message id of the attempt that carried it. */
async function sentOver(channel: string, modes: Parameters<typeof fakeProviders>[0] = {}) {
  fakeProviders(modes);
  const phone = freshPhone();
  expect((await send(routed, { phone, channel })).status).toBe(200);
  vi.restoreAllMocks();
  const attempts = await attemptsOf(phone);
  const carried = attempts.at(-1) as AttemptRow;
  return { phone, id: carried.provider_message_id as string };
}

const statusOf = async (phone: string) => (await attemptsOf(phone)).at(-1)?.status;

describe("delivery receipts", () => {
  it("twilio: X-Twilio-Signature over the URL and the sorted form; a wrong one answers 401 and records nothing", async () => {
    const { phone, id } = await sentOver("sms");
    const params = { AccountSid: creds.TWILIO_ACCOUNT_SID, MessageSid: id, MessageStatus: "delivered", To: phone };
    const body = new URLSearchParams(params).toString();
    const signed = `https://auth.example.com/v1/hooks/delivery/twilio${Object.keys(params)
      .sort()
      .map((k) => k + params[k as keyof typeof params])
      .join("")}`;
    const signature = btoa(String.fromCharCode(...(await hmac("SHA-1", creds.TWILIO_AUTH_TOKEN, signed))));
    const formType = { "Content-Type": "application/x-www-form-urlencoded" };
    await expectProblem(
      await postReceipt("twilio", body, { ...formType, "X-Twilio-Signature": `${signature.slice(0, -4)}AAA=` }),
      401,
      "unauthorized",
    );
    await expectProblem(await postReceipt("twilio", body, formType), 401, "unauthorized");
    expect(await statusOf(phone)).toBe("sent");
    expect((await postReceipt("twilio", body, { ...formType, "X-Twilio-Signature": signature })).status).toBe(204);
    expect(await statusOf(phone)).toBe("delivered");
  });

  it("whatsapp_cloud: X-Hub-Signature-256 of the raw body with the app secret", async () => {
    const { phone, id } = await sentOver("whatsapp");
    const body = JSON.stringify({
      object: "whatsapp_business_account",
      entry: [
        { id: "WABA", changes: [{ field: "messages", value: { statuses: [{ id, status: "failed", errors: [{ code: 131026 }] }] } }] },
      ],
    });
    const good = `sha256=${hex(await hmac("SHA-256", creds.WHATSAPP_APP_SECRET, body))}`;
    const bad = `sha256=${hex(await hmac("SHA-256", "not-the-app-secret", body))}`;
    const json = { "Content-Type": "application/json" };
    await expectProblem(await postReceipt("whatsapp_cloud", body, { ...json, "X-Hub-Signature-256": bad }), 401, "unauthorized");
    expect(await statusOf(phone)).toBe("sent");
    expect((await postReceipt("whatsapp_cloud", body, { ...json, "X-Hub-Signature-256": good })).status).toBe(204);
    expect(await attemptsOf(phone)).toMatchObject([{ status: "failed", error_code: "131026" }]);
  });

  it("telegram_gateway: X-Request-Signature = HMAC-SHA256(SHA256(token), timestamp + \\n + body)", async () => {
    const { phone, id } = await sentOver("telegram");
    const body = JSON.stringify({
      request_id: id,
      phone_number: phone,
      request_cost: 0.01,
      delivery_status: { status: "read", updated_at: 1 },
    });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const key = await crypto.subtle.digest("SHA-256", encoder.encode(creds.TELEGRAM_GATEWAY_TOKEN));
    const good = hex(await hmac("SHA-256", key, `${timestamp}\n${body}`));
    const json = { "Content-Type": "application/json", "X-Request-Timestamp": timestamp };
    await expectProblem(
      await postReceipt("telegram_gateway", body, { ...json, "X-Request-Signature": good.replace(/^./, (c) => (c === "0" ? "1" : "0")) }),
      401,
      "unauthorized",
    );
    expect(await statusOf(phone)).toBe("sent");
    expect((await postReceipt("telegram_gateway", body, { ...json, "X-Request-Signature": good })).status).toBe(204);
    expect(await statusOf(phone)).toBe("delivered");
  });

  it("vonage: the signed receipt's `sig` (HMAC-SHA256 of the sorted &name=value pairs)", async () => {
    const { phone, id } = await sentOver("sms", { twilio: "fail" });
    const params: Record<string, string> = {
      messageId: id,
      msisdn: phone.slice(1),
      status: "expired",
      "err-code": "5",
      timestamp: "1700000000",
    };
    const signed = Object.keys(params)
      .sort()
      .map((k) => `&${k}=${params[k]}`)
      .join("");
    const sig = hex(await hmac("SHA-256", creds.VONAGE_SIGNATURE_SECRET, signed)).toUpperCase();
    const formType = { "Content-Type": "application/x-www-form-urlencoded" };
    const tampered = new URLSearchParams({ ...params, status: "delivered", sig }).toString();
    await expectProblem(await postReceipt("vonage", tampered, formType), 401, "unauthorized");
    expect(await statusOf(phone)).toBe("sent");
    expect((await postReceipt("vonage", new URLSearchParams({ ...params, sig }).toString(), formType)).status).toBe(204);
    expect(await attemptsOf(phone)).toMatchObject([{ provider: "twilio" }, { provider: "vonage", status: "undelivered", error_code: "5" }]);
  });

  it("whatsapp_cloud: Meta's GET handshake echoes the challenge only for the right verify token", async () => {
    const subscribe = (token: string) =>
      worker.fetch(
        new Request(
          `http://api.test/v1/hooks/delivery/whatsapp_cloud?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=1158201444`,
        ),
        routed as unknown as typeof env,
        createExecutionContext(),
      );
    const good = await subscribe(creds.WHATSAPP_VERIFY_TOKEN);
    expect(good.status).toBe(200);
    expect(await good.text()).toBe("1158201444");
    await expectProblem(await subscribe("guess"), 401, "unauthorized");
  });

  it("answers 404 for a provider that takes no receipts or is not routed", async () => {
    await expectProblem(await postReceipt("smsru", "a=b", { "Content-Type": "application/x-www-form-urlencoded" }), 404, "not_found");
    await expectProblem(await postReceipt("pigeon", "{}", { "Content-Type": "application/json" }), 404, "not_found");
  });
});

describe("the code page's other channels", () => {
  it("offers only the channels the number's route has, and a choice posts through the resend form to that channel", async () => {
    const seen = fakeProviders();
    const belarus = new WebClient("https://web.test", {}, routed as unknown as typeof env);
    await belarus.get("/");
    expect((await belarus.follow(await belarus.post("/", { phone: freshPhone() }))).status).toBe(200);
    expect([...belarus.html.matchAll(/data-channel="(\w+)"/g)].map((m) => m[1])).toEqual(["telegram", "whatsapp", "voice"]);

    // Russia's route is SMS only: nothing else is offered.
    const russia = new WebClient("https://web.test", {}, routed as unknown as typeof env);
    await russia.get("/");
    expect((await russia.follow(await russia.post("/", { phone: russianPhone() }))).status).toBe(200);
    expect(russia.html).not.toContain("data-channel=");

    // The same limits as a resend: inside the cooldown the choice is refused and nothing is sent.
    const before = seen.length;
    expect((await belarus.post("/resend", { channel: "voice" })).status).toBe(429);
    expect(seen.length).toBe(before);
    vi.setSystemTime(Date.now() + 61_000);
    try {
      const resent = await belarus.post("/resend", { channel: "voice" });
      expect(resent.headers.get("Location")).toBe("/verify?resent=voice");
      expect(seen.at(-1)?.url).toMatch(/\/Calls\.json$/);
    } finally {
      vi.useRealTimers();
    }
  });
});
