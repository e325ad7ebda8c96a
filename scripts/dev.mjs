// `npm run dev`: one command from a fresh clone to a running local Worker.
// 1. writes .dev.vars once (sandbox settings and freshly generated secrets; never overwritten),
// 2. applies the D1 migrations to the local database,
// 3. copies the pinned Swagger UI into assets/docs/ for /docs (scripts/docs-assets.mjs),
// 4. runs `wrangler dev` on 127.0.0.1:8787, passing extra arguments through
//    (`npm run dev -- --port 9000 --var OTP_RESEND_SECONDS:2`).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { copyDocsAssets } from "./docs-assets.mjs";
import { generateDevSecrets } from "./secrets.mjs";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const userArgs = process.argv.slice(2);

if (!existsSync(wrangler)) {
  console.error("wrangler is not installed: run `npm ci` first.");
  process.exit(1);
}

await writeDevVars(join(root, ".dev.vars"));
applyMigrations();
copyDocsAssets();
runWranglerDev();

/** @param {string} path */
async function writeDevVars(path) {
  if (existsSync(path)) return;
  const { JWT_PRIVATE_KEYS, PASSWORD_PEPPER } = await generateDevSecrets();
  const lines = [
    "# Local settings for `wrangler dev` (dotenv format), written once by `npm run dev`. Not committed.",
    "# Delete this file to get fresh signing keys and pepper; edit it freely otherwise.",
    "ENVIRONMENT=development",
    "SMS_PROVIDER=console",
    "# DEFAULT_REGION=BY",
    "# Passkeys: open http://localhost:8787/ (browsers refuse WebAuthn on 127.0.0.1).",
    "WEBAUTHN_RP_ID=localhost",
    "WEBAUTHN_RP_NAME=phone-auth-edge (development)",
    "WEBAUTHN_ORIGINS=http://localhost:8787",
    // Single quotes: dotenv takes the JSON literally (no escapes, no `$` expansion needed).
    `JWT_PRIVATE_KEYS='${JWT_PRIVATE_KEYS}'`,
    `PASSWORD_PEPPER=${PASSWORD_PEPPER}`,
  ];
  try {
    // "wx" fails if the file appeared meanwhile, so an existing .dev.vars is never replaced.
    writeFileSync(path, `${lines.join("\n")}\n`, { flag: "wx", mode: 0o600 });
    console.log("Wrote .dev.vars (development sandbox, fresh JWT key and pepper).");
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code !== "EEXIST") throw error;
  }
}

function applyMigrations() {
  // The migrations must land where `wrangler dev` will look: same config, environment and state dir.
  const shared = pickOptions(userArgs, ["--config", "-c", "--env", "-e", "--persist-to"]);
  const result = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local", ...shared], {
    cwd: root,
    stdio: "inherit",
    // CI=true makes wrangler skip its "apply these migrations?" prompt.
    env: { ...process.env, CI: "true" },
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    console.error("Applying the local D1 migrations failed (see above).");
    process.exit(result.status ?? 1);
  }
}

function runWranglerDev() {
  // Defaults only when the user did not choose: yargs would turn a repeated flag into an array.
  const defaults = [];
  if (!hasOption(userArgs, "--ip")) defaults.push("--ip", "127.0.0.1");
  if (!hasOption(userArgs, "--port")) defaults.push("--port", "8787");
  const child = spawn(wrangler, ["dev", ...defaults, ...userArgs], { cwd: root, stdio: "inherit" });

  for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM"])) {
    process.on(signal, () => child.kill(signal));
  }
  child.on("error", (error) => {
    console.error(`Could not start wrangler dev: ${error.message}`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    process.exit(code ?? 128 + (signal ? constants.signals[signal] : 1));
  });
}

/**
 * @param {string[]} args
 * @param {string} name a long option such as "--port"
 */
function hasOption(args, name) {
  return args.some((arg) => arg === name || arg.startsWith(`${name}=`));
}

/**
 * The given options (`--x v` or `--x=v`) from args, in order, to hand to another wrangler command.
 * @param {string[]} args
 * @param {string[]} names
 */
function pickOptions(args, names) {
  /** @type {string[]} */
  const picked = [];
  args.forEach((arg, index) => {
    const name = arg.split("=")[0] ?? arg;
    if (!names.includes(name)) return;
    const value = arg.includes("=") ? undefined : args[index + 1];
    picked.push(arg);
    if (value !== undefined && !value.startsWith("-")) picked.push(value);
  });
  return picked;
}
