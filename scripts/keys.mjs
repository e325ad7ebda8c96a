// `npm run keys`: prints a fresh ES256 signing key set (JWK Set JSON, one line) for the
// JWT_PRIVATE_KEYS secret, e.g. `npm run --silent keys | npx wrangler secret put JWT_PRIVATE_KEYS`.
// To rotate, put the new key first and keep the old one after it until its tokens have expired.
import { randomBytes } from "node:crypto";
import { generateDevSecrets } from "./secrets.mjs";

const { JWT_PRIVATE_KEYS } = await generateDevSecrets();
const keySet = JSON.parse(JWT_PRIVATE_KEYS);
// generateDevSecrets names keys "dev-…"; a deployable key gets a neutral, dated kid.
keySet.keys[0].kid = `es256-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString("hex")}`;
process.stdout.write(`${JSON.stringify(keySet)}\n`);
