// A typed client as an integrator would write one: types generated from /openapi.json by
// openapi-typescript with its default options (`npm run typegen` writes ./api.d.ts), requests
// through openapi-fetch. It signs in with a one-time code and reads /v1/me.
//
// Against `npm run dev` (development sandbox: the send answers `dev_code`):
//   npm run example                      BASE_URL=http://127.0.0.1:8787, a made-up phone
//   PHONE=+375291234567 npm run example
import { pathToFileURL } from "node:url";
import createClient from "openapi-fetch";
import type { components, paths } from "./api";

export type User = components["schemas"]["User"];

/** Sends a login code, verifies it (the sandbox's `dev_code` stands in for the SMS) and reads the profile. */
export async function signInAndReadProfile({ baseUrl, phone }: { baseUrl: string; phone: string }): Promise<User> {
  const client = createClient<paths>({ baseUrl });

  const sent = await client.POST("/v1/auth/otp", { body: { phone } });
  if (sent.error) throw new Error(`POST /v1/auth/otp: ${sent.error.code}: ${sent.error.detail}`);
  const code = sent.data.dev_code;
  if (!code) throw new Error("no dev_code: this example needs the development sandbox (npm run dev)");

  const signedIn = await client.POST("/v1/auth/otp/verify", { body: { phone, code } });
  if (signedIn.error) throw new Error(`POST /v1/auth/otp/verify: ${signedIn.error.code}: ${signedIn.error.detail}`);

  const me = await client.GET("/v1/me", { headers: { Authorization: `Bearer ${signedIn.data.access_token}` } });
  if (me.error) throw new Error(`GET /v1/me: ${me.error.code}: ${me.error.detail}`);
  return me.data;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const baseUrl = process.env.BASE_URL ?? "http://127.0.0.1:8787";
  // A made-up Belarusian mobile number (+375 29 1xx xx xx), unless PHONE is given.
  const phone = process.env.PHONE ?? `+375291${String(Math.floor(Math.random() * 1_000_000)).padStart(6, "0")}`;
  const user = await signInAndReadProfile({ baseUrl, phone });
  console.log(JSON.stringify(user, null, 2));
}
