import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { browserSuite, signInByCode } from "./worker";

// Passkeys in real Chromium with JavaScript on: register one on /profile and sign in with it on
// `/`, through a CDP virtual authenticator (a platform authenticator with user verification that
// answers at once). WebAuthn refuses IP-address origins, so the Worker is reached as `localhost`
// on a port chosen up front (WEBAUTHN_ORIGINS names it). Runs the deployed bundle (wrangler's
// aliases included), so the bundle's own DER signature parser is what verifies the assertions.

let origin: string;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (address && typeof address === "object" ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

const local = browserSuite(async () => {
  const port = await freePort();
  origin = `http://localhost:${port}`;
  return { port, vars: { WEBAUTHN_RP_ID: "localhost", WEBAUTHN_RP_NAME: "phone-auth-edge", WEBAUTHN_ORIGINS: origin } };
});

describe("passkeys in Chromium", () => {
  it("adds a passkey on /profile and signs in with it on /, no SMS", async () => {
    const context = await local.browser.newContext({ locale: "en-US", viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    try {
      const cdp = await context.newCDPSession(page);
      await cdp.send("WebAuthn.enable");
      const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
        options: {
          protocol: "ctap2",
          transport: "internal",
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      });

      // Sign up with a code, the usual way.
      const phone = `+37533${String(Date.now() % 100_000).padStart(5, "0")}99`;
      await page.goto(`${origin}/`);
      expect(await page.getByRole("button", { name: "Sign in with a passkey" }).isVisible()).toBe(true);
      await signInByCode(page, origin, phone);

      // Add a passkey: the page's script runs navigator.credentials.create() and posts the result.
      await page.locator("#passkey-name").fill("Chromium");
      await page.getByRole("button", { name: "Add a passkey" }).click();
      await page.waitForURL("**/profile?done=passkey_added");
      expect(await page.locator("[data-passkey] .device").first().textContent()).toContain("Chromium");
      const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
      expect(credentials).toHaveLength(1);
      expect(credentials[0]?.isResidentCredential).toBe(true);
      await page.screenshot({ path: join(import.meta.dirname, "screenshots", "profile-passkeys.png"), fullPage: true }).catch(() => {});

      await page.getByRole("banner").getByRole("button", { name: "Log out" }).click();
      await page.waitForURL("**/?notice=signed_out");

      // Sign in with it. On load the page starts conditional mediation (passkeys in the phone
      // field's autofill), which the virtual authenticator may answer by itself; otherwise the
      // button aborts it and asks in the modal way. Either path posts the assertion.
      void page
        .getByRole("button", { name: "Sign in with a passkey" })
        .click({ timeout: 5_000 })
        .catch(() => {});
      await page.waitForURL("**/profile");
      expect(await page.locator("[data-phone]").getAttribute("data-phone")).toBe(phone);
      expect(await page.locator("[data-passkey] .meta").first().textContent()).toContain("last used");
      const after = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
      expect(after.credentials[0]?.signCount).toBeGreaterThan(0);
    } finally {
      await context.close();
    }
  });
});
