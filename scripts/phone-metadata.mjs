// `npm run data:phone`: copies libphonenumber-js's `mobile` metadata into the Worker's static assets
// (assets/phone/metadata.mobile.json), read through the ASSETS binding instead of being bundled.
// Run after upgrading libphonenumber-js; test/phone-metadata.test.ts fails while the copy differs.
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const source = createRequire(import.meta.url).resolve("libphonenumber-js/metadata.mobile.json");
mkdirSync(join(root, "assets", "phone"), { recursive: true });
copyFileSync(source, join(root, "assets", "phone", "metadata.mobile.json"));
console.log("assets/phone/metadata.mobile.json updated");
