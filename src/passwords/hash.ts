import { base64url, keyedHasher, timingSafeEqual } from "../crypto";
import { normalisePassword } from "./policy";

// PBKDF2-SHA-256 at 100,000 iterations: the most Workers' WebCrypto allows in production
// (wrangler dev allows more; never exceed it). OWASP suggests 600,000 for PBKDF2-SHA-256, so the
// password is first put through HMAC-SHA-256 keyed by PASSWORD_PEPPER, a secret kept out of D1:
// a stolen database alone cannot be brute-forced. The parameters live in the stored string
// (`pbkdf2-sha256$<iterations>$<salt>$<hash>`) so they can be raised later.
export const PBKDF2_ITERATIONS = 100_000;
const SALT_BYTES = 16;
const HASH_BITS = 256;

const encoder = new TextEncoder();

function fromBase64url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

async function derive(pepper: string, password: string, salt: Uint8Array, iterations: number): Promise<string> {
  const peppered = await keyedHasher(pepper, "password")(normalisePassword(password));
  const key = await crypto.subtle.importKey("raw", encoder.encode(peppered), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, HASH_BITS);
  return base64url(new Uint8Array(bits));
}

/** Hashes a (policy-checked) password for storage. */
export async function hashPassword(pepper: string, password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  return `pbkdf2-sha256$${PBKDF2_ITERATIONS}$${base64url(salt)}$${await derive(pepper, password, salt, PBKDF2_ITERATIONS)}`;
}

// Verified against when there is no account or no password, so those answers cost the same time.
const DUMMY_HASH = `pbkdf2-sha256$${PBKDF2_ITERATIONS}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;

/**
 * Checks a password against a stored hash in constant time. With `stored` null it runs the same
 * work against a dummy hash and answers false (no timing difference for unknown accounts).
 */
export async function verifyPassword(pepper: string, password: string, stored: string | null): Promise<boolean> {
  const [scheme, iterationsText, saltText, expected] = (stored ?? DUMMY_HASH).split("$");
  const iterations = Number(iterationsText);
  if (scheme !== "pbkdf2-sha256" || !saltText || !expected || !Number.isInteger(iterations) || iterations > PBKDF2_ITERATIONS) {
    return false;
  }
  const actual = await derive(pepper, password, fromBase64url(saltText), iterations);
  return timingSafeEqual(actual, expected) && stored !== null;
}
