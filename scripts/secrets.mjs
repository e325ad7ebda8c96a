// Generates the secrets a local Worker needs: an ES256 signing key set and a password pepper.
// Used by `npm run dev` (written once into .dev.vars) and by the test config (fresh every run).
import { webcrypto } from "node:crypto";

const { subtle } = webcrypto;

/** @returns {Promise<{ JWT_PRIVATE_KEYS: string, PASSWORD_PEPPER: string }>} */
export async function generateDevSecrets() {
  const pair = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const jwk = await subtle.exportKey("jwk", pair.privateKey);
  const kid = `dev-${Date.now().toString(36)}`;
  const keySet = { keys: [{ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d, kid, alg: "ES256" }] };
  const pepper = Buffer.from(webcrypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  return { JWT_PRIVATE_KEYS: JSON.stringify(keySet), PASSWORD_PEPPER: pepper };
}
