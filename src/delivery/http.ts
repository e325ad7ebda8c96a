import type { Fetcher, SendResult } from "./types";

// The plumbing every provider module shares: one call under the message's abort signal, and the
// HMACs their callbacks are signed with.

/**
 * One provider call. A network error or a non-2xx answer is an `error`; the abort signal firing
 * (provider timeout or overall deadline) is a `timeout`. Answer bodies never reach the log.
 */
export async function callProvider(
  fetcher: Fetcher,
  url: string,
  init: RequestInit,
  signal: AbortSignal,
): Promise<{ response: Response } | Extract<SendResult, { ok: false }>> {
  try {
    const response = await fetcher(url, { ...init, signal });
    return { response };
  } catch {
    if (signal.aborted) return { ok: false, reason: "timeout", errorCode: "timeout" };
    return { ok: false, reason: "error", errorCode: "network" };
  }
}

/** A form-encoded POST (the SMS APIs' encoding), through `callProvider`; `headers` adds e.g. auth. */
export function postForm(
  fetcher: Fetcher,
  url: string,
  form: URLSearchParams,
  signal: AbortSignal,
  headers: Record<string, string> = {},
): ReturnType<typeof callProvider> {
  const init = { method: "POST", headers: { ...headers, "Content-Type": "application/x-www-form-urlencoded" }, body: form.toString() };
  return callProvider(fetcher, url, init, signal);
}

/** The answer's JSON, or null when it has none (a proxy's HTML error page, say). */
export async function jsonOf(response: Response): Promise<Record<string, unknown> | null> {
  try {
    const body = (await response.json()) as unknown;
    return body && typeof body === "object" ? (body as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export const httpError = (response: Response): Extract<SendResult, { ok: false }> => ({
  ok: false,
  reason: "error",
  errorCode: `http_${response.status}`,
});

const encoder = new TextEncoder();

// Keys given as text (configured secrets) are imported once per isolate; derived binary keys are not kept.
const importedKeys = new Map<string, Promise<CryptoKey>>();

function hmacKey(hash: "SHA-1" | "SHA-256", key: string | ArrayBuffer): Promise<CryptoKey> {
  const importKey = () =>
    crypto.subtle.importKey("raw", typeof key === "string" ? encoder.encode(key) : key, { name: "HMAC", hash }, false, ["sign"]);
  if (typeof key !== "string") return importKey();
  const cacheKey = `${hash}:${key}`;
  let imported = importedKeys.get(cacheKey);
  if (!imported) {
    imported = importKey();
    importedKeys.set(cacheKey, imported);
  }
  return imported;
}

async function hmac(hash: "SHA-1" | "SHA-256", key: string | ArrayBuffer, message: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(hash, key), encoder.encode(message)));
}

export const toHex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

export const hmacSha256Hex = async (key: string | ArrayBuffer, message: string) => toHex(await hmac("SHA-256", key, message));

export async function hmacSha1Base64(key: string, message: string): Promise<string> {
  return btoa(String.fromCharCode(...(await hmac("SHA-1", key, message))));
}

export const sha256 = (value: string) => crypto.subtle.digest("SHA-256", encoder.encode(value));

export const basicAuth = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;
