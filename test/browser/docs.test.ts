import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { apiSignIn, browserSuite } from "./worker";

// /docs in real headless Chromium with the network unplugged (every request that is not to the
// local Worker is aborted), under the page's CSP; and the typed-client example run against the
// same Worker.

const local = browserSuite();

describe("/docs", () => {
  it("renders every operation offline, and runs an authorized call, with no CSP violation and no request off the origin", async () => {
    const context = await local.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const offOrigin: string[] = [];
    await context.route(
      (url) => url.origin !== local.worker.url,
      (route) => {
        offOrigin.push(route.request().url());
        return route.abort("internetdisconnected");
      },
    );
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const violations: string[] = [];
    await page.exposeFunction("reportViolation", (text: string) => violations.push(text));
    await page.addInitScript(
      'document.addEventListener("securitypolicyviolation", (e) => window.reportViolation(e.violatedDirective + " " + e.blockedURI))',
    );
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));

    const response = await page.goto(`${local.worker.url}/docs`);
    expect(response?.headers()["content-security-policy"]).toContain("script-src 'nonce-");
    expect(response?.headers()["x-frame-options"]).toBe("DENY");
    await page.locator(".opblock").first().waitFor();

    // Swagger UI draws an operation once under each of its tags.
    type Operation = { tags?: string[] };
    const openapi = (await (await fetch(`${local.worker.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const drawn = Object.values(openapi.paths)
      .flatMap((item) => Object.values(item))
      .reduce((sum, operation) => sum + (operation.tags?.length ?? 1), 0);
    expect(await page.locator(".opblock").count()).toBe(drawn);
    // The stylesheet applied (it came through the nonce'd <link>).
    expect(
      await page
        .locator(".opblock")
        .first()
        .evaluate((e) => (globalThis as any).getComputedStyle(e).borderRadius),
    ).toBe("4px");
    await expect(page.locator(".info .title").textContent()).resolves.toContain("phone-auth-edge");
    expect({ violations, errors, offOrigin }).toEqual({ violations: [], errors: [], offOrigin: [] });

    // "Authorize" with a bearer token, then "Try it out" on GET /v1/me: the CSP lets the page call the API.
    const token = await accessToken();
    await page.locator("button.authorize").first().click();
    const bearer = page.locator(".auth-container", { hasText: "bearerAuth" });
    await bearer.locator("input").fill(token);
    await bearer.locator("button.authorize").click();
    await page.locator("button.btn-done").first().click();
    const getMe = page.locator("#operations-Profile-getMe");
    await getMe.locator(".opblock-summary").click();
    await getMe.locator("button.try-out__btn").click();
    await getMe.locator("button.execute").click();
    await expect(getMe.locator(".live-responses-table tr.response .response-col_status").first().textContent()).resolves.toContain("200");
    expect({ violations, errors, offOrigin }).toEqual({ violations: [], errors: [], offOrigin: [] });
    await context.close();
  });
});

/** Signs a fresh phone in through the JSON API and answers its access token. */
const accessToken = async () =>
  (await apiSignIn(local.worker.url, `+375442${String(Date.now() % 1_000_000).padStart(6, "0")}`)).accessToken;

describe("the typed-client example (examples/typed-client)", () => {
  it("signs in with a code and reads /v1/me through openapi-fetch, run as the README says", async () => {
    const root = join(import.meta.dirname, "..", "..");
    const phone = `+375441${String(Date.now() % 1_000_000).padStart(6, "0")}`;
    const { stdout } = await promisify(execFile)(join(root, "node_modules", ".bin", "tsx"), ["examples/typed-client/signin.ts"], {
      cwd: root,
      env: { ...process.env, BASE_URL: local.worker.url, PHONE: phone },
      timeout: 30_000,
    });
    const profile = JSON.parse(stdout) as { id: string; phone: string };
    expect(profile.phone).toBe(phone);
    expect(profile.id).toEqual(expect.any(String));
  });
});
