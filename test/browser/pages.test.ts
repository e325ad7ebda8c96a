import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { apiSignIn, browserSuite, signInByCode } from "./worker";

// Real headless Chromium (Debian's `chromium`) against the Worker under `wrangler dev`: the
// whole journey with JavaScript on and with it off, a cross-site post, and a screenshot of each
// page (into test/browser/screenshots/, gitignored; the best two are copied to docs/).

const SHOTS = join(import.meta.dirname, "screenshots");

const local = browserSuite(() => {
  mkdirSync(SHOTS, { recursive: true });
  return {};
});

let phoneCounter = 0;
/** A fresh valid Belarusian mobile number (DEFAULT_REGION=BY). */
function freshPhone() {
  phoneCounter += 1;
  return `+37533${String(Date.now() % 100_000).padStart(5, "0")}${String(phoneCounter).padStart(2, "0")}`;
}

/** Signs a user up through the JSON API, optionally with someone's invite code. */
const apiUser = (inviteCode?: string) => apiSignIn(local.worker.url, freshPhone(), { inviteCode });

/** A desktop window with JavaScript, a phone-sized one without (so the screenshots show both layouts). */
async function newPage(javaScriptEnabled: boolean): Promise<{ context: BrowserContext; page: Page }> {
  const viewport = javaScriptEnabled ? { width: 1280, height: 900 } : { width: 390, height: 844 };
  const context = await local.browser.newContext({ javaScriptEnabled, locale: "en-US", viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.setDefaultNavigationTimeout(15_000);
  return { context, page };
}

const heading = (page: Page) => page.locator("h1").textContent();

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true, timeout: 15_000 });

describe.each([
  { js: true, label: "JavaScript on" },
  { js: false, label: "JavaScript off" },
])("the pages with $label", ({ js }) => {
  it("sign up with a phone, edit the profile, activate an invite, set a password, log out and back in with it", async () => {
    const inviter = await apiUser();
    const { context, page } = await newPage(js);
    const suffix = js ? "" : "-nojs";
    try {
      const phone = freshPhone();
      const password = `violet lantern over ${js ? "seven" : "eight"} quiet hills`;

      await page.goto(`${local.worker.url}/`);
      expect(await heading(page)).toBe("Sign in");
      await shot(page, `phone${suffix}`);
      await page.getByLabel("Mobile number").fill(phone);
      await page.getByRole("button", { name: "Send code" }).click();

      await page.waitForURL("**/verify");
      const code = (await page.locator("[data-dev-code]").textContent())?.trim() ?? "";
      expect(code).toMatch(/^\d{6}$/);
      const code$ = page.getByLabel("Code from the SMS");
      expect(await code$.getAttribute("inputmode")).toBe("numeric");
      expect(await code$.getAttribute("autocomplete")).toBe("one-time-code");
      // With JavaScript the resend button waits out the cooldown; without, it is always there.
      expect(await page.getByRole("button", { name: "Send a new code" }).isDisabled()).toBe(js);
      await shot(page, `verify${suffix}`);
      await code$.fill(code);
      await page.getByRole("button", { name: "Continue" }).click();

      await page.waitForURL("**/profile");
      expect(await heading(page)).toBe("Hello");
      expect(await page.locator("[data-phone]").getAttribute("data-phone")).toBe(phone);
      expect(await page.getByRole("button", { name: "Copy" }).isVisible()).toBe(js);
      if (js) {
        await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: local.worker.url });
        await page.getByRole("button", { name: "Copy" }).click();
        await page.getByText("Copied to the clipboard.").waitFor();
        const copied = await page.evaluate<string>("navigator.clipboard.readText()");
        expect(copied).toBe(await page.locator("[data-invite-code]").inputValue());
      }

      await page.getByLabel("First name").fill("Ada");
      await page.getByLabel("Last name").fill(js ? "Lovelace" : "Byron");
      await page.getByRole("button", { name: "Save" }).click();
      await page.waitForURL("**/profile?done=details");
      expect(await heading(page)).toBe(`Hello, Ada ${js ? "Lovelace" : "Byron"}`);

      await page.getByLabel("Friend's invite code").fill(inviter.inviteCode.toLowerCase());
      await page.getByRole("button", { name: "Activate" }).click();
      await page.waitForURL("**/profile?done=invite");
      expect(await page.locator("[data-activated]").textContent()).toContain(inviter.inviteCode);

      // Two people sign up with this user's code: the page shows them, masked, and the points.
      const ownCode = await page.locator("[data-invite-code]").inputValue();
      await apiUser(ownCode);
      await apiUser(ownCode);
      await page.reload();
      expect(await page.locator("[data-referral]").count()).toBe(2);
      expect(await page.locator("[data-referral] td").first().textContent()).toMatch(/^\+37533\*+\d\d$/);
      expect(await page.locator("[data-points]").textContent()).toBe("200");

      await page.getByLabel("New password").fill(password);
      await page.getByRole("button", { name: "Set password" }).click();
      await page.waitForURL("**/profile?done=password");
      expect(await page.getByRole("status").first().textContent()).toContain("Your password is saved");
      await shot(page, `profile${suffix}`);

      // The language switch: a link, so it works without JavaScript too.
      await page.getByRole("link", { name: "Русский" }).click();
      await page.waitForURL("**/profile");
      expect(await page.locator("html").getAttribute("lang")).toBe("ru");
      expect(await heading(page)).toBe(`Здравствуйте, Ada ${js ? "Lovelace" : "Byron"}`);
      await shot(page, `profile-ru${suffix}`);
      await page.getByRole("link", { name: "English" }).click();
      await page.waitForURL("**/profile");

      await page.getByRole("banner").getByRole("button", { name: "Log out" }).click();
      await page.waitForURL("**/?notice=signed_out");
      expect(await page.getByRole("status").textContent()).toBe("You are signed out.");

      await page.getByRole("link", { name: "Sign in with a password" }).click();
      await page.waitForURL("**/password");
      await shot(page, `password${suffix}`);
      await page.getByLabel("Mobile number").fill(phone);
      await page.getByLabel("Password", { exact: true }).fill(password);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL("**/profile");
      expect(await heading(page)).toBe(`Hello, Ada ${js ? "Lovelace" : "Byron"}`);
    } finally {
      await context.close();
    }
  });
});

it("refuses a cross-site form post and changes nothing", async () => {
  const { context, page } = await newPage(true);
  try {
    await signInByCode(page, local.worker.url, freshPhone());

    // A page on another site that posts to the profile form (as a victim's click would).
    await context.route("http://attacker.test/**", (route) =>
      route.fulfill({
        contentType: "text/html",
        body: `<!doctype html><form method="post" action="${local.worker.url}/profile">
          <input name="first_name" value="Mallory"><input name="csrf" value="guessed"><button>Win a prize</button></form>`,
      }),
    );
    await page.goto("http://attacker.test/");
    const [response] = await Promise.all([
      page.waitForResponse(`${local.worker.url}/profile`),
      page.getByRole("button", { name: "Win a prize" }).click(),
    ]);
    expect(response.status()).toBe(403);
    expect(await heading(page)).toBe("This form could not be sent");
    await shot(page, "refused");

    await page.goto(`${local.worker.url}/profile`);
    expect(await heading(page)).toBe("Hello");
    expect(await page.getByLabel("First name").inputValue()).toBe("");
  } finally {
    await context.close();
  }
});

describe.each([
  { js: true, label: "JavaScript on" },
  { js: false, label: "JavaScript off" },
])("another channel for the code, with $label", ({ js }) => {
  it("offers WhatsApp, Telegram and a call on /verify, within the resend cooldown's limits, and signs in with the new code", async () => {
    const { context, page } = await newPage(js);
    try {
      await page.goto(`${local.worker.url}/`);
      await page.getByLabel("Mobile number").fill(freshPhone());
      await page.getByRole("button", { name: "Send code" }).click();
      await page.waitForURL("**/verify");
      const first = (await page.locator("[data-dev-code]").textContent())?.trim() ?? "";
      // Development has no DELIVERY_ROUTES: console stands in for every channel, so all three are offered.
      expect(await page.getByText("Didn't get it? Send it another way:").isVisible()).toBe(true);
      for (const name of ["Send by WhatsApp", "Send by Telegram", "Call me"]) {
        expect(await page.getByRole("button", { name }).isVisible()).toBe(true);
      }

      // The same limits as a resend: inside the cooldown the page says to wait.
      const [refused] = await Promise.all([
        page.waitForResponse((response) => response.url().endsWith("/resend")),
        page.getByRole("button", { name: "Send by Telegram" }).click(),
      ]);
      expect(refused.status()).toBe(429);

      // The browser suite's cooldown is OTP_RESEND_SECONDS=3 (test/browser/worker.ts).
      await page.waitForTimeout(3_200);
      await page.getByRole("button", { name: "Send by Telegram" }).click();
      await page.waitForURL("**/verify?resent=telegram");
      expect(await page.getByText("A new code is on its way by Telegram.").isVisible()).toBe(true);
      const second = (await page.locator("[data-dev-code]").textContent())?.trim() ?? "";
      expect(second).toMatch(/^\d{6}$/);
      expect(second).not.toBe(first);
      await shot(page, `verify-channel${js ? "" : "-nojs"}`);
      await page.getByLabel("Code from the SMS").fill(second);
      await page.getByRole("button", { name: "Continue" }).click();
      await page.waitForURL("**/profile");
    } finally {
      await context.close();
    }
  });
});
