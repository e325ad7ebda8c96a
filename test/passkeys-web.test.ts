import { afterEach, describe, expect, it, vi } from "vitest";
import { freshPhone, row } from "./helpers";
import { variantEnv } from "./otp-helpers";
import { SoftAuthenticator } from "./passkey-authenticator";
import { advance, SECOND } from "./token-helpers";
import { WebClient } from "./web-helpers";

afterEach(() => {
  vi.useRealTimers();
});

// The pages' passkey forms, driven like the page script drives them: options from the page's
// JSON endpoint, the credential posted back in the form's hidden `response` field.
// The real browser journey (Chromium + a CDP virtual authenticator) is in test/browser.

const RP_ID = "auth.test";
const ORIGIN = "https://auth.test";

/** A browser signed in on the pages that has added a passkey through /profile. */
async function browserWithPasskey() {
  const browser = new WebClient(ORIGIN);
  await browser.signIn(freshPhone());
  const authenticator = await SoftAuthenticator.create(RP_ID, ORIGIN);
  const optionsAnswer = await browser.post("/profile/passkeys/options", {});
  expect(optionsAnswer.status).toBe(200);
  const options = (await optionsAnswer.json()) as { challenge: string; user: { id: string } };
  const credential = await authenticator.register(options);
  const added = await browser.post("/profile/passkeys", { response: JSON.stringify(credential), name: "Laptop" });
  expect(added.status, await added.clone().text()).toBe(303);
  expect(added.headers.get("Location")).toBe("/profile?done=passkey_added");
  return { browser, authenticator, userHandle: options.user.id };
}

describe("passkeys on the pages", () => {
  it("/ offers a passkey sign-in, says it needs JavaScript, and lets the phone field autofill passkeys", async () => {
    const browser = new WebClient(ORIGIN);
    const page = await browser.get("/");
    expect(page.status).toBe(200);
    expect(browser.html).toContain('action="/passkey"');
    expect(browser.html).toContain("Passkeys need JavaScript");
    expect(browser.html).toContain('autocomplete="username webauthn"');
    expect(page.headers.get("Content-Security-Policy")).toContain("connect-src 'self'");
  });

  it("adds, renames and removes a passkey on /profile, the last two as plain form posts", async () => {
    const { browser } = await browserWithPasskey();
    await browser.get("/profile?done=passkey_added");
    expect(browser.html).toContain("The passkey is added");
    const id = /data-passkey="([^"]+)"/.exec(browser.html)?.[1] as string;
    expect(id).toBeTruthy();
    expect(browser.html).toContain('value="Laptop"');

    const renamed = await browser.post("/profile/passkeys/rename", { id, name: "Work laptop" });
    expect(renamed.headers.get("Location")).toBe("/profile?done=passkey_renamed");
    expect((await row<{ name: string }>("SELECT name FROM passkeys WHERE id = ?", id))?.name).toBe("Work laptop");

    await browser.get("/profile");
    const removed = await browser.post("/profile/passkeys/remove", { id });
    expect(removed.headers.get("Location")).toBe("/profile?done=passkey_removed");
    expect(await row("SELECT id FROM passkeys WHERE id = ?", id)).toBeNull();
  });

  it("refuses an add without a credential (no JavaScript) with the page, not a 500", async () => {
    const browser = new WebClient(ORIGIN);
    await browser.signIn(freshPhone());
    const refused = await browser.post("/profile/passkeys", { response: "", name: "x" });
    expect(refused.status).toBe(422);
    expect(browser.html).toContain("Adding a passkey needs JavaScript");
  });

  it("signs in on / with a passkey: session cookies and on to /profile", async () => {
    const { authenticator, userHandle } = await browserWithPasskey();
    const fresh = new WebClient(ORIGIN);
    await fresh.get("/");
    const optionsAnswer = await fresh.post("/passkey/options", {});
    expect(optionsAnswer.status).toBe(200);
    const options = (await optionsAnswer.json()) as { challenge: string };
    const assertion = await authenticator.assert(options, userHandle);
    const signed = await fresh.post("/passkey", { response: JSON.stringify(assertion) });
    expect(signed.status, await signed.clone().text()).toBe(303);
    expect(signed.headers.get("Location")).toBe("/profile");
    const profile = await fresh.follow(signed);
    expect(profile.status).toBe(200);
    expect(fresh.html).toContain("data-passkey=");

    // The same assertion again: the challenge is spent.
    const again = new WebClient(ORIGIN);
    await again.get("/");
    const replay = await again.post("/passkey", { response: JSON.stringify(assertion) });
    expect(replay.status).toBe(422);
    expect(again.html).toContain("The passkey did not work");
  });

  it("after 300 s the add form asks for a new sign-in (no password) instead of starting a ceremony that would be refused", async () => {
    const browser = new WebClient(ORIGIN);
    await browser.signIn(freshPhone());
    expect(browser.html).toContain(`action="/profile/passkeys" data-passkey-add`);
    advance(301 * SECOND);
    await browser.get("/profile");
    expect(browser.html).toContain("data-passkey-reauth");
    expect(browser.html).not.toContain(`action="/profile/passkeys" data-passkey-add`);
    const options = await browser.post("/profile/passkeys/options", {});
    expect(options.status).toBe(403);
    expect(await options.json()).toMatchObject({ code: "reauthentication_required" });
  });

  it("refuses a cross-site post to /passkey before anything runs", async () => {
    const browser = new WebClient(ORIGIN);
    await browser.get("/");
    const refused = await browser.post("/passkey", { response: "{}" }, { origin: "https://evil.test" });
    expect(refused.status).toBe(403);
  });

  it("without WEBAUTHN_* the pages show no passkeys and /passkey is 404", async () => {
    const off = variantEnv({ WEBAUTHN_RP_ID: undefined, WEBAUTHN_RP_NAME: undefined, WEBAUTHN_ORIGINS: undefined });
    const browser = new WebClient(ORIGIN, {}, off);
    const page = await browser.get("/");
    expect(page.status).toBe(200);
    expect(browser.html).not.toContain("passkey");
    expect(page.headers.get("Content-Security-Policy")).not.toContain("connect-src");
    const missing = await browser.post("/passkey/options", {});
    expect(missing.status).toBe(404);
  });
});
