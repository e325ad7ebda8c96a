import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ADMIN_ENV, callWorker, freshAdminPhone, sharedAdmin } from "./admin-helpers";
import { call, expectProblem, freshPhone, row, sendCode, signIn } from "./helpers";
import { advance, freezeClock, SECOND } from "./otp-helpers";
import { WebClient } from "./web-helpers";

// The operator console (`/admin`): the same services as /v1/admin/* behind the pages' session,
// CSRF and headers; admins only (others 403); every change a form post; EN and RU.

afterEach(() => {
  vi.useRealTimers();
});

const CONSOLE_PAGES = ["/admin", "/admin/traffic", "/admin/blocks", "/admin/users", "/admin/audit"];

async function adminBrowser(headers: Record<string, string> = {}) {
  const browser = new WebClient("https://web.test", headers, ADMIN_ENV);
  await browser.signIn(freshAdminPhone());
  return browser;
}

let adminShared: WebClient | undefined;
/** One signed-in admin browser for tests that only look (its access cookie outlives the file). */
async function admin() {
  adminShared ??= await adminBrowser();
  return adminShared;
}

/** A headline number's raw value (`data-value`) on the overview. */
const kpi = (html: string, id: string) => {
  const raw = new RegExp(`data-kpi="${id}"[\\s\\S]*?data-value="([^"]*)"`).exec(html)?.[1];
  return raw === undefined || raw === "" ? null : Number(raw);
};
const kpiBlock = (html: string, id: string) => new RegExp(`data-kpi="${id}"[\\s\\S]*?</dd>`).exec(html)?.[0] ?? "";
const verifiedOn = (html: string) => Number(/data-kpi="sent"[\s\S]*?class="note">([\d,]+) verified/.exec(html)?.[1]?.replace(/,/g, ""));

/** Sends `count` codes to fresh phones and verifies none of them. */
async function codesSent(count: number) {
  for (let i = 0; i < count; i++) await sendCode(freshPhone());
}

describe("the operator console", () => {
  it("answers 403 with the error page to a signed-in user who is not an admin, on every page and form; a signed-out browser goes to sign in", async () => {
    const user = new WebClient("https://web.test", {}, ADMIN_ENV);
    const signedIn = await user.signIn(freshPhone());
    expect(signedIn.status).toBe(200);
    for (const path of [...CONSOLE_PAGES, "/admin/users/00000000-0000-0000-0000-000000000000", "/admin/traffic?group_by=prefix"]) {
      const page = await user.get(path);
      expect(page.status, path).toBe(403);
      expect(user.html, path).toContain("You do not have access to this.");
      expect(page.headers.get("Content-Security-Policy"), path).toContain("default-src 'none'");
    }
    const posts: [string, Record<string, string>][] = [
      ["/admin/blocks", { target: "+882134", seconds: "600", reason: "x" }],
      ["/admin/blocks/00000000-0000-0000-0000-000000000000/lift", {}],
      ["/admin/users/00000000-0000-0000-0000-000000000000/active", { is_active: "0" }],
      ["/admin/users/00000000-0000-0000-0000-000000000000/role", { role: "admin" }],
    ];
    for (const [path, form] of posts) expect((await user.post(path, form)).status, path).toBe(403);
    expect(await row("SELECT count(*) AS n FROM fraud_blocks WHERE value = '+882134'")).toEqual({ n: 0 });

    const stranger = new WebClient("https://web.test", {}, ADMIN_ENV);
    for (const path of CONSOLE_PAGES) {
      const away = await stranger.get(path);
      expect(away.status, path).toBe(303);
      expect(away.headers.get("Location")).toBe("/");
    }
  });

  it("reads from the primary, so a demotion in D1 shuts the console at once, while other pages may read a replica", async () => {
    const anchors: string[] = [];
    const recorded = {
      ...ADMIN_ENV,
      DB: new Proxy(env.DB, {
        get(target, property) {
          if (property !== "withSession") return Reflect.get(target, property);
          return (anchor: string) => {
            anchors.push(anchor);
            return target.withSession(anchor);
          };
        },
      }),
    } as typeof env;
    const phone = freshAdminPhone();
    const browser = new WebClient("https://web.test", {}, recorded);
    await browser.signIn(phone);
    // The sign-in's bookmark cookie: a page may read a replica at least that new; the console ignores it.
    anchors.length = 0;
    expect((await browser.get("/admin/users")).status).toBe(200);
    expect((await browser.get("/profile")).status).toBe(200);
    expect(anchors[0]).toBe("first-primary");
    expect(anchors[1]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{8}-/);

    await env.DB.prepare("UPDATE users SET role = 'user' WHERE phone = ?").bind(phone).run();
    expect((await browser.get("/admin/users")).status).toBe(403);
    expect(browser.html).toContain("You do not have access to this.");
  });

  it("an admin's profile links to the console; a user's does not", async () => {
    const browser = await admin();
    expect((await browser.get("/profile")).status).toBe(200);
    expect(browser.html).toMatch(/<a href="\/admin" data-console-link="true">Operator console<\/a>/);
    const user = new WebClient("https://web.test", {}, ADMIN_ENV);
    await user.signIn(freshPhone());
    expect((await user.get("/profile")).status).toBe(200);
    expect(user.html).not.toContain("data-console-link");
  });

  it("every page shares the nav (the webhooks page included) and marks the current section", async () => {
    const browser = await admin();
    for (const [path, section] of [
      ...CONSOLE_PAGES.map((path, i) => [path, ["Overview", "Traffic", "Blocks", "Users", "Audit"][i]]),
      ["/admin/webhooks", "Webhooks"],
    ]) {
      const page = await browser.get(path as string);
      expect(page.status, path).toBe(200);
      expect(browser.html).toContain('aria-label="Operator console"');
      for (const href of [...CONSOLE_PAGES, "/admin/webhooks"]) expect(browser.html, `${path} links ${href}`).toContain(`href="${href}"`);
      expect(browser.html).toMatch(new RegExp(`aria-current="page">${section}<`));
    }
  });

  it("the overview counts the codes sent and verified, draws its charts as SVG, and marks a conversion under FRAUD_MIN_CONVERSION", async () => {
    const browser = await admin();
    await browser.get("/admin?period=24h");
    const before = { sent: kpi(browser.html, "sent") ?? 0, verified: verifiedOn(browser.html) };

    await signIn(freshPhone());
    await signIn(freshPhone());
    await codesSent(1);
    await browser.get("/admin?period=24h");
    expect(kpi(browser.html, "sent")).toBe(before.sent + 3);
    expect(verifiedOn(browser.html)).toBe(before.verified + 2);
    expect(kpi(browser.html, "conversion")).toBeCloseTo((before.verified + 2) / (before.sent + 3), 5);
    for (const id of ["chart-sent", "chart-conversion", "chart-spend", "chart-blocks"]) {
      expect(browser.html).toMatch(new RegExp(`id="${id}"[\\s\\S]*?<svg[^>]*role="img"`));
    }
    expect(browser.html).toMatch(/<polyline class="line tone-1"/);
    // The numbers the picture shows are there as text too.
    expect(browser.html).toContain("The numbers as a table");

    // Enough unverified codes to take conversion under 20%: marked in words, not only by colour.
    const sent = before.sent + 3;
    const verified = before.verified + 2;
    await codesSent(Math.max(0, Math.ceil(verified / 0.19) - sent));
    await browser.get("/admin?period=24h");
    const conversion = kpiBlock(browser.html, "conversion");
    expect(conversion).toContain('data-alarm="true"');
    expect(conversion).toContain("⚠ Alarm: below the 20% threshold");
    expect(kpiBlock(browser.html, "sent")).not.toContain("data-alarm");
  });

  it("counts sign-ins by passkey against sign-ins by code for the passkey share", async () => {
    const browser = await admin();
    await browser.get("/admin?period=7d");
    const note = () => /(\d+) by passkey, (\d+) by code/.exec(kpiBlock(browser.html, "passkey"))?.slice(1).map(Number) ?? [];
    const [passkey = 0, code = 0] = note();
    await env.DB.prepare(
      "INSERT INTO audit_events (id, type, user_id, created_at, detail) VALUES (?, 'passkey_login', NULL, ?, '{}'), (?, 'passkey_login', NULL, ?, '{}')",
    )
      .bind(crypto.randomUUID(), Date.now(), crypto.randomUUID(), Date.now())
      .run();
    await signIn(freshPhone());
    await browser.get("/admin?period=7d");
    expect(note()).toEqual([passkey + 2, code + 1]);
    expect(kpi(browser.html, "passkey")).toBeCloseTo((passkey + 2) / (passkey + 2 + code + 1), 5);
  });

  it("never fails on odd query parameters: an unknown period or grouping falls back to the default and says so", async () => {
    const browser = await admin();
    const cases: [string, string | null][] = [
      ["/admin?period=forever", "“forever” is not a period this page knows; showing last 7 days."],
      ["/admin?from=yesterday&to=%00", null],
      ["/admin/traffic?group_by=planet", "“planet” is not a grouping this page knows; grouped by country."],
      ["/admin/traffic?period=%E2%80%AE&group_by=", null],
      ["/admin/audit?type=nope&cursor=zzz", "“nope” is not an event type; showing every type."],
      ["/admin/users?q=%F0%9F%92%A9&cursor=!!!", null],
      ["/admin/blocks?cursor=bad&done=%3Cscript%3E", null],
      ["/admin/users/%20nobody", null],
    ];
    for (const [path, notice] of cases) {
      const page = await browser.get(path);
      expect(page.status, path).toBe(path.startsWith("/admin/users/") ? 404 : 200);
      if (notice) expect(browser.html, path).toContain(notice);
      expect(browser.html).not.toContain("<script>");
    }
  });

  it("the traffic page groups the period's sends by country, prefix, channel and provider", async () => {
    const browser = await admin();
    await signIn(freshPhone());
    for (const [groupBy, key] of [
      ["country", "BY"],
      ["channel", "sms"],
      ["provider", "console"],
    ] as const) {
      const page = await browser.get(`/admin/traffic?period=24h&group_by=${groupBy}`);
      expect(page.status).toBe(200);
      expect(browser.html).toContain(`data-group-by="${groupBy}"`);
      expect(browser.html).toContain(`data-key="${key}"`);
    }
    await browser.get("/admin/traffic?period=30d&group_by=prefix");
    expect(browser.html).toMatch(/data-key="\+37529\d+"/);
  });
});

describe("the console's blocks page", () => {
  const prefix = () => `+88213${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`;

  it("blocks a prefix through the form and lifts it with its button; the API shows it lifted", async () => {
    const browser = await admin();
    await browser.get("/admin/blocks");
    const target = prefix();
    const created = await browser.follow(await browser.post("/admin/blocks", { target, seconds: "3600", reason: "pumping test" }));
    expect(created.status).toBe(200);
    expect(browser.html).toContain("The destination is blocked.");
    const block = await row<{ id: string; source: string; until: number; created_at: number; reason: string }>(
      "SELECT id, source, until, created_at, reason FROM fraud_blocks WHERE value = ?",
      target,
    );
    expect(block).toMatchObject({ source: "manual", reason: "pumping test" });
    expect((block?.until ?? 0) - (block?.created_at ?? 0)).toBe(3600 * 1000);
    expect(browser.html).toContain(`action="/admin/blocks/${block?.id}/lift"`);

    // The overview marks the active block.
    await browser.get("/admin");
    expect(kpi(browser.html, "blocks")).toBeGreaterThanOrEqual(1);
    expect(kpiBlock(browser.html, "blocks")).toContain("⚠ Alarm");

    await browser.get("/admin/blocks");
    const lifted = await browser.follow(await browser.post(`/admin/blocks/${block?.id}/lift`, {}));
    expect(lifted.status).toBe(200);
    expect(browser.html).toContain("The block is lifted.");
    expect(browser.html).not.toContain(`action="/admin/blocks/${block?.id}/lift"`);

    const api = await callWorker("GET", "/v1/admin/fraud/blocks?limit=100", { token: (await sharedAdmin()).access_token });
    const { items } = (await api.json()) as { items: { id: string; active: boolean; lifted_at: string | null }[] };
    expect(items.find((item) => item.id === block?.id)).toMatchObject({ active: false, lifted_at: expect.any(String) });
  });

  it("blocks a country (case-insensitive) for FRAUD_BLOCK_SECONDS when no length is given", async () => {
    const browser = await admin();
    await browser.get("/admin/blocks");
    const response = await browser.post("/admin/blocks", { target: "kp", seconds: "", reason: "" });
    expect(response.status).toBe(303);
    const block = await row<{ id: string; until: number; created_at: number; reason: string | null }>(
      "SELECT id, until, created_at, reason FROM fraud_blocks WHERE scope = 'country' AND value = 'KP' ORDER BY created_at DESC LIMIT 1",
    );
    expect(block?.reason).toBeNull();
    expect((block?.until ?? 0) - (block?.created_at ?? 0)).toBe(43_200 * 1000);
    await browser.get("/admin/blocks");
    expect((await browser.post(`/admin/blocks/${block?.id}/lift`, {})).status).toBe(303);
  });

  it("shows an unreadable target or length beside its field (422) and blocks nothing", async () => {
    const browser = await admin();
    await browser.get("/admin/blocks");
    const before = await row<{ n: number }>("SELECT count(*) AS n FROM fraud_blocks");
    const refused = await browser.post("/admin/blocks", { target: "+12", seconds: "5", reason: "" });
    expect(refused.status).toBe(422);
    expect(browser.html).toContain('id="block-target-error"');
    expect(browser.html).toContain('id="block-seconds-error"');
    expect(browser.html).toContain('value="+12"');
    expect(await row("SELECT count(*) AS n FROM fraud_blocks")).toEqual(before);
  });

  it("counts and offers to lift an active block that 54 newer blocks push off the recent page", async () => {
    const browser = await admin();
    const now = Date.now();
    const at = now - 100_000;
    const oldest = crypto.randomUUID();
    const rows = [
      env.DB.prepare(
        "INSERT INTO fraud_blocks (id, scope, value, reason, source, created_at, until) VALUES (?, 'prefix', ?, 'oldest', 'manual', ?, ?)",
      ).bind(oldest, "+88213009999", at, now + 3_600_000),
      // Newer ones, none in force: half lifted, half run out.
      ...Array.from({ length: 54 }, (_, i) =>
        env.DB.prepare(
          "INSERT INTO fraud_blocks (id, scope, value, source, created_at, until, lifted_at) VALUES (?, 'prefix', ?, 'manual', ?, ?, ?)",
        ).bind(
          crypto.randomUUID(),
          `+8821300${String(i).padStart(4, "0")}`,
          at + (i + 1) * 1000,
          i % 2 ? at + (i + 1) * 1000 + 500 : now + 3_600_000,
          i % 2 ? null : at + (i + 1) * 1000 + 500,
        ),
      ),
    ];
    await env.DB.batch(rows);
    // The precondition: the paged list's first 50 no longer hold it.
    const api = await callWorker("GET", "/v1/admin/fraud/blocks?limit=50", { token: (await sharedAdmin()).access_token });
    const { items } = (await api.json()) as { items: { id: string }[] };
    expect(items.map((item) => item.id)).not.toContain(oldest);

    await browser.get("/admin/blocks");
    const inForce = await row<{ n: number }>("SELECT count(*) AS n FROM fraud_blocks WHERE lifted_at IS NULL AND until > ?", Date.now());
    expect(inForce?.n).toBeGreaterThanOrEqual(1);
    const heading = /id="blocks-active">Active blocks: ([\d,]+)/.exec(browser.html)?.[1];
    expect(Number(heading?.replace(/,/g, ""))).toBe(inForce?.n);
    expect(browser.html).toContain(`<tr data-block="${oldest}">`);
    expect(browser.html).toContain(`action="/admin/blocks/${oldest}/lift"`);

    // Its button lifts it.
    expect((await browser.post(`/admin/blocks/${oldest}/lift`, {})).status).toBe(303);
    expect(await row("SELECT lifted_at IS NOT NULL AS lifted FROM fraud_blocks WHERE id = ?", oldest)).toEqual({ lifted: 1 });
  });

  it("refuses a post without the CSRF token (403) and lifts nothing", async () => {
    const browser = await admin();
    await browser.get("/admin/blocks");
    await browser.post("/admin/blocks", { target: prefix(), seconds: "600" });
    const block = await row<{ id: string }>("SELECT id FROM fraud_blocks WHERE lifted_at IS NULL ORDER BY created_at DESC LIMIT 1");
    const forged = await browser.post(`/admin/blocks/${block?.id}/lift`, {}, { csrf: null });
    expect(forged.status).toBe(403);
    expect(browser.html).toContain("This form could not be sent");
    const crossSite = await browser.post("/admin/blocks", { target: prefix() }, { origin: "https://evil.test" });
    expect(crossSite.status).toBe(403);
    expect(await row("SELECT lifted_at FROM fraud_blocks WHERE id = ?", block?.id)).toEqual({ lifted_at: null });
  });
});

describe("the console's users and audit pages", () => {
  it("finds a user by phone, deactivates them (their token stops, a new sign-in answers 403 account_disabled) and reactivates them", async () => {
    const browser = await admin();
    const phone = freshPhone();
    const user = await signIn(phone);
    await browser.get(`/admin/users?q=${encodeURIComponent(phone)}`);
    // Admins see the full number (and the look is audited).
    expect(browser.html).toContain(`href="/admin/users/${user.user.id}">${phone}</a>`);
    await browser.get(`/admin/users/${user.user.id}`);
    expect(browser.html).toContain("Deactivate");

    const saved = await browser.follow(await browser.post(`/admin/users/${user.user.id}/active`, { is_active: "0" }));
    expect(saved.status).toBe(200);
    expect(browser.html).toContain("Saved.");
    expect(browser.html).toContain("Reactivate");
    expect(await row("SELECT is_active FROM users WHERE id = ?", user.user.id)).toEqual({ is_active: 0 });
    await expectProblem(await call("GET", "/v1/me", { token: user.access_token }), 401, "unauthorized");
    freezeClock();
    advance(61 * SECOND);
    const code = await sendCode(phone);
    await expectProblem(await call("POST", "/v1/auth/otp/verify", { body: { phone, code } }), 403, "account_disabled");

    await browser.get(`/admin/users/${user.user.id}`);
    expect((await browser.post(`/admin/users/${user.user.id}/active`, { is_active: "1" })).status).toBe(303);
    expect(await row("SELECT is_active FROM users WHERE id = ?", user.user.id)).toEqual({ is_active: 1 });
  });

  it("records an admin_viewed event by the admin for the user search and the user page, which show full phones", async () => {
    const phone = freshAdminPhone();
    const browser = new WebClient("https://web.test", {}, ADMIN_ENV);
    await browser.signIn(phone);
    const by = (await row<{ id: string }>("SELECT id FROM users WHERE phone = ?", phone))?.id;
    expect(by).toBeDefined();
    const user = await signIn(freshPhone());
    const viewed = () =>
      env.DB.prepare(
        "SELECT user_id, phone_masked, detail FROM audit_events WHERE type = 'admin_viewed' AND json_extract(detail, '$.by') = ? ORDER BY created_at, rowid",
      )
        .bind(by)
        .all<{ user_id: string | null; phone_masked: string | null; detail: string }>()
        .then((result) => result.results);
    expect(await viewed()).toEqual([]);

    const prefix = user.user.phone.slice(0, 9);
    expect((await browser.get(`/admin/users?q=${encodeURIComponent(prefix)}`)).status).toBe(200);
    expect(browser.html).toContain(user.user.phone);
    const afterList = await viewed();
    expect(afterList).toHaveLength(1);
    expect(afterList[0]?.user_id).toBeNull();
    expect(JSON.parse(afterList[0]?.detail ?? "{}")).toMatchObject({ by, search: expect.any(String) });

    expect((await browser.get(`/admin/users/${user.user.id}`)).status).toBe(200);
    expect(browser.html).toContain(user.user.phone);
    const afterDetail = await viewed();
    expect(afterDetail).toHaveLength(2);
    expect(afterDetail[1]).toMatchObject({ user_id: user.user.id });
    // The trail never holds the full number.
    for (const event of afterDetail) expect(JSON.stringify(event)).not.toContain(user.user.phone);
  });

  it("changes a user's role both ways", async () => {
    const browser = await admin();
    const user = await signIn(freshPhone());
    await browser.get(`/admin/users/${user.user.id}`);
    await browser.follow(await browser.post(`/admin/users/${user.user.id}/role`, { role: "admin" }));
    expect(await row("SELECT role FROM users WHERE id = ?", user.user.id)).toEqual({ role: "admin" });
    expect(browser.html).toContain("Remove admin role");
    await browser.follow(await browser.post(`/admin/users/${user.user.id}/role`, { role: "user" }));
    expect(await row("SELECT role FROM users WHERE id = ?", user.user.id)).toEqual({ role: "user" });
    expect(browser.html).toContain("Make admin");
    // One admin_viewed per page shown: the first view and the two pages after each change, none for the posts themselves.
    const viewed = await row("SELECT count(*) AS n FROM audit_events WHERE type = 'admin_viewed' AND user_id = ?", user.user.id);
    expect(viewed).toEqual({ n: 3 });
    // A value none of the page's buttons sends changes nothing.
    expect((await browser.post(`/admin/users/${user.user.id}/role`, { role: "root" })).status).toBe(422);
    expect(await row("SELECT role FROM users WHERE id = ?", user.user.id)).toEqual({ role: "user" });
  });

  it("an admin deactivating or demoting themselves is told why (self_lockout) and nothing changes", async () => {
    const phone = freshAdminPhone();
    const browser = new WebClient("https://web.test", {}, ADMIN_ENV);
    await browser.signIn(phone);
    const self = await row<{ id: string }>("SELECT id FROM users WHERE phone = ?", phone);
    await browser.get(`/admin/users/${self?.id}`);
    for (const [path, form] of [
      ["active", { is_active: "0" }],
      ["role", { role: "user" }],
    ] as const) {
      const refused = await browser.post(`/admin/users/${self?.id}/${path}`, form);
      expect(refused.status).toBe(422);
      expect(browser.html).toContain('role="alert"');
      expect(browser.html).toContain("You cannot do this to your own account.");
    }
    expect(await row("SELECT is_active, role FROM users WHERE id = ?", self?.id)).toEqual({ is_active: 1, role: "admin" });
  });

  it("the audit page lists events, filters them by type and pages with a next link", async () => {
    const browser = await admin();
    const now = Date.now();
    const statements = Array.from({ length: 55 }, (_, i) =>
      env.DB.prepare("INSERT INTO audit_events (id, type, created_at, detail) VALUES (?, 'webhook_changed', ?, ?)").bind(
        crypto.randomUUID(),
        now - i,
        JSON.stringify({ n: i }),
      ),
    );
    await env.DB.batch(statements);
    await browser.get("/admin/audit");
    expect(browser.html).toContain('data-event-type="admin_viewed"');

    await browser.get("/admin/audit?type=webhook_changed");
    const first = [...browser.html.matchAll(/data-event-type="([^"]+)"/g)].map((match) => match[1]);
    expect(first).toHaveLength(50);
    expect(new Set(first)).toEqual(new Set(["webhook_changed"]));
    const next = /href="(\/admin\/audit\?type=webhook_changed&amp;cursor=[^"]+)" rel="next"/.exec(browser.html)?.[1];
    expect(next).toBeDefined();
    await browser.get((next as string).replace(/&amp;/g, "&"));
    const second = [...browser.html.matchAll(/data-event-type="([^"]+)"/g)].map((match) => match[1]);
    expect(second.length).toBeGreaterThanOrEqual(5);
    expect(browser.html).toContain("Newest events");
  });
});

describe("the console in Russian", () => {
  it("speaks Russian from Accept-Language and from the language switch", async () => {
    const browser = await adminBrowser({ "Accept-Language": "ru" });
    await browser.get("/admin");
    expect(browser.html).toContain('lang="ru"');
    expect(browser.html).toContain("Консоль оператора");
    expect(browser.html).toContain("Отправлено кодов");
    await browser.get("/admin/blocks");
    expect(browser.html).toContain("Заблокировать направление");

    const english = await adminBrowser();
    const switched = await english.get("/lang?to=ru&next=%2Fadmin%2Fusers");
    expect(switched.headers.get("Location")).toBe("/admin/users");
    await english.get("/admin/users");
    expect(english.html).toContain("Пользователи");
  });
});
