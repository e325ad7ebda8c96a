import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { signInAdmin } from "./admin-helpers";
import { call, expectProblem, freshPhone, row, signIn } from "./helpers";

// Routes whose access token must belong to a live session, found in the #10 review: before, a
// revoked session's token (still inside its 900 s) could send a change_phone code or log the user
// out everywhere. And which D1 session anchor each kind of request reads from.

async function twoSessions() {
  const phone = freshPhone();
  const first = await signIn(phone);
  // A second session of the same user: sign in again after the resend cooldown.
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + 61_000);
  const second = await signIn(phone);
  vi.useRealTimers();
  return { phone, first, second };
}

describe("a revoked session's access token", () => {
  it("cannot ask for a change_phone code", async () => {
    const tokens = await signIn();
    expect((await call("POST", "/v1/auth/logout", { body: { refresh_token: tokens.refresh_token } })).status).toBe(204);
    const target = freshPhone();
    await expectProblem(
      await call("POST", "/v1/auth/otp", { token: tokens.access_token, body: { phone: target, purpose: "change_phone" } }),
      401,
      "unauthorized",
    );
    expect(await row("SELECT phone FROM otp_challenges WHERE phone = ?", target)).toBeNull();
  });

  it("cannot log the user out everywhere", async () => {
    const { first, second } = await twoSessions();
    expect((await call("POST", "/v1/auth/logout", { body: { refresh_token: first.refresh_token } })).status).toBe(204);
    const refused = await call("POST", "/v1/auth/logout", { token: first.access_token, body: { all: true } });
    await expectProblem(refused, 401, "unauthorized");
    expect(refused.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
    // The other session is untouched.
    expect((await call("GET", "/v1/me", { token: second.access_token })).status).toBe(200);
    // A live session's token still can.
    expect((await call("POST", "/v1/auth/logout", { token: second.access_token, body: { all: true } })).status).toBe(204);
    await expectProblem(await call("GET", "/v1/me", { token: second.access_token }), 401, "unauthorized");
  });
});

describe("D1 session anchors (read replication)", () => {
  /** Calls the Worker with a DB whose withSession records the anchor it was opened with. */
  async function anchorOf(method: string, path: string, token?: string, bookmark?: string) {
    const anchors: string[] = [];
    const recording = new Proxy(env.DB, {
      get(target, property) {
        if (property === "withSession") {
          return (anchor: string) => {
            anchors.push(anchor);
            return target.withSession(anchor as "first-primary");
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const headers: Record<string, string> = { "CF-Connecting-IP": "203.0.113.77" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (bookmark) headers["X-D1-Bookmark"] = bookmark;
    const response = await worker.fetch(
      new Request(`http://api.test${path}`, { method, headers }),
      { ...env, ...(path.startsWith("/v1/admin") ? { ADMIN_PHONES: adminPhones } : {}), DB: recording } as typeof env,
      createExecutionContext(),
    );
    return { anchors, status: response.status, bookmark: response.headers.get("X-D1-Bookmark") };
  }
  let adminPhones = "";

  it("reads /v1/me from any replica, admin reads from the primary, and honours a bookmark", async () => {
    const user = await signIn();
    const me = await anchorOf("GET", "/v1/me", user.access_token);
    expect(me).toMatchObject({ status: 200, anchors: ["first-unconstrained"] });
    const write = await anchorOf("DELETE", "/v1/me/sessions/none", user.access_token);
    expect(write.anchors).toEqual(["first-primary"]);
    // A bookmark from a response is passed back to D1 as the anchor.
    expect(me.bookmark).toBeTruthy();
    const followUp = await anchorOf("GET", "/v1/me", user.access_token, me.bookmark as string);
    expect(followUp.anchors).toEqual([me.bookmark]);

    const admin = await signInAdmin();
    adminPhones = admin.user.phone;
    const listed = await anchorOf("GET", "/v1/admin/users?limit=1", admin.access_token);
    expect(listed).toMatchObject({ status: 200, anchors: ["first-primary"] });
  });
});
