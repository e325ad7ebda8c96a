// Bench-only Worker (not deployed): runs src/passwords/hash.ts unchanged inside workerd.
// GET /?k=<n>&mode=hash|verify performs n sequential password hashes (or verifications) and
// answers when done, so the caller can time the request and read workerd's CPU counters.
import { hashPassword, verifyPassword } from "../../src/passwords/hash";

type Env = { PASSWORD_PEPPER: string };

const PASSWORD = "correct horse battery staple 42 \u00e9t\u00e9";

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const k = Math.max(0, Math.min(200, Number(url.searchParams.get("k") ?? "1") | 0));
    const mode = url.searchParams.get("mode") === "verify" ? "verify" : "hash";
    let stored = "";
    if (mode === "verify") stored = await hashPassword(env.PASSWORD_PEPPER, PASSWORD);
    let ok = true;
    for (let i = 0; i < k; i++) {
      if (mode === "hash") stored = await hashPassword(env.PASSWORD_PEPPER, PASSWORD);
      else ok = (await verifyPassword(env.PASSWORD_PEPPER, PASSWORD, stored)) && ok;
    }
    return Response.json({ k, mode, ok, params: stored.split("$").slice(0, 2).join("$") });
  },
};
