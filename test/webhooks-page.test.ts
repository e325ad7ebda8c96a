import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_ENV, freshAdminPhone } from "./admin-helpers";
import { freshPhone, row } from "./helpers";
import { WebClient } from "./web-helpers";

// The operator's `/admin/webhooks` page: the same services as /v1/admin/webhooks behind the
// pages' session, CSRF and headers, usable without JavaScript (every change is a form post).

afterEach(async () => {
  await env.DB.prepare("UPDATE webhook_endpoints SET enabled = 0").run();
});

async function adminBrowser() {
  const browser = new WebClient("https://web.test", {}, ADMIN_ENV);
  await browser.signIn(freshAdminPhone());
  return browser;
}

const secretOn = (html: string) => /data-secret[^>]*>(whsec_[^<]+)</.exec(html)?.[1];

describe("/admin/webhooks", () => {
  it("an admin adds an endpoint (the secret shown once), turns it off, rotates its secret and removes it", async () => {
    const browser = await adminBrowser();
    const page = await browser.get("/admin/webhooks");
    expect(page.status).toBe(200);
    expect(page.headers.get("Content-Security-Policy")).toContain("frame-ancestors 'none'");

    const added = await browser.post("/admin/webhooks", {
      url: "https://receiver.test/page",
      description: "CRM",
      event_types: "user.created",
    });
    expect(added.status).toBe(201);
    const secret = secretOn(browser.html);
    expect(secret).toMatch(/^whsec_/);
    const endpoint = await row<{ id: string; event_types: string; enabled: number }>(
      "SELECT id, event_types, enabled FROM webhook_endpoints WHERE url = ? ORDER BY created_at DESC LIMIT 1",
      "https://receiver.test/page",
    );
    expect(endpoint).toMatchObject({ event_types: '["user.created"]', enabled: 1 });
    // Shown once: the page itself never shows it again.
    await browser.get("/admin/webhooks");
    expect(browser.html).not.toContain(secret as string);
    expect(browser.html).toContain("https://receiver.test/page");

    const off = await browser.post(`/admin/webhooks/${endpoint?.id}/enabled`, { enabled: "0" });
    expect(off.status).toBe(303);
    expect(await row("SELECT enabled FROM webhook_endpoints WHERE id = ?", endpoint?.id)).toEqual({ enabled: 0 });

    await browser.get("/admin/webhooks");
    const rotated = await browser.post(`/admin/webhooks/${endpoint?.id}/rotate`, {});
    expect(rotated.status).toBe(200);
    expect(secretOn(browser.html)).toMatch(/^whsec_/);
    expect(secretOn(browser.html)).not.toBe(secret);

    const removed = await browser.post(`/admin/webhooks/${endpoint?.id}/delete`, {});
    expect(removed.status).toBe(303);
    expect(await row("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE id = ?", endpoint?.id)).toEqual({ n: 0 });
  });

  it("replays a failed delivery from the page, with the same event", async () => {
    const browser = await adminBrowser();
    await browser.get("/admin/webhooks");
    await browser.post("/admin/webhooks", { url: "https://receiver.test/replay", event_types: "*" });
    const endpoint = await row<{ id: string }>("SELECT id FROM webhook_endpoints WHERE url = ?", "https://receiver.test/replay");
    const now = Date.now();
    // The event fans out to a pending delivery (trigger webhook_events_fan_out); it is then made a dead one.
    await env.DB.batch([
      env.DB.prepare("INSERT INTO webhook_events (id, type, payload, created_at) VALUES ('msg_page_dead', 'user.created', '{}', ?)").bind(
        now,
      ),
      env.DB.prepare(
        "UPDATE webhook_deliveries SET id = 'dddddddd-0000-0000-0000-000000000001', status = 'dead', attempts = 8, last_error = 'HTTP 500' WHERE event_id = 'msg_page_dead' AND endpoint_id = ?",
      ).bind(endpoint?.id),
    ]);
    await browser.get("/admin/webhooks");
    expect(browser.html).toContain("/admin/webhooks/deliveries/dddddddd-0000-0000-0000-000000000001/replay");
    const replayed = await browser.post("/admin/webhooks/deliveries/dddddddd-0000-0000-0000-000000000001/replay", {});
    expect(replayed.status).toBe(303);
    expect(await row("SELECT status, attempts FROM webhook_deliveries WHERE id = 'dddddddd-0000-0000-0000-000000000001'")).toEqual({
      status: "pending",
      attempts: 0,
    });
  });

  it("shows a refused URL next to its field and stores nothing", async () => {
    const browser = await adminBrowser();
    await browser.get("/admin/webhooks");
    const refused = await browser.post("/admin/webhooks", { url: "ftp://receiver.test/x", event_types: "*" });
    expect(refused.status).toBe(422);
    expect(browser.html).toContain('id="webhook-url-error"');
    expect(await row("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE url = ?", "ftp://receiver.test/x")).toEqual({ n: 0 });
  });

  it("answers 403 to a signed-in user who is not an admin, sends a signed-out browser to sign in, and refuses a cross-site post", async () => {
    const user = new WebClient("https://web.test", {}, ADMIN_ENV);
    await user.signIn(freshPhone());
    expect((await user.get("/admin/webhooks")).status).toBe(403);
    const stranger = new WebClient("https://web.test", {}, ADMIN_ENV);
    const away = await stranger.get("/admin/webhooks");
    expect(away.status).toBe(303);
    expect(away.headers.get("Location")).toBe("/");

    const admin = await adminBrowser();
    await admin.get("/admin/webhooks");
    const forged = await admin.post(
      "/admin/webhooks",
      { url: "https://receiver.test/forged", event_types: "*" },
      { origin: "https://evil.test" },
    );
    expect(forged.status).toBe(403);
    expect(await row("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE url = ?", "https://receiver.test/forged")).toEqual({ n: 0 });
  });

  it("speaks Russian too", async () => {
    const browser = new WebClient("https://web.test", { "Accept-Language": "ru" }, ADMIN_ENV);
    await browser.signIn(freshAdminPhone());
    await browser.get("/admin/webhooks");
    expect(browser.html).toContain("Вебхуки");
    expect(browser.html).toContain("Добавить адрес");
  });
});
