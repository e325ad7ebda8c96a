import { describe, expect, it } from "vitest";
import { callWorker, signInAdmin } from "./admin-helpers";
import { call, signIn } from "./helpers";

// spec/API.md "Service": every answer that carries personal data or tokens (/v1/me*, admin, token
// responses) has Cache-Control: no-store, so no browser cache or shared proxy keeps a copy.

const cacheControl = (response: Response) => response.headers.get("Cache-Control");

describe("Cache-Control: no-store on personal data and tokens", () => {
  it("on every documented read under /v1/me and /v1/admin, answered to an admin", async () => {
    const admin = await signInAdmin();
    const other = await signIn();
    const document = (await (await call("GET", "/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
    const reads = Object.entries(document.paths)
      .filter(([path, item]) => /^\/v1\/(me|admin)(\/|$)/.test(path) && "get" in item)
      .map(([path]) => path);
    expect(reads).toEqual(expect.arrayContaining(["/v1/me", "/v1/me/sessions", "/v1/me/referrals", "/v1/admin/users", "/v1/admin/events"]));
    for (const path of reads) {
      // Ids a route cannot know answer a problem, which is no-store too; the user id is a real one.
      const concrete = path.replace("{id}", other.user.id).replace(/\{[^}]+\}/g, "unknown");
      const response = await callWorker("GET", concrete, { token: admin.access_token });
      if (!path.includes("{") || path === "/v1/admin/users/{id}") expect(response.status, path).toBe(200);
      expect(cacheControl(response), path).toBe("no-store");
    }
  });

  it("on the profile and admin changes", async () => {
    const admin = await signInAdmin();
    const user = await signIn();
    const patched = await call("PATCH", "/v1/me", { token: user.access_token, body: { first_name: "Ada" } });
    expect(patched.status).toBe(200);
    expect(cacheControl(patched)).toBe("no-store");
    const changed = await callWorker("PATCH", `/v1/admin/users/${user.user.id}`, { token: admin.access_token, body: { role: "user" } });
    expect(changed.status).toBe(200);
    expect(cacheControl(changed)).toBe("no-store");
  });

  it("on token responses and on errors", async () => {
    const user = await signIn();
    const refreshed = await call("POST", "/v1/auth/token", { body: { refresh_token: user.refresh_token } });
    expect(refreshed.status).toBe(200);
    expect(cacheControl(refreshed)).toBe("no-store");
    const refused = await call("GET", "/v1/me");
    expect(refused.status).toBe(401);
    expect(cacheControl(refused)).toBe("no-store");
  });

  it("but the public keys stay cacheable", async () => {
    expect(cacheControl(await call("GET", "/.well-known/jwks.json"))).toBe("public, max-age=300");
  });
});
