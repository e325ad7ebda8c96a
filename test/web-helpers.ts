import { createExecutionContext } from "cloudflare:test";
import { type env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../src/index";
import { freshIp } from "./helpers";

/**
 * A minimal browser for the pages: keeps cookies (honouring Max-Age=0), sends Origin on posts
 * like a browser does, and reads the CSRF token from the last page it saw.
 */
export class WebClient {
  readonly cookies = new Map<string, string>();
  readonly ip = freshIp();
  html = "";
  csrf = "";

  constructor(
    readonly origin = "https://web.test",
    readonly headers: Record<string, string> = {},
    /** Another configuration (e.g. production); the test pool's development one by default. */
    readonly variant?: typeof env,
  ) {}

  async fetch(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { "CF-Connecting-IP": this.ip, "User-Agent": "web-test", ...this.headers, ...init.headers };
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    if (cookie) headers.Cookie = cookie;
    const request = new Request(`${this.origin}${path}`, { ...init, headers, redirect: "manual" });
    const response = this.variant
      ? await worker.fetch(request, this.variant, createExecutionContext())
      : await exports.default.fetch(request);
    for (const line of response.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const name = pair.slice(0, pair.indexOf("="));
      const value = pair.slice(pair.indexOf("=") + 1);
      if (/;\s*Max-Age=0\b/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    if ((response.headers.get("Content-Type") ?? "").startsWith("text/html")) {
      this.html = await response.clone().text();
      this.csrf = /name="csrf" value="([^"]+)"/.exec(this.html)?.[1] ?? this.csrf;
    }
    return response;
  }

  get(path: string, headers: Record<string, string> = {}) {
    return this.fetch(path, { headers });
  }

  /** A form post as a browser sends it from one of our pages (Origin and the page's token). */
  post(
    path: string,
    form: Record<string, string>,
    options: { origin?: string | null; csrf?: string | null; headers?: Record<string, string> } = {},
  ) {
    const body = new URLSearchParams(form);
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    if (csrf !== null) body.set("csrf", csrf);
    const origin = options.origin === undefined ? this.origin : options.origin;
    const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded", ...options.headers };
    if (origin !== null) headers.Origin = origin;
    return this.fetch(path, { method: "POST", body: body.toString(), headers });
  }

  /** Follows one redirect (a GET of its Location), expecting `status` and a same-site target. */
  async follow(response: Response, status = 303): Promise<Response> {
    expect(response.status, await response.clone().text()).toBe(status);
    const location = response.headers.get("Location") ?? "";
    expect(location.startsWith("/")).toBe(true);
    return this.get(location);
  }

  /** Signs up or in through the pages: phone page, sandbox code from the code page, profile. */
  async signIn(phone: string, extra: Record<string, string> = {}): Promise<Response> {
    await this.get("/");
    const verify = await this.follow(await this.post("/", { phone }));
    expect(verify.status).toBe(200);
    const code = devCode(this.html);
    expect(code).toMatch(/^\d{6}$/);
    const profile = await this.follow(await this.post("/verify", { code: code as string, ...extra }));
    expect(profile.status, this.html).toBe(200);
    return profile;
  }
}

/** The sandbox code shown on the code page ("SMS simulation"), if any. */
export const devCode = (html: string) => /data-dev-code[^>]*>(\d+)</.exec(html)?.[1];

/** The text of the error shown next to a field (`<form>-<field>-error`). */
export const fieldError = (html: string, id: string) => {
  const text = new RegExp(`id="${id}-error"[^>]*>([^<]*)<`).exec(html)?.[1];
  const entities: Record<string, string> = { "&#39;": "'", "&quot;": '"', "&lt;": "<", "&gt;": ">", "&amp;": "&" };
  return text?.replace(/&#39;|&quot;|&lt;|&gt;|&amp;/g, (entity) => entities[entity] ?? entity);
};

/** One cookie's Set-Cookie line from a response. */
export const setCookieLine = (response: Response, name: string) =>
  response.headers.getSetCookie().find((line) => line.startsWith(`${name}=`));
