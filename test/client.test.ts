import { exports } from "cloudflare:workers";
import type { InferRequestType, InferResponseType } from "hono/client";
import { describe, expect, expectTypeOf, it } from "vitest";
import { type Client, createClient, type Problem } from "../src/client";
import { freshIp, freshPhone } from "./helpers";

// The contract's shapes written out by hand on purpose: when a route's schema changes, these
// assertions stop compiling (`npm run typecheck`), so the change to clients is a deliberate one.
type Purpose = "login" | "reset_password" | "change_phone";
type User = {
  id: string;
  phone: string;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  invite_code: string;
  activated_invite_code: string | null;
  has_password: boolean;
  role: "user" | "admin";
  created_at: string;
  last_login_at: string | null;
  points: number;
  referrals_count: number;
  referral_tree: { level_1: number; level_2: number; total_network: number };
};
type Tokens = {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  is_new_user: boolean;
  user?: User;
};

/** A client whose requests go straight to the Worker's fetch handler in workerd. */
function workerClient(): Client {
  return createClient("http://api.test", {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => exports.default.fetch(new Request(input, init)),
    // Each client gets its own IP, so the IP windows of other tests do not interfere.
    headers: { "CF-Connecting-IP": freshIp() },
  });
}

describe("typed client: route shapes (checked by npm run typecheck)", () => {
  const client = createClient("http://api.test");

  it("send takes the phone and an optional purpose, and answers the send summary", () => {
    expectTypeOf<InferRequestType<typeof client.v1.auth.otp.$post>>().toEqualTypeOf<{
      json: {
        phone: string;
        purpose?: Purpose;
        region?: string;
        channel?: "sms" | "whatsapp" | "telegram" | "voice" | "auto";
        locale?: string;
        turnstile_token?: string;
      };
    }>();
    expectTypeOf<InferResponseType<typeof client.v1.auth.otp.$post, 200>>().toEqualTypeOf<{
      phone: string;
      purpose: Purpose;
      channel: "sms" | "whatsapp" | "telegram" | "voice";
      expires_in: number;
      resend_in: number;
      code_length: number;
      dev_code?: string;
    }>();
    expectTypeOf(client.v1.auth.otp.$post).toBeCallableWith({ json: { phone: "+375291234567" } });
    // @ts-expect-error the body is required
    expectTypeOf(client.v1.auth.otp.$post).toBeCallableWith({});
    // @ts-expect-error phone is a string
    expectTypeOf(client.v1.auth.otp.$post).toBeCallableWith({ json: { phone: 375291234567 } });
    // @ts-expect-error purpose is one of the contract's purposes
    expectTypeOf(client.v1.auth.otp.$post).toBeCallableWith({ json: { phone: "+375291234567", purpose: "signup" } });
    expectTypeOf(client.v1.auth.otp).not.toHaveProperty("$get");
  });

  it("verify takes phone and code, and answers the token pair", () => {
    expectTypeOf<InferRequestType<typeof client.v1.auth.otp.verify.$post>>().toEqualTypeOf<{
      json: { phone: string; code: string; region?: string; invite_code?: string; turnstile_token?: string };
    }>();
    expectTypeOf<InferResponseType<typeof client.v1.auth.otp.verify.$post, 200>>().toEqualTypeOf<Tokens>();
    // @ts-expect-error the code is required
    expectTypeOf(client.v1.auth.otp.verify.$post).toBeCallableWith({ json: { phone: "+375291234567" } });
  });

  it("refresh and logout take the refresh token", () => {
    expectTypeOf<InferRequestType<typeof client.v1.auth.token.$post>>().toEqualTypeOf<{ json: { refresh_token: string } }>();
    expectTypeOf<InferResponseType<typeof client.v1.auth.token.$post, 200>>().toEqualTypeOf<Tokens>();
    expectTypeOf<InferRequestType<typeof client.v1.auth.logout.$post>>().toEqualTypeOf<{
      json: { refresh_token?: string; all?: boolean };
    }>();
  });

  it("the profile routes answer the user", () => {
    expectTypeOf<InferResponseType<typeof client.v1.me.$get, 200>>().toEqualTypeOf<User>();
    expectTypeOf<InferRequestType<typeof client.v1.me.$patch>>().toEqualTypeOf<{
      json: { first_name?: string | null; last_name?: string | null; email?: string | null };
    }>();
    expectTypeOf<InferResponseType<typeof client.v1.me.$patch, 200>>().toEqualTypeOf<User>();
    // @ts-expect-error role is not the caller's to set
    expectTypeOf(client.v1.me.$patch).toBeCallableWith({ json: { role: "admin" } });
    expectTypeOf<InferRequestType<(typeof client.v1.me.sessions)[":id"]["$delete"]>>().toEqualTypeOf<{ param: { id: string } }>();
  });

  it("every error status answers a problem", () => {
    expectTypeOf<InferResponseType<typeof client.v1.me.$get, 401>>().toEqualTypeOf<Problem>();
    expectTypeOf<InferResponseType<typeof client.v1.auth.otp.$post, 429>>().toEqualTypeOf<Problem>();
    expectTypeOf<Problem>().toHaveProperty("code").toEqualTypeOf<string>();
  });
});

describe("typed client against the Worker", () => {
  it("signs in with send, verify and me", async () => {
    const client = workerClient();
    const phone = freshPhone();

    const sent = await client.v1.auth.otp.$post({ json: { phone } });
    expect(sent.status).toBe(200);
    if (!sent.ok) throw new Error(`send failed: ${(await sent.json()).code}`);
    const { dev_code: code } = await sent.json();
    expect(code).toMatch(/^\d{6}$/);

    const verified = await client.v1.auth.otp.verify.$post({ json: { phone, code: code ?? "" } });
    if (!verified.ok) throw new Error(`verify failed: ${(await verified.json()).code}`);
    const tokens = await verified.json();
    expect(tokens).toMatchObject({ token_type: "Bearer", is_new_user: true });

    const me = await client.v1.me.$get({}, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
    if (!me.ok) throw new Error(`me failed: ${(await me.json()).code}`);
    const user = await me.json();
    expect(user.phone).toBe(phone);
    expect(user.id).toBe(tokens.user?.id);
  });

  it("narrows an error answer to a problem", async () => {
    const me = await workerClient().v1.me.$get({}, { headers: { Authorization: "Bearer not-a-token" } });
    expect(me.ok).toBe(false);
    if (me.ok) return;
    const problem = await me.json();
    expect(problem).toMatchObject({ status: 401, code: "unauthorized" });
  });
});
