import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";

let ipCounter = 0;

/**
 * A fresh client IP per call site: requests without CF-Connecting-IP share one `unknown`
 * client, so tests that are not about IP windows each use their own address.
 */
export function freshIp(): string {
  ipCounter += 1;
  return `198.51.${Math.floor(ipCounter / 250) % 250}.${(ipCounter % 250) + 1}`;
}

let phoneCounter = 0;

/** A distinct valid Belarusian mobile number per call (the test config has DEFAULT_REGION=BY). */
export function freshPhone(): string {
  phoneCounter += 1;
  const random = Math.floor(Math.random() * 9000) + 1000;
  return `+37529${String(random).padStart(4, "0")}${String(phoneCounter % 1000).padStart(3, "0")}`;
}

type CallOptions = { body?: unknown; token?: string; ip?: string; headers?: Record<string, string> };

/** Calls the real Worker (workerd) over its fetch handler. */
export async function call(method: string, path: string, options: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { "CF-Connecting-IP": options.ip ?? freshIp(), ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] ??= "application/json";
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  return exports.default.fetch(new Request(`http://api.test${path}`, { method, headers, body }));
}

export type Problem = { type: string; title: string; status: number; code: string; detail: string; [key: string]: unknown };

/** Asserts a problem+json answer with `status` and `code`, and returns its body. */
export async function expectProblem(response: Response, status: number, code: string): Promise<Problem> {
  const text = await response.text();
  expect({ status: response.status, body: text }).toMatchObject({ status });
  expect(response.headers.get("Content-Type")).toBe("application/problem+json");
  const body = JSON.parse(text) as Problem;
  expect(body.code).toBe(code);
  expect(body.status).toBe(status);
  return body;
}

export type TokenBody = {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  refresh_expires_in: number;
  is_new_user: boolean;
  user: Record<string, unknown> & { id: string; phone: string };
};

/** Sends a login code and returns the sandbox `dev_code`. */
export async function sendCode(phone: string, extra: Record<string, unknown> = {}, options: CallOptions = {}): Promise<string> {
  const response = await call("POST", "/v1/auth/otp", { ...options, body: { phone, ...extra } });
  const body = (await response.json()) as { dev_code: string };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body.dev_code;
}

/** Full sign-in through the API: send, then verify the sandbox code. */
export async function signIn(phone = freshPhone()): Promise<TokenBody> {
  const code = await sendCode(phone);
  const response = await call("POST", "/v1/auth/otp/verify", { body: { phone, code } });
  const body = (await response.json()) as TokenBody;
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body;
}

/** A response's `RateLimit-*` headers (spec: Rate limits), null where one is missing. */
export const rateLimit = (response: Response) => ({
  limit: response.headers.get("RateLimit-Limit"),
  remaining: response.headers.get("RateLimit-Remaining"),
  reset: response.headers.get("RateLimit-Reset"),
});

/** Reads one row straight from D1, to prove what is (not) stored. */
export function row<T = Record<string, unknown>>(query: string, ...params: unknown[]) {
  return env.DB.prepare(query)
    .bind(...params)
    .first<T>();
}

/** A wrong code of the right length for `right`. */
export function wrongCode(right: string): string {
  return right.replace(/\d$/, (d) => String((Number(d) + 1) % 10));
}
