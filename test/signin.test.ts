import { describe, expect, it } from "vitest";
import { call, expectProblem, freshPhone, row, sendCode, signIn } from "./helpers";

describe("sign-in with a one-time code", () => {
  it("sends a code, verifies it, creates the user, and serves the profile", async () => {
    const phone = freshPhone();
    const send = await call("POST", "/v1/auth/otp", { body: { phone } });
    expect(send.status).toBe(200);
    const sent = (await send.json()) as Record<string, unknown>;
    expect(sent).toMatchObject({ phone, purpose: "login", expires_in: 300, resend_in: 60, code_length: 6 });
    expect(sent.dev_code).toMatch(/^\d{6}$/);

    const verify = await call("POST", "/v1/auth/otp/verify", { body: { phone, code: sent.dev_code } });
    const tokens = (await verify.json()) as Record<string, any>;
    expect(verify.status, JSON.stringify(tokens)).toBe(200);
    expect(verify.headers.get("Cache-Control")).toBe("no-store");
    expect(tokens).toMatchObject({ token_type: "Bearer", expires_in: 900, refresh_expires_in: 1209600, is_new_user: true });
    expect(tokens.user).toMatchObject({ phone, has_password: false, role: "user", points: 0 });

    const me = await call("GET", "/v1/me", { token: tokens.access_token });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ id: tokens.user.id, phone });
    expect(await row("SELECT count(*) AS n FROM users WHERE phone = ?", phone)).toEqual({ n: 1 });
  });

  it("answers invalid_code with attempts_left for a wrong code", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    const wrong = code === "000000" ? "111111" : "000000";
    const problem = await expectProblem(await call("POST", "/v1/auth/otp/verify", { body: { phone, code: wrong } }), 400, "invalid_code");
    expect(problem.attempts_left).toBe(4);
  });

  it("refreshes", async () => {
    const tokens = await signIn();
    const refreshed = await call("POST", "/v1/auth/token", { body: { refresh_token: tokens.refresh_token } });
    expect(refreshed.status).toBe(200);
  });
});
