import { rmSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import { unstable_startWorker } from "wrangler";

const root = join(import.meta.dirname, "..", "..");

type DevSecrets = { JWT_PRIVATE_KEYS: string; PASSWORD_PEPPER: string };

/** The secrets `npm run dev` generates (scripts/secrets.mjs: plain JS, so imported untyped). */
async function devSecrets(): Promise<DevSecrets> {
  const script = join(root, "scripts", "secrets.mjs");
  const module = (await import(script)) as { generateDevSecrets: () => Promise<DevSecrets> };
  return module.generateDevSecrets();
}

/** A migrated throwaway local D1 (scripts/local-d1.mjs, shared with the delivery e2e; imported untyped). */
async function migratedLocalD1(label: string): Promise<string> {
  const module = (await import(join(root, "scripts", "local-d1.mjs"))) as { migratedLocalD1: (label: string) => string };
  return module.migratedLocalD1(label);
}

/** Rejects when `promise` takes longer than `ms`: every wait in the browser suite is bounded. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export type LocalWorker = { url: string; dispose: () => Promise<void> };

type StartOptions = { vars?: Record<string, string>; port?: number };

/**
 * The Worker as `npm run dev` runs it, on a free port: a fresh local D1 (migrated with the same
 * wrangler command), fresh dev secrets, the development sandbox and the console SMS provider.
 * The IP windows are widened so one machine can run every flow inside a minute. `vars` adds
 * variables (passkeys need WEBAUTHN_*, whose origin names the port: hence `port`).
 */
export async function startLocalWorker(options: StartOptions = {}): Promise<LocalWorker> {
  const persist = await migratedLocalD1("browser");
  const secrets = await devSecrets();
  const text = (value: string) => ({ type: "plain_text" as const, value });
  const worker = await unstable_startWorker({
    config: join(root, "wrangler.toml"),
    bindings: {
      ENVIRONMENT: text("development"),
      SMS_PROVIDER: text("console"),
      DEFAULT_REGION: text("BY"),
      OTP_IP_PER_MINUTE: text("100"),
      VERIFY_IP_PER_MINUTE: text("100"),
      PASSWORD_IP_PER_MINUTE: text("100"),
      // Short enough that the channel-choice test can wait out one cooldown.
      OTP_RESEND_SECONDS: text("3"),
      JWT_PRIVATE_KEYS: { type: "secret_text", value: secrets.JWT_PRIVATE_KEYS },
      PASSWORD_PEPPER: { type: "secret_text", value: secrets.PASSWORD_PEPPER },
      ...Object.fromEntries(Object.entries(options.vars ?? {}).map(([name, value]) => [name, text(value)])),
    },
    dev: { server: { hostname: "127.0.0.1", port: options.port ?? 0 }, inspector: false, persist, watch: false, logLevel: "warn" },
  });
  try {
    await within(90_000, "starting the Worker", worker.ready);
    const url = (await within(10_000, "the Worker's URL", worker.url)).origin;
    return {
      url,
      dispose: async () => {
        await within(30_000, "stopping the Worker", worker.dispose()).finally(() => rmSync(persist, { recursive: true, force: true }));
      },
    };
  } catch (error) {
    await worker.dispose().catch(() => {});
    rmSync(persist, { recursive: true, force: true });
    throw error;
  }
}

/** Debian's Chromium (CHROMIUM_PATH overrides), headless, quiet: no network of its own beyond the pages. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    timeout: 30_000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-quic",
      "--no-first-run",
      "--disable-sync",
    ],
  });
}

/**
 * The local Worker and Chromium of one test file: started before its tests (with the options
 * `options` gives then), stopped after them. Read `suite.worker` and `suite.browser` in the tests.
 */
export function browserSuite(options: () => StartOptions | Promise<StartOptions> = () => ({})) {
  const suite = {} as { worker: LocalWorker; browser: Browser };
  beforeAll(async () => {
    suite.worker = await startLocalWorker(await options());
    suite.browser = await launchChromium();
  });
  afterAll(async () => {
    await within(15_000, "closing Chromium", suite.browser?.close() ?? Promise.resolve()).catch(() => {});
    await suite.worker?.dispose();
  });
  return suite;
}

/** Signs `phone` in through the pages at `origin` (phone, then the sandbox code), ending on /profile. */
export async function signInByCode(page: Page, origin: string, phone: string): Promise<void> {
  await page.goto(`${origin}/`);
  await page.getByLabel("Mobile number").fill(phone);
  await page.getByRole("button", { name: "Send code" }).click();
  await page.waitForURL("**/verify");
  const code = (await page.locator("[data-dev-code]").textContent())?.trim() ?? "";
  await page.getByLabel("Code from the SMS").fill(code);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.waitForURL("**/profile");
}

type ApiUser = { phone: string; id: string; accessToken: string; inviteCode: string };

/**
 * Signs `phone` in through the JSON API at `origin` with the sandbox code (`dev_code`), optionally
 * on a channel or with someone's invite code; with `verify: false` it only sends the code.
 */
export async function apiSignIn(
  origin: string,
  phone: string,
  options: { channel?: string; inviteCode?: string; verify?: boolean } = {},
): Promise<ApiUser> {
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${origin}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    expect(response.status, `${path}: ${text.slice(0, 500)}`).toBe(200);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const sent = await post("/v1/auth/otp", { phone, channel: options.channel });
  if (options.verify === false) return { phone, id: "", accessToken: "", inviteCode: "" };
  const verified = await post("/v1/auth/otp/verify", { phone, code: sent.dev_code, invite_code: options.inviteCode });
  const user = verified.user as { id: string; invite_code: string };
  return { phone, id: user.id, accessToken: verified.access_token as string, inviteCode: user.invite_code };
}
