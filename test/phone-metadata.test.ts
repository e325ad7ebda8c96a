import { env } from "cloudflare:workers";
import installed from "libphonenumber-js/metadata.mobile.json";
import { describe, expect, it } from "vitest";
import { call, expectProblem } from "./helpers";

// The numbering plans are served to the Worker from its own assets (not bundled): the copy must be
// the installed package's, or validation would drift from libphonenumber-js's code.
describe("phone metadata from the Worker's assets", () => {
  it("is the installed libphonenumber-js mobile metadata (npm run data:phone after an upgrade)", async () => {
    const served = await env.ASSETS.fetch("https://assets.local/phone/metadata.mobile.json");
    expect(served.ok).toBe(true);
    expect(await served.json()).toEqual(installed);
  });

  it("is not public: the Worker answers 404 for its path", async () => {
    await expectProblem(await call("GET", "/phone/metadata.mobile.json"), 404, "not_found");
  });
});
