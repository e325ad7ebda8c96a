import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { apiSignIn, browserSuite, signInByCode } from "./worker";

// The operator console in real Chromium (no script needed, so JavaScript is off): an admin signs
// in through the pages, reads the overview's numbers and SVG charts, lifts a block and deactivates
// a user; someone who is not an admin gets 403. Screenshots of the overview and the blocks page go
// to test/browser/screenshots/ (gitignored); docs/ holds copies of them.

const SHOTS = join(import.meta.dirname, "screenshots");
const ADMIN = "+375339990001";
const ADMIN_API = "+375339990002";

const local = browserSuite(() => {
  mkdirSync(SHOTS, { recursive: true });
  return { vars: { ADMIN_PHONES: `${ADMIN},${ADMIN_API}` } };
});

let phoneCounter = 0;
/** A fresh valid Belarusian mobile number (DEFAULT_REGION=BY), not one of the admins'. */
function freshPhone() {
  phoneCounter += 1;
  // +375 29 0… is no mobile range: the subscriber number starts with 1–9.
  return `+37529${1 + (phoneCounter % 9)}${String(Date.now() % 10_000).padStart(4, "0")}${String(phoneCounter % 100).padStart(2, "0")}`;
}

async function api(method: string, path: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = body === undefined ? {} : { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${local.worker.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Sends a code (on `channel`) and, unless told not to, verifies it: a user with their tokens. */
const apiUser = (phone: string, options: { verify?: boolean; channel?: string } = {}) => apiSignIn(local.worker.url, phone, options);

/** Signs in through the pages (phone, sandbox code) in a window without JavaScript. */
async function signedInPage(phone: string): Promise<Page> {
  const context = await local.browser.newContext({ javaScriptEnabled: false, locale: "en-US", viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.setDefaultNavigationTimeout(15_000);
  await signInByCode(page, local.worker.url, phone);
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true, timeout: 15_000 });

describe("the operator console in Chromium", () => {
  it("an admin reads the overview's numbers and charts, lifts a block and deactivates a user", async () => {
    // Some traffic: eight sign-ins (two by Telegram), four codes nobody entered; three blocks, one lifted.
    const users = [];
    for (let i = 0; i < 8; i++) users.push(await apiUser(freshPhone(), { channel: i < 2 ? "telegram" : undefined }));
    for (let i = 0; i < 4; i++) await apiUser(freshPhone(), { verify: false });
    const { accessToken: adminToken } = await apiUser(ADMIN_API);
    const blocks = [
      { prefix: "+88213000", seconds: 3600, reason: "SMS pumping from a premium range" },
      { country: "KP", seconds: 86_400, reason: "No customers there" },
      { prefix: "+79001234", seconds: 600, reason: "Test of the lift" },
    ];
    const ids: string[] = [];
    for (const body of blocks) {
      const created = await api("POST", "/v1/admin/fraud/blocks", body, adminToken);
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      ids.push(created.json.id as string);
    }
    expect((await api("DELETE", `/v1/admin/fraud/blocks/${ids[2]}`, undefined, adminToken)).status).toBe(204);

    const page = await signedInPage(ADMIN);
    try {
      await page.goto(`${local.worker.url}/admin?period=24h`);
      expect(await page.locator("h1").textContent()).toBe("Overview");
      // The numbers come first: 8 + 4 user codes and the two admins' sign-ins.
      expect(await page.locator('[data-kpi="sent"] .value').getAttribute("data-value")).toBe("14");
      expect(await page.locator('[data-kpi="blocks"] .value').getAttribute("data-value")).toBe("2");
      expect(await page.locator('[data-kpi="blocks"] .flag').textContent()).toContain("Alarm");
      expect(await page.locator(".chart svg[role=img]").count()).toBe(4);
      expect(await page.locator("#chart-sent polyline").count()).toBeGreaterThanOrEqual(2);
      // Drawn, not just present: the chart has a real size on the page.
      const box = await page.locator("#chart-sent svg[role=img]").boundingBox();
      expect(box?.width ?? 0).toBeGreaterThan(300);
      await shot(page, "console-overview");

      await page.getByRole("navigation", { name: "Operator console" }).getByRole("link", { name: "Blocks" }).click();
      await page.waitForURL("**/admin/blocks");
      expect(await page.locator("tr[data-block]").count()).toBe(2);
      await shot(page, "console-blocks");
      await page.getByRole("button", { name: "Lift the block of +88213000" }).click();
      await page.waitForURL("**/admin/blocks?done=lifted");
      expect(await page.getByRole("status").textContent()).toBe("The block is lifted.");
      expect(await page.locator("tr[data-block]").count()).toBe(1);
      const listed = await api("GET", "/v1/admin/fraud/blocks", undefined, adminToken);
      const lifted = (listed.json.items as { id: string; active: boolean }[]).find((block) => block.id === ids[0]);
      expect(lifted?.active).toBe(false);

      const user = users[0] as { phone: string; id: string; accessToken: string };
      await page.getByRole("navigation", { name: "Operator console" }).getByRole("link", { name: "Users" }).click();
      await page.getByLabel("Phone prefix or invite code").fill(user.phone);
      await page.getByRole("button", { name: "Search" }).click();
      await page.getByRole("link", { name: user.phone }).click();
      await page.waitForURL(`**/admin/users/${user.id}`);
      await page.getByRole("button", { name: "Deactivate" }).click();
      await page.waitForURL(`**/admin/users/${user.id}?saved=1`);
      expect(await page.getByRole("button", { name: "Reactivate" }).isVisible()).toBe(true);
      expect((await api("GET", "/v1/me", undefined, user.accessToken)).status).toBe(401);
    } finally {
      await page.context().close();
    }
  });

  it("someone who is not an admin gets 403", async () => {
    const page = await signedInPage(freshPhone());
    try {
      const response = await page.goto(`${local.worker.url}/admin`);
      expect(response?.status()).toBe(403);
      expect(await page.locator("h1").textContent()).toBe("Something went wrong");
      expect(await page.getByText("You do not have access to this.").isVisible()).toBe(true);
    } finally {
      await page.context().close();
    }
  });
});
