// HTTP for the bench suites: one request with its timing, client addresses, bounded parallel work,
// sign-in through the API.
import { performance } from "node:perf_hooks";

/** One request to `base` + `path`; the answer with its body parsed when it is JSON, and its wall time (ms). */
export async function call(base, path, { method = "GET", body = undefined, token = undefined, ip = undefined } = {}) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (body) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  if (ip) headers["cf-connecting-ip"] = ip;
  const started = performance.now();
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text, headers: response.headers, ms };
}

/** The body of `response`, or an error naming `what` when its status is not `status`. */
export function expectStatus(response, status, what) {
  if (response.status !== status) throw new Error(`${what}: ${response.status} ${response.text.slice(0, 300)}`);
  return response.json;
}

/** A fresh client address per call, counting up from `first` (so per-IP windows never fill). */
export function addresses(first) {
  let n = first.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
  return () => {
    n++;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
  };
}

/** Runs `task(i)` for i < count, `parallel` at a time; the results in index order. */
export async function inParallel(count, parallel, task) {
  const out = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) {
        const index = next++;
        out[index] = await task(index);
      }
    }),
  );
  return out;
}

/**
 * Signs `phone` in through the API (send, then verify with the code `codeOf` finds: by default the
 * sandbox `dev_code`), from one client address. The verify answer, with the phone.
 */
export async function signIn(base, phone, { ip = undefined, codeOf = (sent) => sent.dev_code, invite = undefined } = {}) {
  const sent = expectStatus(await call(base, "/v1/auth/otp", { method: "POST", body: { phone }, ip }), 200, `send code to ${phone}`);
  const code = codeOf(sent, phone);
  if (!code) throw new Error(`no code for ${phone}`);
  const body = invite ? { phone, code, invite_code: invite } : { phone, code };
  const tokens = expectStatus(await call(base, "/v1/auth/otp/verify", { method: "POST", body, ip }), 200, `verify ${phone}`);
  return { ...tokens, phone };
}

/** The claims of a JWT (not verified: the bench reads its own tokens). */
export const claimsOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
