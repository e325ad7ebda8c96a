// Regenerates src/passwords/common-passwords.json: the 3,000 most common passwords, lower-cased
// and de-duplicated, from @zxcvbn-ts/language-common (MIT; its list is ordered by frequency).
// Run: npm run data:passwords
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const packageDir = dirname(require.resolve("@zxcvbn-ts/language-common/package.json"));
/** @type {string[]} */
const ranked = JSON.parse(readFileSync(join(packageDir, "src", "passwords.json"), "utf8"));

const top = [];
const seen = new Set();
for (const password of ranked) {
  const key = password.normalize("NFKC").toLowerCase();
  if (seen.has(key)) continue;
  seen.add(key);
  top.push(key);
  if (top.length === 3000) break;
}
const target = join(import.meta.dirname, "..", "src", "passwords", "common-passwords.json");
writeFileSync(target, `${JSON.stringify(top)}\n`);
console.log(`wrote ${top.length} passwords to ${target}`);
