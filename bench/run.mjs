// The one bench runner: `node bench/run.mjs [suite]` runs bench/suites/<suite>.mjs through
// bench/lib/runner.mjs (default: endpoints, which is `npm run bench`). See bench/README.md.
import { runSuite } from "./lib/runner.mjs";

const SUITES = ["endpoints", "scale", "enumeration", "password", "webhooks", "fraud"];
const name = process.argv[2] ?? "endpoints";
if (!SUITES.includes(name)) {
  console.error(`unknown bench suite ${name} (known: ${SUITES.join(", ")})`);
  process.exit(2);
}
await runSuite((await import(`./suites/${name}.mjs`)).default);
