import { describe, expect, it } from "vitest";
import { keyedHasher, rememberingHasher } from "../src/crypto";
import { remembered } from "../src/memo";

// src/memo.ts: what a remembering function keeps, for how long, and what it never mixes up.
describe("remembered", () => {
  it("computes once per key, and drops everything when full", () => {
    const computed: string[] = [];
    const upper = remembered((key: string) => {
      computed.push(key);
      return key.toUpperCase();
    }, 2);
    expect([upper("a"), upper("a"), upper("b"), upper("a")]).toEqual(["A", "A", "B", "A"]);
    expect(computed).toEqual(["a", "b"]);
    // A third key finds it full: all are dropped, so "a" is computed again.
    expect(upper("c")).toBe("C");
    expect(upper("a")).toBe("A");
    expect(computed).toEqual(["a", "b", "c", "a"]);
    upper.forget("a");
    upper("a");
    expect(computed.filter((key) => key === "a")).toHaveLength(3);
  });

  it("a remembering hasher answers what the keyed hasher answers, per secret and purpose, and keeps no failure", async () => {
    const phone = "+375291234567";
    expect(await rememberingHasher("secret-one-0123456789", "phone")(phone)).toBe(
      await keyedHasher("secret-one-0123456789", "phone")(phone),
    );
    // One remembering hasher per secret and purpose, so its answers outlive the call that made it.
    expect(rememberingHasher("secret-one-0123456789", "phone")).toBe(rememberingHasher("secret-one-0123456789", "phone"));
    const other = await rememberingHasher("secret-two-0123456789", "phone")(phone);
    expect(other).not.toBe(await rememberingHasher("secret-one-0123456789", "phone")(phone));
    expect(await rememberingHasher("secret-one-0123456789", "otp-code")(phone)).not.toBe(
      await rememberingHasher("secret-one-0123456789", "phone")(phone),
    );

    let calls = 0;
    const flaky = remembered((key: string) => {
      calls += 1;
      return calls === 1 ? Promise.reject(new Error("down")) : Promise.resolve(`ok:${key}`);
    });
    await expect(flaky("x")).rejects.toThrow("down");
    expect(await flaky("x")).toBe("ok:x");
    expect(calls).toBe(2);
  });
});
