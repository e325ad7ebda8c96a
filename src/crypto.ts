import { type Remembered, remembered } from "./memo";

const encoder = new TextEncoder();

export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function hex(buffer: ArrayBuffer): string {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `bytes` of CSPRNG output, base64url-encoded. 16 bytes = 128 bits. */
export function randomToken(bytes = 16): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** A uniformly random string of decimal digits (rejection sampling: no modulo bias). */
export function randomDigits(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < 250 && out.length < length) out += String(byte % 10);
    }
  }
  return out;
}

/** `length` characters drawn uniformly from `alphabet` (rejection sampling). */
export function randomFromAlphabet(alphabet: string, length: number): string {
  const limit = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < limit && out.length < length) out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}

export async function sha256Hex(value: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(value)));
}

/** Constant-time comparison of two strings (length leaks, content does not). */
export function timingSafeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  let diff = left.length ^ right.length;
  for (let i = 0; i < Math.max(left.length, right.length); i++) diff |= (left[i] ?? 0) ^ (right[i] ?? 0);
  return diff === 0;
}

/** HMAC-SHA-256 keys derived from one secret, one per purpose, so no key serves two jobs. */
export type KeyedHasher = (message: string) => Promise<string>;

const hashers = new Map<string, KeyedHasher>();

/**
 * A keyed hash (HMAC-SHA-256, hex) under a subkey of `secret` derived with HKDF for `purpose`.
 * Imported once per isolate and purpose.
 */
export function keyedHasher(secret: string, purpose: string): KeyedHasher {
  const cacheKey = `${purpose}\u0000${secret}`;
  let hasher = hashers.get(cacheKey);
  if (!hasher) {
    const key = (async () => {
      const ikm = await crypto.subtle.importKey("raw", encoder.encode(secret), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encoder.encode(`phone-auth-edge:${purpose}`) },
        ikm,
        { name: "HMAC", hash: "SHA-256", length: 256 },
        false,
        ["sign"],
      );
    })();
    hasher = async (message) => hex(await crypto.subtle.sign("HMAC", await key, encoder.encode(message)));
    hashers.set(cacheKey, hasher);
  }
  return hasher;
}

const rememberingHashers = new WeakMap<KeyedHasher, Remembered<Promise<string>>>();

/**
 * `keyedHasher(secret, purpose)` that remembers its recent answers (src/memo.ts): for a value one
 * request hashes again and again, like a phone's key in each of its audit events (src/phone.ts
 * `phoneKey`). The answers are as secret as the key that made them; a failed hash is not kept.
 */
export function rememberingHasher(secret: string, purpose: string): KeyedHasher {
  const hasher = keyedHasher(secret, purpose);
  let recall = rememberingHashers.get(hasher);
  if (!recall) {
    recall = remembered(hasher);
    rememberingHashers.set(hasher, recall);
  }
  return recall;
}
