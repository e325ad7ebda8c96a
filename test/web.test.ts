import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { pickLanguage } from "../src/web/i18n";
import { webRoutes } from "../src/web/routes";
import { call, freshPhone, row, sendCode, signIn } from "./helpers";
import { freezeClock } from "./otp-helpers";
import { devCode, fieldError, setCookieLine, WebClient } from "./web-helpers";

// The server-rendered pages over HTTP (issue #7): cookie flags, CSRF refusal, CSP, language,
// errors next to their fields, the sandbox code, and the session cookie's rotation.

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

const webhook = {
  SMS_PROVIDER: "webhook",
  SMS_WEBHOOK_URL: "https://sms.example.com/hook",
  SMS_WEBHOOK_SECRET: "webhook-secret-0123456789abcdef-XYZ",
};
/** A production configuration (ENVIRONMENT unset): no sandbox, SMS through a webhook. */
const production = { ...env, ENVIRONMENT: undefined, ...webhook } as unknown as typeof env;

/** Captures the codes the production webhook would text. */
function captureSms(): string[] {
  const codes: string[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const body = JSON.parse(await new Request(input, init).text()) as { code: string };
    codes.push(body.code);
    return new Response(null, { status: 204 });
  });
  return codes;
}

const userOf = (phone: string) =>
  row<{ id: string; first_name: string | null; password_hash: string | null; activated_invite_code: string | null }>(
    "SELECT id, first_name, password_hash, activated_invite_code FROM users WHERE phone = ?",
    phone,
  );

describe("cookies", () => {
  it("over https: __Host- prefixed, HttpOnly, Secure, SameSite=Lax, Path=/, the session holding the API's refresh token", async () => {
    const browser = new WebClient("https://web.test");
    const phone = freshPhone();
    await browser.get("/");
    await browser.post("/", { phone });
    await browser.get("/verify");
    const response = await browser.post("/verify", { code: devCode(browser.html) as string });
    expect(response.status).toBe(303);
    expect(response.headers.get("Location")).toBe("/profile");
    for (const name of ["__Host-session", "__Host-access", "__Host-d1"]) {
      const line = setCookieLine(response, name);
      expect(line, name).toBeDefined();
      expect(line).toMatch(/; Path=\/(;|$)/);
      expect(line).toMatch(/; HttpOnly(;|$)/);
      expect(line).toMatch(/; Secure(;|$)/);
      expect(line).toMatch(/; SameSite=Lax(;|$)/);
      expect(line).not.toMatch(/Domain=/i);
    }
    expect(setCookieLine(response, "__Host-session")).toMatch(/^__Host-session=rt_[A-Za-z0-9_-]+; Max-Age=\d+/);
    // The refresh token's session is the user's (the cookie is the API's session, not a copy).
    const user = await userOf(phone);
    const session = await row<{ user_id: string }>(
      "SELECT s.user_id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.rotated_at IS NULL AND s.user_id = ?",
      user?.id,
    );
    expect(session?.user_id).toBe(user?.id);
  });

  it("in development over plain http: no __Host- prefix and no Secure, otherwise the same flags", async () => {
    const browser = new WebClient("http://127.0.0.1:8787");
    const first = await browser.get("/");
    const csrf = setCookieLine(first, "csrf");
    expect(csrf).toMatch(/^csrf=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(first.headers.getSetCookie().join("\n")).not.toMatch(/__Host-|Secure/);
    const profile = await browser.signIn(freshPhone());
    expect(profile.status).toBe(200);
    expect([...browser.cookies.keys()].sort()).toEqual(expect.arrayContaining(["access", "csrf", "session"]));
    expect([...browser.cookies.keys()].some((name) => name.startsWith("__Host-"))).toBe(false);
  });

  it("in production over plain http they keep __Host- and Secure, and no sandbox code is shown", async () => {
    const codes = captureSms();
    const browser = new WebClient("http://web.test", {}, production);
    const first = await browser.get("/");
    expect(setCookieLine(first, "__Host-csrf")).toMatch(/; Secure; SameSite=Lax$/);
    const verify = await browser.follow(await browser.post("/", { phone: freshPhone() }));
    expect(verify.status).toBe(200);
    expect(browser.html).toContain('autocomplete="one-time-code"');
    expect(devCode(browser.html)).toBeUndefined();
    expect(browser.html).not.toContain("SMS simulation");
    expect(codes).toHaveLength(1);
    const signedIn = await browser.post("/verify", { code: codes[0] as string });
    expect(setCookieLine(signedIn, "__Host-session")).toMatch(/; HttpOnly; Secure; SameSite=Lax$/);
  });

  it("the sandbox code shows in development only, and the code form is built for autofill", async () => {
    const browser = new WebClient();
    await browser.get("/");
    await browser.follow(await browser.post("/", { phone: freshPhone() }));
    expect(browser.html).toContain("SMS simulation");
    expect(devCode(browser.html)).toMatch(/^\d{6}$/);
    const input = /<input[^>]*name="code"[^>]*>/.exec(browser.html)?.[0] ?? "";
    expect(input).toContain('inputmode="numeric"');
    expect(input).toContain('autocomplete="one-time-code"');
    expect(browser.html).toContain("You can ask for a new code in 60 s.");
  });
});

describe("the session cookie", () => {
  it("is rotated once the short-lived access cookie is gone; a page view before that writes nothing", async () => {
    const browser = new WebClient();
    await browser.signIn(freshPhone());
    const refresh = browser.cookies.get("__Host-session");
    const again = await browser.get("/profile");
    expect(again.status).toBe(200);
    expect(setCookieLine(again, "__Host-session")).toBeUndefined();

    browser.cookies.delete("__Host-access"); // expired (Max-Age = ACCESS_TOKEN_TTL_SECONDS)
    const rotated = await browser.get("/profile");
    expect(rotated.status).toBe(200);
    expect(browser.cookies.get("__Host-session")).not.toBe(refresh);
    expect(browser.cookies.get("__Host-access")).toBeDefined();
    const old = await row<{ rotated_at: number | null }>(
      "SELECT rotated_at FROM refresh_tokens WHERE token_hash = ?",
      await sha256(refresh),
    );
    expect(old?.rotated_at).not.toBeNull();
  });

  it("a second tab that lost the rotation race keeps its cookies and looks again (REFRESH_REUSE_GRACE_SECONDS)", async () => {
    const browser = new WebClient();
    await browser.signIn(freshPhone());
    browser.cookies.delete("__Host-access");
    const stale = browser.cookies.get("__Host-session") as string;
    await browser.get("/profile"); // tab one rotates

    const tab = new WebClient();
    tab.cookies.set("__Host-session", stale);
    const lost = await tab.get("/profile");
    expect(lost.status).toBe(200);
    expect(tab.html).toMatch(/<meta http-equiv="refresh" content="1;url=\/profile\?retry=1"/);
    expect(setCookieLine(lost, "__Host-session")).toBeUndefined();

    // The browser's jar by then holds tab one's new cookie, so the look again succeeds.
    const retried = await browser.get("/profile?retry=1");
    expect(retried.status).toBe(200);
    expect(browser.html).toContain("data-invite-code");

    // A token that stays unusable ends the session in that browser on the second look.
    const gone = await tab.get("/profile?retry=1");
    expect(gone.status).toBe(303);
    expect(gone.headers.get("Location")).toBe("/?notice=ended");
    expect(setCookieLine(gone, "__Host-session")).toMatch(/Max-Age=0/);
  });

  it("pages read D1 through the caller's live session: a session revoked elsewhere signs the browser out at once", async () => {
    const browser = new WebClient();
    await browser.signIn(freshPhone());
    const sid = await row<{ id: string }>(
      "SELECT s.id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = ?",
      await sha256(browser.cookies.get("__Host-session")),
    );
    await env.DB.prepare("UPDATE sessions SET revoked_at = ? WHERE id = ?").bind(Date.now(), sid?.id).run();
    const response = await browser.get("/profile");
    expect(response.status).toBe(303);
    expect(response.headers.get("Location")).toBe("/?notice=ended");
    expect(browser.cookies.has("__Host-session")).toBe(false);
  });

  it("log out revokes the session in D1 and clears the cookies", async () => {
    const browser = new WebClient();
    await browser.signIn(freshPhone());
    const hash = await sha256(browser.cookies.get("__Host-session"));
    const response = await browser.post("/logout", {});
    expect(response.status).toBe(303);
    expect(response.headers.get("Location")).toBe("/?notice=signed_out");
    expect(browser.cookies.has("__Host-session")).toBe(false);
    expect(browser.cookies.has("__Host-access")).toBe(false);
    const session = await row<{ revoked_at: number | null }>(
      "SELECT s.revoked_at FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = ?",
      hash,
    );
    expect(session?.revoked_at).not.toBeNull();
    await browser.follow(response);
    expect(browser.html).toContain("You are signed out.");
    expect((await browser.get("/profile")).headers.get("Location")).toBe("/");
  });
});

async function sha256(value: string | undefined): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value ?? ""));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

describe("CSRF", () => {
  async function signedInBrowser() {
    const browser = new WebClient();
    const phone = freshPhone();
    await browser.signIn(phone);
    return { browser, phone };
  }

  const refusals: { name: string; options: Parameters<WebClient["post"]>[2] }[] = [
    { name: "a foreign Origin", options: { origin: "https://evil.example" } },
    { name: "a same-site but cross-origin Origin", options: { origin: "https://other.web.test" } },
    { name: "no Origin, no Fetch Metadata, no Referer", options: { origin: null } },
    { name: "Origin null from a cross-site context", options: { origin: "null", headers: { "Sec-Fetch-Site": "cross-site" } } },
    { name: "a foreign Referer and no Origin", options: { origin: null, headers: { Referer: "https://evil.example/page" } } },
    { name: "no token", options: { csrf: null } },
    { name: "a wrong token", options: { csrf: "0".repeat(64) } },
  ];

  it.each(refusals)("refuses a profile post with $name: 403 page, nothing stored", async ({ options }) => {
    const { browser, phone } = await signedInBrowser();
    await browser.get("/profile");
    const response = await browser.post("/profile", { first_name: "Mallory" }, options);
    expect(response.status).toBe(403);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(browser.html).toContain("This form could not be sent");
    expect(response.headers.get("Content-Security-Policy")).toContain("frame-ancestors 'none'");
    expect((await userOf(phone))?.first_name).toBeNull();
  });

  it("refuses a token minted for another browser's secret", async () => {
    const { browser, phone } = await signedInBrowser();
    const other = new WebClient();
    await other.get("/");
    const response = await browser.post("/profile", { first_name: "Mallory" }, { csrf: other.csrf });
    expect(response.status).toBe(403);
    expect((await userOf(phone))?.first_name).toBeNull();
  });

  it("refuses a sign-in form post from another site before any code is sent", async () => {
    const browser = new WebClient();
    await browser.get("/");
    const phone = freshPhone();
    const response = await browser.post("/", { phone }, { origin: "https://evil.example" });
    expect(response.status).toBe(403);
    expect(await row("SELECT phone FROM phone_guards WHERE phone = ?", phone)).toBeNull();
    // Without the CSRF cookie (a first visit straight to the post) as well.
    const fresh = new WebClient();
    expect((await fresh.post("/", { phone }, { csrf: "x" })).status).toBe(403);
    expect(await row("SELECT phone FROM phone_guards WHERE phone = ?", phone)).toBeNull();
  });

  it("accepts Origin: null when Fetch Metadata says same-origin (a no-referrer page), with the token", async () => {
    const { browser, phone } = await signedInBrowser();
    const response = await browser.post(
      "/profile",
      { first_name: "Ada" },
      { origin: "null", headers: { "Sec-Fetch-Site": "same-origin" } },
    );
    expect(response.status).toBe(303);
    expect((await userOf(phone))?.first_name).toBe("Ada");
  });

  it("every form post the pages route refuses a foreign origin or a missing token, and the browser keeps its session", async () => {
    // The CSRF middleware is registered per path (routes.tsx); a post route outside that list
    // would skip it. Taken from the router itself, so a new form is covered without editing this.
    const posts = [...new Set(webRoutes.routes.filter((route) => route.method === "POST").map((route) => route.path))];
    expect(posts).toEqual(expect.arrayContaining(["/", "/verify", "/resend", "/password", "/logout", "/profile", "/profile/delete"]));
    const { browser, phone } = await signedInBrowser();
    await browser.get("/profile");
    for (const path of posts) {
      for (const options of [{ csrf: null }, { origin: "https://evil.example" }]) {
        const response = await browser.post(path, { confirm: "yes", session: "x", phone, first_name: "Mallory" }, options);
        expect(response.status, `${path} ${JSON.stringify(options)}`).toBe(403);
        expect(browser.html).toContain("This form could not be sent");
      }
    }
    expect((await browser.get("/profile")).status).toBe(200);
    expect((await userOf(phone))?.first_name).toBeNull();
  });
});

describe("security headers", () => {
  const nonces = (response: Response, html: string) => {
    const policy = response.headers.get("Content-Security-Policy") ?? "";
    const script = /script-src 'nonce-([A-Za-z0-9_-]+)'/.exec(policy)?.[1];
    const style = /style-src 'nonce-([A-Za-z0-9_-]+)'/.exec(policy)?.[1];
    const tags = [...html.matchAll(/<(script|style)\b[^>]*?nonce="([^"]+)"/g)].map((match) => match[2]);
    return { policy, script, style, tags };
  };

  it.each(["/", "/password", "/verify", "/profile"])("%s: a strict CSP whose fresh nonce every script and style carries", async (path) => {
    const browser = new WebClient();
    await browser.get("/");
    if (path === "/verify") await browser.post("/", { phone: freshPhone() });
    if (path === "/profile") await browser.signIn(freshPhone());
    const first = await browser.get(path);
    expect(first.status).toBe(200);
    const one = nonces(first, browser.html);
    // connect-src 'self': passkeys are on in the test config, and their script fetches its options.
    expect(one.policy).toBe(
      `default-src 'none'; script-src 'nonce-${one.script}'; style-src 'nonce-${one.script}'; img-src 'self' data:; ` +
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(one.script).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(one.tags.length).toBeGreaterThanOrEqual(2);
    expect(new Set(one.tags)).toEqual(new Set([one.script]));
    // Nothing the policy would block: no inline handlers, no style attributes.
    expect(browser.html).not.toMatch(/\son[a-z]+=|\sstyle=/);
    expect(first.headers.get("X-Frame-Options")).toBe("DENY");
    expect(first.headers.get("Cache-Control")).toBe("no-store");
    expect(first.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(first.headers.get("Referrer-Policy")).toBe("no-referrer");
    expect(first.headers.get("Content-Type")).toBe("text/html; charset=UTF-8");

    const second = await browser.get(path);
    expect(nonces(second, browser.html).script).not.toBe(one.script);
  });

  it("the JSON API keeps its own headers (no page CSP on /v1)", async () => {
    const response = await call("GET", "/v1");
    expect(response.headers.get("Content-Security-Policy")).toBeNull();
    expect(response.headers.get("X-Frame-Options")).toBeNull();
  });
});

describe("language", () => {
  it.each([
    ["ru-RU,ru;q=0.9,en;q=0.8", "ru"],
    ["en-US,en;q=0.9,ru;q=0.8", "en"],
    ["de-DE, ru;q=0.5, en;q=0.3", "ru"],
    ["en;q=0.2, ru;q=0.8", "ru"],
    ["ru;q=0, *", "en"],
    ["fr", "en"],
    ["", "en"],
  ])("Accept-Language %j picks %s", (header, lang) => {
    expect(pickLanguage(header, undefined)).toBe(lang);
  });

  it("Accept-Language ru gives the Russian page; the switch's cookie overrides it", async () => {
    const browser = new WebClient("https://web.test", { "Accept-Language": "ru-RU,ru;q=0.9" });
    await browser.get("/");
    expect(browser.html).toContain('<html lang="ru">');
    expect(browser.html).toContain('<h1 id="phone-title">Вход</h1>');
    expect(browser.html).toContain("Код страны +375 (Беларусь) можно не вводить");

    const switched = await browser.get("/lang?to=en&next=%2Fpassword");
    expect(switched.status).toBe(303);
    expect(switched.headers.get("Location")).toBe("/password");
    expect(setCookieLine(switched, "lang")).toMatch(/^lang=en; Max-Age=31536000; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    await browser.get("/password");
    expect(browser.html).toContain('<html lang="en">');
    expect(browser.html).toContain("Sign in with a password");
  });

  it("the switch only sends the browser back to a page of ours", async () => {
    const browser = new WebClient();
    const response = await browser.get("/lang?to=ru&next=https%3A%2F%2Fevil.example%2F");
    expect(response.headers.get("Location")).toBe("/");
    const unknown = await browser.get("/lang?to=xx&next=/verify");
    expect(setCookieLine(unknown, "lang")).toBeUndefined();
  });

  it("errors come in the page's language too", async () => {
    const browser = new WebClient("https://web.test", { "Accept-Language": "ru" });
    await browser.get("/");
    await browser.follow(await browser.post("/", { phone: freshPhone() }));
    const code = devCode(browser.html) as string;
    const wrong = await browser.post("/verify", { code: code.replace(/\d$/, (d) => String((Number(d) + 1) % 10)) });
    expect(wrong.status).toBe(422);
    expect(fieldError(browser.html, "verify-code")).toBe("Неверный код. Осталось 4 попытки.");
  });
});

describe("errors next to their fields, as pages (never problem+json)", () => {
  it("a wrong code shows the attempts left on the code field, which gets the focus", async () => {
    const browser = new WebClient();
    await browser.get("/");
    await browser.follow(await browser.post("/", { phone: freshPhone() }));
    const code = devCode(browser.html) as string;
    const wrong = await browser.post("/verify", { code: code.replace(/\d$/, (d) => String((Number(d) + 1) % 10)) });
    expect(wrong.status).toBe(422);
    expect(wrong.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(fieldError(browser.html, "verify-code")).toBe("Wrong code. 4 attempts left.");
    expect(browser.html).toMatch(
      /<input id="verify-code"[^>]*aria-invalid="true"[^>]*aria-describedby="verify-code-hint verify-code-error"[^>]*autofocus/,
    );
    // Not the code's digits: the API's format rule, uncounted.
    expect((await browser.post("/verify", { code: "12ab56" })).status).toBe(422);
    expect(fieldError(browser.html, "verify-code")).toBe("Enter the 6 digits from the SMS.");
    expect((await browser.post("/verify", { code: `${code.slice(0, 3)} ${code.slice(3)}` })).status).toBe(303);
  });

  it("an unknown invite code at sign-up goes next to the invite field and keeps the code live", async () => {
    const browser = new WebClient();
    await browser.get("/");
    await browser.follow(await browser.post("/", { phone: freshPhone() }));
    const code = devCode(browser.html) as string;
    expect((await browser.post("/verify", { code, invite_code: "ZZZZZZ" })).status).toBe(422);
    expect(fieldError(browser.html, "verify-invite-code")).toBe("There is no such invite code. Check the spelling.");
    expect(browser.html).toContain("<details open");
    expect((await browser.post("/verify", { code })).status).toBe(303);
  });

  it("the phone page: an invalid number, an empty field, and the resend cooldown (429 with Retry-After)", async () => {
    const browser = new WebClient();
    await browser.get("/");
    expect((await browser.post("/", { phone: "12345" })).status).toBe(422);
    expect(fieldError(browser.html, "signin-phone")).toContain("This is not a mobile number that can receive SMS.");
    expect((await browser.post("/", { phone: "  " })).status).toBe(422);
    expect(fieldError(browser.html, "signin-phone")).toBe("Fill in this field.");

    await browser.follow(await browser.post("/", { phone: freshPhone() }));
    const resend = await browser.post("/resend", {});
    expect(resend.status).toBe(429);
    expect(Number(resend.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(browser.html).toMatch(/A code was sent a moment ago\. You can ask for a new one in \d+ s\./);
  });

  it("password login: a wrong password answers on the password field", async () => {
    const browser = new WebClient();
    await browser.get("/password");
    const response = await browser.post("/password", { phone: freshPhone(), password: "not the password at all" });
    expect(response.status).toBe(422);
    expect(fieldError(browser.html, "login-password")).toBe("The phone number or the password is wrong.");
    expect(browser.html).toMatch(/name="phone" type="tel" value="\+375/);
  });

  it("profile forms: a bad email, a weak password, an own or unknown invite code", async () => {
    const browser = new WebClient();
    await browser.signIn(freshPhone());
    const code = /id="own-invite-code"[^>]*value="([^"]+)"/.exec(browser.html)?.[1];

    expect((await browser.post("/profile", { first_name: "Ada", last_name: "", email: "not-an-email" })).status).toBe(422);
    expect(fieldError(browser.html, "details-email")).toBe("Enter an email address like name@example.com.");
    expect(browser.html).toMatch(/id="details-first-name"[^>]*value="Ada"/);
    expect((await browser.post("/profile", { first_name: "x".repeat(65), last_name: "", email: "" })).status).toBe(422);
    expect(fieldError(browser.html, "details-first-name")).toBe("Use at most 64 characters.");

    expect((await browser.post("/profile/password", { new_password: "short" })).status).toBe(422);
    expect(fieldError(browser.html, "password-new-password")).toBe("Use at least 15 characters. A few words with spaces work well.");

    expect((await browser.post("/profile/invite", { invite_code: code as string })).status).toBe(422);
    expect(fieldError(browser.html, "invite-invite-code")).toBe("This is your own invite code. Use a friend's code.");
    expect((await browser.post("/profile/invite", { invite_code: "ZZZZZZ" })).status).toBe(422);
    expect(fieldError(browser.html, "invite-invite-code")).toBe("There is no such invite code. Check the spelling.");
    expect(browser.html).toMatch(/id="invite-invite-code"[^>]*value="ZZZZZZ"/);
  });

  it("with Turnstile on, the sign-in form shows the widget (CSP allows its origin) and needs its token", async () => {
    const turnstile = { ...env, TURNSTILE_SECRET_KEY: "turnstile-secret", TURNSTILE_SITE_KEY: "site-key-123" } as unknown as typeof env;
    const browser = new WebClient("https://web.test", {}, turnstile);
    const page = await browser.get("/");
    expect(browser.html).toContain('class="cf-turnstile" data-sitekey="site-key-123"');
    expect(browser.html).toMatch(/<script nonce="[^"]+" src="https:\/\/challenges\.cloudflare\.com\/turnstile\/v0\/api\.js"/);
    expect(page.headers.get("Content-Security-Policy")).toMatch(
      /script-src 'nonce-[^']+' https:\/\/challenges\.cloudflare\.com; .*frame-src https:\/\/challenges\.cloudflare\.com/,
    );

    const phone = freshPhone();
    expect((await browser.post("/", { phone })).status).toBe(422);
    expect(browser.html).toMatch(/role="alert"><h2>There is a problem<\/h2><p>Complete the check to show you are human\.<\/p>/);

    const verified: string[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (_input, init) => {
      verified.push(String(new URLSearchParams(String(init?.body)).get("response")));
      return Response.json({ success: true });
    });
    const sent = await browser.post("/", { phone, "cf-turnstile-response": "widget-token" });
    expect(sent.headers.get("Location")).toBe("/verify");
    expect(verified).toEqual(["widget-token"]);
  });

  it("a storage failure is a 503 page without internals", async () => {
    const browser = new WebClient();
    await browser.signIn(freshPhone());
    const broken = {
      prepare: () => {
        throw new Error("D1_ERROR: Network connection lost. secret-internal-detail");
      },
      batch: () => Promise.reject(new Error("D1_ERROR: Network connection lost. secret-internal-detail")),
      getBookmark: () => null,
    };
    const failing = new WebClient("https://web.test", {}, {
      ...env,
      DB: { ...broken, withSession: () => broken },
    } as unknown as typeof env);
    for (const [name, value] of browser.cookies) failing.cookies.set(name, value);
    vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await failing.get("/profile");
    expect(response.status).toBe(503);
    expect(response.headers.get("Content-Type")).toBe("text/html; charset=UTF-8");
    expect(Number(response.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(failing.html).toContain("The service is briefly unavailable.");
    expect(failing.html).not.toMatch(/D1_ERROR|secret-internal-detail|at .*\.ts/);
  });
});

describe("the profile forms", () => {
  it("edit the name, activate another user's invite code, set a password, then sign in with it", async () => {
    const inviter = await signIn();
    const browser = new WebClient();
    const phone = freshPhone();
    await browser.signIn(phone);

    const saved = await browser.post("/profile", { first_name: " Ada ", last_name: "Lovelace", email: "" });
    expect(saved.headers.get("Location")).toBe("/profile?done=details");
    await browser.follow(saved);
    expect(browser.html).toContain("Hello, Ada Lovelace");
    expect(browser.html).toContain("Your details are saved.");

    const activated = await browser.post("/profile/invite", { invite_code: ` ${String(inviter.user.invite_code).toLowerCase()} ` });
    expect(activated.headers.get("Location")).toBe("/profile?done=invite");
    expect((await userOf(phone))?.activated_invite_code).toBe(inviter.user.invite_code);
    const me = await call("GET", "/v1/me", { token: inviter.access_token });
    expect(((await me.json()) as { referrals_count: number }).referrals_count).toBe(1);
    await browser.get("/profile");
    expect(browser.html).toContain(`You joined with invite code ${inviter.user.invite_code}.`);
    // Once per account: the form is gone, and a stale tab's post is answered by the rule.
    expect(browser.html).not.toContain('action="/profile/invite"');
    expect((await browser.post("/profile/invite", { invite_code: "ZZZZZZ" })).status).toBe(422);
    expect(browser.html).toContain(`You already used invite code ${inviter.user.invite_code}.`);

    const password = "velvet thunder under copper skies";
    expect((await browser.post("/profile/password", { new_password: password })).headers.get("Location")).toBe("/profile?done=password");
    expect((await userOf(phone))?.password_hash).toMatch(/^pbkdf2/);
    // Changing it now needs the current one.
    expect((await browser.post("/profile/password", { new_password: `${password}!` })).status).toBe(422);
    expect(fieldError(browser.html, "password-current-password")).toBe("Fill in this field.");
    expect((await browser.post("/profile/password", { current_password: "wrong wrong wrong", new_password: `${password}!` })).status).toBe(
      422,
    );
    expect(fieldError(browser.html, "password-current-password")).toBe("The current password is wrong.");

    await browser.post("/logout", {});
    const other = new WebClient();
    await other.get("/password");
    const login = await other.post("/password", { phone, password });
    expect(login.headers.get("Location")).toBe("/profile");
    await other.follow(login);
    expect(other.html).toContain("Hello, Ada Lovelace");
  });

  it("sessions: another device can be signed out from the list", async () => {
    const phone = freshPhone();
    const laptop = new WebClient();
    await laptop.signIn(phone);
    // A second sign-in, through the API, once the resend cooldown is over.
    freezeClock(Date.now() + 61_000);
    const code = await sendCode(phone);
    const api = (await (await call("POST", "/v1/auth/otp/verify", { body: { phone, code } })).json()) as { access_token: string };
    await laptop.get("/profile");
    expect(laptop.html.match(/data-session="other"/g)).toHaveLength(1);
    expect(laptop.html).toContain("This device");
    const other = /name="session" value="([^"]+)"/.exec(laptop.html)?.[1] as string;
    const revoked = await laptop.post("/profile/sessions/revoke", { session: other });
    expect(revoked.headers.get("Location")).toBe("/profile?done=session");
    expect((await call("GET", "/v1/me", { token: api.access_token })).status).toBe(401);
    await laptop.follow(revoked);
    expect(laptop.html).not.toContain('data-session="other"');
  });

  it("delete account: needs the box ticked, then the account is gone and the browser signed out", async () => {
    const browser = new WebClient();
    const phone = freshPhone();
    await browser.signIn(phone);
    expect((await browser.post("/profile/delete", {})).status).toBe(422);
    expect(fieldError(browser.html, "delete-confirm")).toBe("Tick the box to confirm.");
    expect(await userOf(phone)).not.toBeNull();
    const deleted = await browser.post("/profile/delete", { confirm: "yes" });
    expect(deleted.headers.get("Location")).toBe("/?notice=deleted");
    expect(await userOf(phone)).toBeNull();
    expect(browser.cookies.has("__Host-session")).toBe(false);
  });

  it("a signed-in visit to the start page goes to the profile; the code page without a sign-in in progress goes back", async () => {
    const browser = new WebClient();
    expect((await browser.get("/verify")).headers.get("Location")).toBe("/");
    expect((await browser.get("/profile")).headers.get("Location")).toBe("/");
    await browser.signIn(freshPhone());
    expect((await browser.get("/")).headers.get("Location")).toBe("/profile");
  });
});
