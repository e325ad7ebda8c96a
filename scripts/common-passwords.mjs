// Regenerates assets/passwords/common.txt (one per line, served to the Worker by its ASSETS binding,
// so the list stays out of the script bundle): the 3,000 most common passwords of at least 8
// code points (the lowest PASSWORD_MIN_LENGTH allowed; shorter ones are refused as too_short before
// the list is read, so they would be dead weight), lower-cased and de-duplicated, from
// @zxcvbn-ts/language-common (MIT; its list is ordered by frequency). ASVS 5.0 6.2.4 asks for the
// top 3,000 passwords that match the policy.
// Run: npm run data:passwords
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const packageDir = dirname(require.resolve("@zxcvbn-ts/language-common/package.json"));
/** @type {string[]} */
const ranked = JSON.parse(readFileSync(join(packageDir, "src", "passwords.json"), "utf8"));

const MIN_LENGTH = 8;
const top = [];
const seen = new Set();
for (const password of ranked) {
  const key = password.normalize("NFKC").toLowerCase();
  if (seen.has(key) || [...key].length < MIN_LENGTH) continue;
  seen.add(key);
  top.push(key);
  if (top.length === 3000) break;
}
const target = join(import.meta.dirname, "..", "assets", "passwords", "common.txt");
writeFileSync(target, `${top.join("\n")}\n`);
console.log(`wrote ${top.length} passwords to ${target}`);
