import { createExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { call, expectProblem, freshIp, freshPhone } from "./helpers";
import { variantEnv } from "./otp-helpers";

// Refusals a person can act on (issue #16): the `code`s stay as the contract has them, the
// `detail` says what to change.

/** The test config without DEFAULT_REGION: national numbers have no country to fall back on. */
const noRegion = variantEnv({ DEFAULT_REGION: undefined });

function sendWithoutRegion(body: Record<string, unknown>) {
  const request = new Request("http://api.test/v1/auth/otp", {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
    body: JSON.stringify(body),
  });
  return worker.fetch(request, noRegion, createExecutionContext());
}

describe("human error details", () => {
  it("a national number without a region says the country is missing (still invalid_phone)", async () => {
    const problem = await expectProblem(await sendWithoutRegion({ phone: "8 029 123 45 67" }), 400, "invalid_phone");
    expect(problem.detail).toMatch(/country is missing/i);
    expect(problem.detail).toContain("region");
    // The same digits with their region are a mobile number.
    expect((await sendWithoutRegion({ phone: "8 029 123 45 67", region: "BY" })).status).toBe(200);
  });

  it("a number that is wrong whatever its country still says it cannot receive SMS", async () => {
    for (const phone of ["+375 17 123 45 67", "+1 000", "12"]) {
      const problem = await expectProblem(await sendWithoutRegion({ phone }), 400, "invalid_phone");
      expect(problem.detail, phone).toBe("This is not a mobile number that can receive SMS.");
    }
  });

  it("a missing phone says it is required, not Zod's raw text", async () => {
    const problem = await expectProblem(await call("POST", "/v1/auth/otp", { body: {} }), 400, "validation_failed");
    expect(problem.errors).toEqual([{ path: "phone", message: "is required" }]);
    expect(problem.detail).toBe("phone: is required");
    const verify = await expectProblem(
      await call("POST", "/v1/auth/otp/verify", { body: { phone: freshPhone() } }),
      400,
      "validation_failed",
    );
    expect(verify.errors).toEqual([{ path: "code", message: "is required" }]);
  });

  it.each([
    ["a two-digit code", "12"],
    ["a code one digit too long", "1234567"],
    ["a code with letters", "12ab56"],
    ["an empty code", ""],
  ])("%s says how many digits are expected", async (_, code) => {
    for (const path of ["/v1/auth/otp/verify", "/v1/auth/password/reset"]) {
      const body = { phone: freshPhone(), code, new_password: "a long enough pass phrase" };
      const problem = await expectProblem(await call("POST", path, { body }), 400, "validation_failed");
      expect(problem.errors, path).toEqual([{ path: "code", message: "must be 6 digits" }]);
      expect(problem.detail, path).toBe("code: must be 6 digits");
    }
  });
});
