import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../src/config";
import { database } from "../src/db/client";
import { createDelivery } from "../src/delivery";
import { signInWithCode } from "../src/otp/signin";
import { call, expectProblem, freshPhone, row, sendCode, signIn, type TokenBody, wrongCode } from "./helpers";
import { guardColumns } from "./otp-helpers";

const activate = (who: TokenBody, inviteCode: string) =>
  call("POST", "/v1/me/invite", { token: who.access_token, body: { invite_code: inviteCode } });

async function me(who: TokenBody) {
  const response = await call("GET", "/v1/me", { token: who.access_token });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, any>;
}

const inviteCodeOf = (who: TokenBody) => who.user.invite_code as string;

afterEach(() => {
  vi.useRealTimers();
});

describe("invite codes", () => {
  it("every user gets a 6-character code without look-alikes", async () => {
    const user = await signIn();
    expect(inviteCodeOf(user)).toMatch(/^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$/);
  });

  it("a collision on a new invite code is retried with another code", async () => {
    const taken = await signIn();
    const loaded = loadConfig(env);
    if (!loaded.ok) throw new Error("test config invalid");
    const phone = freshPhone();
    const code = await sendCode(phone);
    const picks = [inviteCodeOf(taken), "Q7Q7Q7"];
    const result = await signInWithCode(
      {
        config: loaded.config,
        db: database(env.DB),
        kv: env.KV,
        assets: env.ASSETS,
        delivery: createDelivery(loaded.config, () => Promise.reject(new Error("no outbound calls here"))),
        now: Date.now(),
        request: { requestId: "test", ip: "unknown", country: null, defer: () => {} },
      },
      { phone, code, client: { userAgent: null, country: null }, pickInviteCode: () => picks.shift() ?? "Z9Z9Z9" },
    );
    expect(result).toMatchObject({ is_new_user: true, user: { invite_code: "Q7Q7Q7" } });
    expect(picks).toEqual([]);
  });
});

describe("POST /v1/me/invite", () => {
  it("activates a code case-insensitively, ignoring spaces, and credits the inviter", async () => {
    const inviter = await signIn();
    const invitee = await signIn();
    const response = await activate(invitee, `  ${inviteCodeOf(inviter).toLowerCase()} `);
    const body = (await response.json()) as Record<string, any>;
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({
      activated_invite_code: inviteCodeOf(inviter),
      referral_bonus: { points: 100, level: 1 },
      inviter: { joined_at: inviter.user.created_at },
    });
    expect(body.inviter.phone).toMatch(/^\+37529\*{5}\d{2}$/);
    expect(body.inviter.phone.slice(-2)).toBe(inviter.user.phone.slice(-2));
    expect(await me(inviter)).toMatchObject({
      points: 100,
      referrals_count: 1,
      referral_tree: { level_1: 1, level_2: 0, total_network: 1 },
    });
    expect(await me(invitee)).toMatchObject({ activated_invite_code: inviteCodeOf(inviter), points: 0 });
  });

  it("refuses your own code", async () => {
    const user = await signIn();
    await expectProblem(await activate(user, inviteCodeOf(user)), 400, "own_invite_code");
  });

  it("refuses a code nobody has", async () => {
    const user = await signIn();
    await expectProblem(await activate(user, "ZZZZZZ"), 404, "invite_not_found");
    await expectProblem(await activate(user, "not-a-code!"), 404, "invite_not_found");
  });

  it("works once per user for life and names the code already used", async () => {
    const [first, second, invitee] = [await signIn(), await signIn(), await signIn()];
    expect((await activate(invitee, inviteCodeOf(first))).status).toBe(200);
    const problem = await expectProblem(await activate(invitee, inviteCodeOf(second)), 409, "invite_already_activated");
    expect(problem.detail).toContain(inviteCodeOf(first));
    expect(await me(second)).toMatchObject({ points: 0, referrals_count: 0 });
  });

  it("refuses the code of a deactivated inviter", async () => {
    const inviter = await signIn();
    const invitee = await signIn();
    await env.DB.prepare("UPDATE users SET is_active = 0 WHERE id = ?").bind(inviter.user.id).run();
    await expectProblem(await activate(invitee, inviteCodeOf(inviter)), 409, "invite_inactive");
  });

  it("refuses a cycle of two (A invited B, then B's code for A)", async () => {
    const a = await signIn();
    const b = await signIn();
    expect((await activate(b, inviteCodeOf(a))).status).toBe(200);
    await expectProblem(await activate(a, inviteCodeOf(b)), 400, "invite_cycle");
  });

  it("refuses a cycle of three (A→B→C, then C's code for A)", async () => {
    const [a, b, c] = [await signIn(), await signIn(), await signIn()];
    expect((await activate(b, inviteCodeOf(a))).status).toBe(200);
    expect((await activate(c, inviteCodeOf(b))).status).toBe(200);
    await expectProblem(await activate(a, inviteCodeOf(c)), 400, "invite_cycle");
  });

  it("counts two levels of the referral tree", async () => {
    const [a, b, c, d] = [await signIn(), await signIn(), await signIn(), await signIn()];
    expect((await activate(c, inviteCodeOf(b))).status).toBe(200);
    // B already has C when B joins A: C becomes A's second level at once.
    expect((await activate(b, inviteCodeOf(a))).status).toBe(200);
    expect((await activate(d, inviteCodeOf(b))).status).toBe(200);
    expect(await me(a)).toMatchObject({ points: 100, referrals_count: 1, referral_tree: { level_1: 1, level_2: 2, total_network: 3 } });
    expect(await me(b)).toMatchObject({ points: 200, referrals_count: 2, referral_tree: { level_1: 2, level_2: 0, total_network: 2 } });
  });

  it("parallel activations by one user give exactly one success and counts match the rows", async () => {
    const inviters = await Promise.all(Array.from({ length: 8 }, () => signIn()));
    const invitee = await signIn();
    const responses = await Promise.all(inviters.map((inviter) => activate(invitee, inviteCodeOf(inviter))));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(7);
    for (const response of responses.filter((r) => r.status === 409)) await expectProblem(response, 409, "invite_already_activated");
    const totals = await row<{ rows: number; counted: number; points: number }>(
      `SELECT (SELECT count(*) FROM referrals WHERE invitee_id = ?) AS rows,
        (SELECT sum(referrals_count) FROM users WHERE id IN (${inviters.map(() => "?").join(",")})) AS counted,
        (SELECT sum(points) FROM users WHERE id IN (${inviters.map(() => "?").join(",")})) AS points`,
      invitee.user.id,
      ...inviters.map((i) => i.user.id),
      ...inviters.map((i) => i.user.id),
    );
    expect(totals).toEqual({ rows: 1, counted: 1, points: 100 });
  });

  it("parallel activations of one code by many users credit each exactly once", async () => {
    const inviter = await signIn();
    const invitees = await Promise.all(Array.from({ length: 10 }, () => signIn()));
    const responses = await Promise.all(invitees.map((invitee) => activate(invitee, inviteCodeOf(inviter))));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    const counted = await row<{ referrals_count: number; points: number; rows: number }>(
      "SELECT referrals_count, points, (SELECT count(*) FROM referrals WHERE inviter_id = users.id) AS rows FROM users WHERE id = ?",
      inviter.user.id,
    );
    expect(counted).toEqual({ referrals_count: 10, points: 1000, rows: 10 });
  });
});

describe("GET /v1/me/referrals", () => {
  it("pages newest first with no duplicates or gaps, masking phones", async () => {
    const inviter = await signIn();
    const invitees: TokenBody[] = [];
    for (let i = 0; i < 5; i++) {
      const invitee = await signIn();
      expect((await activate(invitee, inviteCodeOf(inviter))).status).toBe(200);
      invitees.push(invitee);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : "?limit=2";
      const response = await call("GET", `/v1/me/referrals${query}`, { token: inviter.access_token });
      const page = (await response.json()) as { items: { phone: string; joined_at: string; status: string }[]; next_cursor: string | null };
      expect(response.status).toBe(200);
      expect(page.items.length).toBeLessThanOrEqual(2);
      for (const item of page.items) {
        expect(item.phone).toMatch(/^\+37529\*{5}\d{2}$/);
        expect(item.status).toBe("active");
        seen.push(item.joined_at + item.phone);
      }
      cursor = page.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(5);
    const times = seen.map((s) => s.slice(0, 24));
    expect([...times].sort().reverse()).toEqual(times);
  });

  it("shows deactivated and deleted referrals, and keeps deleted ones in the counts", async () => {
    const inviter = await signIn();
    const [gone, off] = [await signIn(), await signIn()];
    expect((await activate(gone, inviteCodeOf(inviter))).status).toBe(200);
    expect((await activate(off, inviteCodeOf(inviter))).status).toBe(200);
    await env.DB.prepare("UPDATE users SET is_active = 0 WHERE id = ?").bind(off.user.id).run();
    expect((await call("DELETE", "/v1/me", { token: gone.access_token })).status).toBe(204);
    const page = (await (await call("GET", "/v1/me/referrals", { token: inviter.access_token })).json()) as { items: any[] };
    expect(page.items.map((i) => i.status).sort()).toEqual(["deleted", "inactive"]);
    expect(page.items.find((i) => i.status === "deleted")?.phone).toBeNull();
    expect(await me(inviter)).toMatchObject({ referrals_count: 2, points: 200 });
  });

  it("deleting the account and signing up again earns the inviter nothing more", async () => {
    const inviter = await signIn();
    const first = await signIn();
    expect((await activate(first, inviteCodeOf(inviter))).status).toBe(200);
    expect((await call("DELETE", "/v1/me", { token: first.access_token })).status).toBe(204);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000); // the send cooldown survives deletion
    const again = await signIn(first.user.phone);
    expect(again.is_new_user).toBe(true);
    const response = await activate(again, inviteCodeOf(inviter));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ referral_bonus: { points: 0, level: 1 } });
    expect(await me(inviter)).toMatchObject({ referrals_count: 1, points: 100 });
    const page = (await (await call("GET", "/v1/me/referrals", { token: inviter.access_token })).json()) as { items: any[] };
    expect(page.items).toHaveLength(1);
    expect(page.items[0].status).toBe("active");
  });

  it("refuses a cursor it did not issue and a limit out of range", async () => {
    const user = await signIn();
    await expectProblem(await call("GET", "/v1/me/referrals?cursor=bogus", { token: user.access_token }), 400, "validation_failed");
    await expectProblem(await call("GET", "/v1/me/referrals?limit=0", { token: user.access_token }), 400, "validation_failed");
    await expectProblem(await call("GET", "/v1/me/referrals?limit=101", { token: user.access_token }), 400, "validation_failed");
  });
});

describe("invite code at sign-up", () => {
  it("activates the referral in the sign-up step", async () => {
    const inviter = await signIn();
    const phone = freshPhone();
    const code = await sendCode(phone);
    const response = await call("POST", "/v1/auth/otp/verify", { body: { phone, code, invite_code: inviteCodeOf(inviter).toLowerCase() } });
    const body = (await response.json()) as TokenBody;
    expect(response.status).toBe(200);
    expect(body.user.activated_invite_code).toBe(inviteCodeOf(inviter));
    expect(await me(inviter)).toMatchObject({ points: 100, referrals_count: 1 });
  });

  it("a bad invite code fails before the one-time code is consumed or counted", async () => {
    const phone = freshPhone();
    const code = await sendCode(phone);
    await expectProblem(
      await call("POST", "/v1/auth/otp/verify", { body: { phone, code, invite_code: "ZZZZZZ" } }),
      404,
      "invite_not_found",
    );
    expect(await row("SELECT attempts, consumed_at FROM otp_challenges WHERE phone = ?", phone)).toEqual({
      attempts: 0,
      consumed_at: null,
    });
    expect(await guardColumns(["fail_count"], phone)).toEqual({ fail_count: 0 });
    expect(await row("SELECT count(*) AS n FROM users WHERE phone = ?", phone)).toEqual({ n: 0 });
    const retry = await call("POST", "/v1/auth/otp/verify", { body: { phone, code } });
    expect(retry.status).toBe(200);
  });

  it("a wrong one-time code with an invite code is a counted wrong guess", async () => {
    const inviter = await signIn();
    const phone = freshPhone();
    const code = await sendCode(phone);
    const problem = await expectProblem(
      await call("POST", "/v1/auth/otp/verify", { body: { phone, code: wrongCode(code), invite_code: inviteCodeOf(inviter) } }),
      400,
      "invalid_code",
    );
    expect(problem.attempts_left).toBe(4);
  });

  it("is ignored for an existing user", async () => {
    const inviter = await signIn();
    const existing = await signIn();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    const code = await sendCode(existing.user.phone);
    const response = await call("POST", "/v1/auth/otp/verify", {
      body: { phone: existing.user.phone, code, invite_code: "ZZZZZZ" },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as TokenBody).user.activated_invite_code).toBeNull();
    expect(await me(inviter)).toMatchObject({ referrals_count: 0 });
  });
});
