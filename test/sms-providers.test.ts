import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { expectProblem, freshIp, freshPhone, row } from "./helpers";
import { guardColumns } from "./otp-helpers";

// Production-like configs, one env object each (config is parsed once per env object).
const base = { ...env, ENVIRONMENT: "production", SMS_TIMEOUT_MS: "200" };
const twilio = {
  ...base,
  SMS_PROVIDER: "twilio",
  TWILIO_ACCOUNT_SID: `AC${"a1".repeat(16)}`,
  TWILIO_AUTH_TOKEN: "twilio-token-1234567890",
  TWILIO_FROM: "+15005550006",
};
const kavenegar = { ...base, SMS_PROVIDER: "kavenegar", KAVENEGAR_API_KEY: "kavenegar-key-123", KAVENEGAR_SENDER: "10004346" };
const webhook = {
  ...base,
  SMS_PROVIDER: "webhook",
  SMS_WEBHOOK_URL: "https://sms.example.com/hook",
  SMS_WEBHOOK_SECRET: "webhook-secret-0123456789",
};
const withWebOtp = { ...webhook, WEBOTP_DOMAIN: "auth.example.com", SMS_TEMPLATE: "{code} is your {app} code" };

function send(variant: object, phone: string) {
  const request = new Request("http://api.test/v1/auth/otp", {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
    body: JSON.stringify({ phone }),
  });
  return worker.fetch(request, variant as typeof env, createExecutionContext());
}

/** Captures outbound requests and answers them with `reply` (which sees the abort signal, as fetch does). */
function provider(reply: (signal?: AbortSignal | null) => Promise<Response> | Response) {
  const seen: Request[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    seen.push(new Request(input as RequestInfo, init));
    return reply(init?.signal);
  });
  return seen;
}

/** A provider that never answers: only the caller's timeout ends the wait, like a hung upstream. */
const hang = (signal?: AbortSignal | null) =>
  new Promise<Response>((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason)));

afterEach(() => {
  vi.restoreAllMocks();
});

describe("twilio", () => {
  it("posts the form-encoded Messages API with basic auth", async () => {
    const seen = provider(() => new Response(JSON.stringify({ sid: "SM1" }), { status: 201 }));
    const phone = freshPhone();
    const response = await send(twilio, phone);
    expect(response.status).toBe(200);
    expect(await response.json()).not.toHaveProperty("dev_code");
    expect(seen).toHaveLength(1);
    const request = seen[0] as Request;
    expect(request.method).toBe("POST");
    expect(request.url).toBe(`https://api.twilio.com/2010-04-01/Accounts/${twilio.TWILIO_ACCOUNT_SID}/Messages.json`);
    expect(request.headers.get("Authorization")).toBe(`Basic ${btoa(`${twilio.TWILIO_ACCOUNT_SID}:${twilio.TWILIO_AUTH_TOKEN}`)}`);
    expect(request.headers.get("Content-Type")).toBe("application/x-www-form-urlencoded");
    const form = new URLSearchParams(await request.text());
    expect(form.get("To")).toBe(phone);
    expect(form.get("From")).toBe("+15005550006");
    expect(form.get("Body")).toMatch(/^Your phone-auth-edge code is \d{6}$/);
  });
});

describe("kavenegar", () => {
  it("posts sms/send.json with the key in the path", async () => {
    const seen = provider(() => new Response(JSON.stringify({ return: { status: 200 } }), { status: 200 }));
    const phone = freshPhone();
    expect((await send(kavenegar, phone)).status).toBe(200);
    const request = seen[0] as Request;
    expect(request.url).toBe("https://api.kavenegar.com/v1/kavenegar-key-123/sms/send.json");
    const form = new URLSearchParams(await request.text());
    expect(Object.fromEntries(form)).toMatchObject({ receptor: phone, sender: "10004346" });
    expect(form.get("message")).toMatch(/code is \d{6}$/);
  });
});

describe("webhook", () => {
  it("appends the WebOTP line and uses the template", async () => {
    const seen = provider(() => new Response(null, { status: 204 }));
    expect((await send(withWebOtp, freshPhone())).status).toBe(200);
    const body = (await (seen[0] as Request).json()) as { body: string; code: string };
    expect(body.body).toBe(`${body.code} is your phone-auth-edge code\n\n@auth.example.com #${body.code}`);
  });
});

const accepted = {
  twilio: () => new Response(JSON.stringify({ sid: "SM1", status: "queued" }), { status: 201 }),
  kavenegar: () => new Response(JSON.stringify({ return: { status: 200, message: "تایید شد" }, entries: [{ messageid: 8792343 }] })),
  webhook: () => new Response(null, { status: 204 }),
};

describe.each([
  ["twilio", twilio],
  ["kavenegar", kavenegar],
  ["webhook", webhook],
] as const)("%s failures", (name, variant) => {
  it.each([
    ["a 4xx", () => new Response("bad request", { status: 400 })],
    ["a 5xx", () => new Response("oops", { status: 503 })],
    ["a network error", () => Promise.reject(new TypeError("connection refused"))],
    ["a timeout", hang],
  ])("answers 502 on %s, leaves no live code and no cooldown", async (_case, reply) => {
    const seen = provider(reply);
    const phone = freshPhone();
    await expectProblem(await send(variant, phone), 502, "sms_delivery_failed");
    expect(seen).toHaveLength(1);
    expect(await row("SELECT count(*) AS n FROM otp_challenges WHERE phone = ?", phone)).toEqual({ n: 1 - 1 });
    expect(await guardColumns(["last_sent_at", "hour_count"], phone)).toEqual({
      last_sent_at: null,
      hour_count: 1,
    });
    vi.restoreAllMocks();
    provider(accepted[name]);
    expect((await send(variant, phone)).status).toBe(200);
  });
});
