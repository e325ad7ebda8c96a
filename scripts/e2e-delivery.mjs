// End-to-end delivery check: the Worker under `wrangler dev` (production config, real routes) with
// every provider API base pointed at a fake provider on 127.0.0.1, walked the way a phone would:
// send (Telegram cannot reach the number → falls over to Twilio SMS) → the SMS's code → a signed
// delivery receipt (a forged one is refused) → verify → tokens. `npm run e2e:delivery`.
import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { rmSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { unstable_startWorker } from "wrangler";
import { migratedLocalD1 } from "./local-d1.mjs";
import { generateDevSecrets } from "./secrets.mjs";

const root = join(import.meta.dirname, "..");
const started = Date.now();
/** @param {string} message */
const log = (message) => console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
const SID = `AC${"e2".repeat(16)}`;
const TOKEN = "e2e-twilio-auth-token-0123456789";
const TELEGRAM_TOKEN = "e2e-telegram-gateway-token-0123";

/** @param {string} message @returns {never} */
function fail(message) {
  throw new Error(message);
}

/** A free port for the Worker, so PUBLIC_URL (which providers sign against) is known before it starts. */
/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/** The fake provider: Telegram Gateway (no Telegram account for anyone) and Twilio's Messages API. */
function startFakeProvider() {
  /** @type {{ method?: string, url?: string, headers: import("node:http").IncomingHttpHeaders, body: string }[]} */
  const seen = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      /** @param {number} status @param {unknown} json */
      const answer = (status, json) => {
        response.writeHead(status, { "Content-Type": "application/json" });
        response.end(JSON.stringify(json));
      };
      seen.push({ method: request.method, url: request.url, headers: request.headers, body });
      if (request.url === "/sendVerificationMessage") {
        if (request.headers.authorization !== `Bearer ${TELEGRAM_TOKEN}`) return answer(401, { ok: false, error: "ACCESS_TOKEN_INVALID" });
        return answer(400, { ok: false, error: "PHONE_NUMBER_INVALID" });
      }
      if (request.url === `/2010-04-01/Accounts/${SID}/Messages.json`) {
        const basic = `Basic ${Buffer.from(`${SID}:${TOKEN}`).toString("base64")}`;
        if (request.headers.authorization !== basic) return answer(401, { code: 20003, message: "Authenticate", status: 401 });
        if (request.headers["content-type"] !== "application/x-www-form-urlencoded") return answer(400, { code: 21604, status: 400 });
        return answer(201, { sid: `SM${"0".repeat(31)}1`, status: "queued" });
      }
      answer(404, { message: "not found" });
    });
  });
  /** @type {Promise<{ server: typeof server, seen: typeof seen, url: string }>} */
  const listening = new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
      resolve({ server, seen, url: `http://127.0.0.1:${port}` });
    }),
  );
  return listening;
}

async function main() {
  const fake = await startFakeProvider();
  log(`fake provider on ${fake.url}`);
  const persist = migratedLocalD1("e2e");
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const secrets = await generateDevSecrets();
  /** @param {string} value */
  const text = (value) => ({ type: /** @type {const} */ ("plain_text"), value });
  /** @param {string} value */
  const secret = (value) => ({ type: /** @type {const} */ ("secret_text"), value });
  const worker = await unstable_startWorker({
    config: join(root, "wrangler.toml"),
    bindings: {
      // ENVIRONMENT unset: production (no dev_code; the code is read from the "SMS").
      DEFAULT_REGION: text("BY"),
      PUBLIC_URL: text(publicUrl),
      DELIVERY_ROUTES: text("BY:telegram:telegram_gateway,sms:twilio;*:sms:twilio"),
      DELIVERY_PRICES: text("sms:twilio:*=0.05,telegram:telegram_gateway:*=0.01"),
      TWILIO_API_BASE: text(fake.url),
      TELEGRAM_GATEWAY_API_BASE: text(fake.url),
      TWILIO_ACCOUNT_SID: text(SID),
      TWILIO_FROM: text("+15005550006"),
      TWILIO_AUTH_TOKEN: secret(TOKEN),
      TELEGRAM_GATEWAY_TOKEN: secret(TELEGRAM_TOKEN),
      JWT_PRIVATE_KEYS: secret(secrets.JWT_PRIVATE_KEYS),
      PASSWORD_PEPPER: secret(secrets.PASSWORD_PEPPER),
    },
    dev: { server: { hostname: "127.0.0.1", port }, inspector: false, persist, watch: false, logLevel: "warn" },
  });
  try {
    await worker.ready;
    log(`worker on ${publicUrl}`);
    const json = { "Content-Type": "application/json" };
    // +375 29 1… is an MTS mobile range (a random first digit can fall outside every range).
    const phone = `+3752912${String(Date.now()).slice(-5)}`;

    const sent = await fetch(`${publicUrl}/v1/auth/otp`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ phone, channel: "auto", locale: "ru" }),
    });
    const sentBody = await sent.json();
    if (sent.status !== 200 || sentBody.channel !== "sms" || "dev_code" in sentBody)
      fail(`send answered ${sent.status} ${JSON.stringify(sentBody)}`);
    const calls = fake.seen.map((call) => call.url);
    if (calls[0] !== "/sendVerificationMessage" || !calls[1]?.endsWith("/Messages.json")) fail(`provider calls: ${calls.join(", ")}`);
    const sms = new URLSearchParams(fake.seen[1].body);
    const code = /\d{6}/.exec(sms.get("Body") ?? "")?.[0] ?? fail(`no code in "${sms.get("Body")}"`);
    log(`send: telegram unreachable → twilio sms "${sms.get("Body")}"`);

    const callbackUrl = /** @type {string} */ (sms.get("StatusCallback") ?? fail("no StatusCallback"));
    /** @type {Record<string, string>} */
    const params = { AccountSid: SID, MessageSid: `SM${"0".repeat(31)}1`, MessageStatus: "delivered", To: phone };
    const signed =
      callbackUrl +
      Object.keys(params)
        .sort()
        .map((name) => name + params[name])
        .join("");
    const signature = createHmac("sha1", TOKEN).update(signed).digest("base64");
    const form = { "Content-Type": "application/x-www-form-urlencoded" };
    const receiptBody = new URLSearchParams(params).toString();
    const forged = await fetch(callbackUrl, { method: "POST", headers: { ...form, "X-Twilio-Signature": "Zm9yZ2Vk" }, body: receiptBody });
    if (forged.status !== 401) fail(`forged receipt answered ${forged.status}`);
    const receipt = await fetch(callbackUrl, { method: "POST", headers: { ...form, "X-Twilio-Signature": signature }, body: receiptBody });
    if (receipt.status !== 204) fail(`receipt answered ${receipt.status} ${await receipt.text()}`);
    log("receipt: forged → 401, signed → 204");

    const verified = await fetch(`${publicUrl}/v1/auth/otp/verify`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ phone, code }),
    });
    const tokens = await verified.json();
    if (verified.status !== 200 || !tokens.access_token) fail(`verify answered ${verified.status} ${JSON.stringify(tokens)}`);
    log(`verify: signed in (new user: ${tokens.is_new_user})`);
    await worker.dispose();
    // The attempts as D1 holds them: telegram failed, twilio sent and then delivered by the receipt.
    const query = spawnSync(
      join(root, "node_modules", ".bin", "wrangler"),
      [
        "d1",
        "execute",
        "DB",
        "--local",
        "--persist-to",
        persist,
        "--json",
        "--command",
        "SELECT attempt, channel, provider, status, error_code, cost FROM delivery_attempts ORDER BY attempt",
      ],
      { cwd: root, env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" }, encoding: "utf8", timeout: 60_000 },
    );
    /** @type {{ attempt: number, channel: string, provider: string, status: string }[]} */
    const rows = JSON.parse(query.stdout || "[]")[0]?.results ?? [];
    const summary = rows.map((row) => `${row.attempt}:${row.channel}:${row.provider}:${row.status}`).join(" ");
    if (summary !== "1:telegram:telegram_gateway:failed 2:sms:twilio:delivered") fail(`attempts in D1: ${summary || query.stderr}`);
    log(`D1 attempts: ${summary}`);
    log("e2e delivery: passed");
  } finally {
    await worker.dispose().catch(() => {});
    fake.server.close();
    rmSync(persist, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`[e2e] FAILED: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
