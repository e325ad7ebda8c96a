// Standard Webhooks (https://www.standardwebhooks.com): `webhook-signature: v1,<base64 HMAC-SHA-256
// of "<id>.<timestamp>.<body>">` keyed by the bytes the `whsec_` secret encodes. Endpoint secrets
// rest in D1 encrypted with AES-GCM under an HKDF subkey of PASSWORD_PEPPER.

const encoder = new TextEncoder();
const SECRET_PREFIX = "whsec_";

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (char) => char.charCodeAt(0));

/** A fresh endpoint secret: `whsec_` and 24 random bytes in base64 (the format receivers' libraries take). */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${toBase64(crypto.getRandomValues(new Uint8Array(24)))}`;
}

/** The `webhook-signature` value: one `v1,<signature>` per secret, space-separated (rotation signs with both). */
export async function signatureHeader(secrets: string[], id: string, timestamp: number, body: string): Promise<string> {
  const signed = encoder.encode(`${id}.${timestamp}.${body}`);
  const signatures = await Promise.all(
    secrets.map(async (secret) => {
      const key = await crypto.subtle.importKey(
        "raw",
        fromBase64(secret.slice(SECRET_PREFIX.length)),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      return `v1,${toBase64(new Uint8Array(await crypto.subtle.sign("HMAC", key, signed)))}`;
    }),
  );
  return signatures.join(" ");
}

const keys = new Map<string, Promise<CryptoKey>>();

function secretKey(pepper: string): Promise<CryptoKey> {
  let key = keys.get(pepper);
  if (!key) {
    key = (async () => {
      const ikm = await crypto.subtle.importKey("raw", encoder.encode(pepper), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encoder.encode("phone-auth-edge:webhook-secret") },
        ikm,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    })();
    keys.set(pepper, key);
  }
  return key;
}

/** Encrypts a secret for D1: `<iv>.<ciphertext>` in base64. */
export async function sealSecret(pepper: string, secret: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await secretKey(pepper), encoder.encode(secret));
  return `${toBase64(iv)}.${toBase64(new Uint8Array(sealed))}`;
}

export async function openSecret(pepper: string, sealed: string): Promise<string> {
  const [iv = "", data = ""] = sealed.split(".");
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64(iv) }, await secretKey(pepper), fromBase64(data));
  return new TextDecoder().decode(plain);
}
