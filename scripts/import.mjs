// `npm run import -- users.csv [--region IR] [--out import.sql] [--check] [--env-file .dev.vars]`
// Turns a Django users export into idempotent SQL for `wrangler d1 execute` (docs/IMPORT.md).
// The logic lives in src/import/ (TypeScript, tested in workerd); esbuild bundles it for Node on
// each run, so nothing is compiled ahead and the Worker's bundle never sees it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs, parseEnv } from "node:util";
import { build } from "esbuild";

const root = dirname(dirname(fileURLToPath(import.meta.url)));

const usage = `Usage: npm run import -- <users.csv> [options]

Writes SQL for \`npx wrangler d1 execute DB --file <sql> [--remote]\` to stdout (or --out);
the report (skipped rows, regenerated codes, links left out) goes to stderr.

  --region XX             region for national numbers (before DEFAULT_REGION), e.g. IR
  --out FILE              write the SQL to FILE instead of stdout
  --check                 write read-only SELECTs (one per line) that list the rows whose
                          account in D1 differs from the file; run them after applying
  --env-file FILE         read the settings below from a dotenv file (e.g. .dev.vars)
  -h, --help              this text

Settings, as the Worker has them (environment, else --env-file):
  PASSWORD_PEPPER         required: keys the referral phone keys and derives replacement codes
  DEFAULT_REGION          region for national numbers
  ALLOWED_COUNTRIES       numbers of other countries are skipped
  REFERRAL_BONUS_POINTS   points per referral (default 100)
`;

/**
 * @param {string} message
 * @returns {never}
 */
function exit(message, code = 1) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** @type {{ values: { region?: string, out?: string, check?: boolean, "env-file"?: string, help?: boolean }, positionals: string[] }} */
let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      region: { type: "string" },
      out: { type: "string" },
      check: { type: "boolean" },
      "env-file": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
} catch (error) {
  exit(`${/** @type {Error} */ (error).message}\n\n${usage}`, 2);
}
const { values, positionals } = args;
if (values.help) exit(usage, 0);
if (positionals.length !== 1) exit(usage, 2);
const csvPath = /** @type {string} */ (positionals[0]);

/** @type {Record<string, string | undefined>} */
const fileVars = values["env-file"] ? parseEnv(readFileSync(values["env-file"], "utf8")) : {};
/** @param {string} name */
const setting = (name) => (process.env[name] || fileVars[name] || "").trim() || undefined;

const pepper = setting("PASSWORD_PEPPER");
if (!pepper || pepper.length < 32) {
  exit(
    "PASSWORD_PEPPER must be set to the Worker's pepper (at least 32 characters): the referral rows are keyed by it.\n" +
      "Production: export it from where you keep the secret. Local database: --env-file .dev.vars",
  );
}
const region = values.region ?? setting("DEFAULT_REGION");
for (const code of [region, ...(setting("ALLOWED_COUNTRIES")?.split(",") ?? [])]) {
  if (code !== undefined && !/^[A-Za-z]{2}$/.test(code.trim())) exit(`Not an ISO 3166-1 alpha-2 region: ${code}`, 2);
}
const bonus = Number(setting("REFERRAL_BONUS_POINTS") ?? 100);
if (!Number.isSafeInteger(bonus) || bonus < 0) exit("REFERRAL_BONUS_POINTS must be a whole number ≥ 0", 2);

/** @typedef {{ PASSWORD_PEPPER: string, DEFAULT_REGION?: string, ALLOWED_COUNTRIES: string[], REFERRAL_BONUS_POINTS: number }} ImportConfig */
/** @typedef {{ sql: string, checkStatements: string[], report: unknown }} UserImport */
/**
 * @typedef {object} Importer
 * @property {(csv: string, options: { config: ImportConfig, region?: string, now: number }) => Promise<UserImport>} importUsers
 * @property {(report: unknown) => string} formatReport
 * @property {new (...args: never[]) => Error} CsvFileError
 */

/** @returns {Promise<Importer>} */
async function loadImporter() {
  const dir = mkdtempSync(join(tmpdir(), "phone-auth-edge-import-"));
  const outfile = join(dir, "importer.mjs");
  try {
    await build({
      entryPoints: [join(root, "src/import/users.ts")],
      outfile,
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      sourcemap: "inline",
      logLevel: "error",
    });
    return await import(pathToFileURL(outfile).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { importUsers, formatReport, CsvFileError } = await loadImporter();
let result;
try {
  result = await importUsers(readFileSync(csvPath, "utf8"), {
    config: {
      PASSWORD_PEPPER: /** @type {string} */ (pepper),
      DEFAULT_REGION: setting("DEFAULT_REGION")?.toUpperCase(),
      ALLOWED_COUNTRIES: (setting("ALLOWED_COUNTRIES") ?? "")
        .split(",")
        .map((code) => code.trim().toUpperCase())
        .filter(Boolean),
      REFERRAL_BONUS_POINTS: bonus,
    },
    region: values.region?.toUpperCase(),
    now: Date.now(),
  });
} catch (error) {
  if (error instanceof CsvFileError) exit(`${csvPath}: ${error.message}. Nothing was written.`);
  throw error;
}

const output = values.check ? result.checkStatements.map((statement) => `${statement};\n`).join("") : result.sql;
if (values.out) writeFileSync(values.out, output);
else process.stdout.write(output);
process.stderr.write(formatReport(result.report));
if (values.out) process.stderr.write(`${values.check ? "Check" : "SQL"} written to ${values.out}.\n`);
