import type { ApplyGlobalResponse, ClientRequestOptions } from "hono/client";
import { hc } from "hono/client";
import type { z } from "zod";
import type { App } from "./app";
import type { ProblemSchema } from "./http/openapi";

/** The body of every error answer (`application/problem+json`, RFC 9457); switch on `code`. */
export type Problem = z.output<typeof ProblemSchema>;

/** Statuses the contract answers with a problem; any route may give 404/405/413/500/503. */
type ProblemStatus = 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 429 | 500 | 502 | 503;

/**
 * The Worker's route types for `hc<AppType>()` from `hono/client`: request `json`, `query` and
 * `param` per route, the success body per status, and a `Problem` for every error status (the
 * handlers throw those, so route inference alone would not see them).
 */
export type AppType = ApplyGlobalResponse<App, { [S in ProblemStatus]: { json: Problem } }>;

/**
 * A typed client for the API at `baseUrl`, e.g.
 * `await createClient("http://127.0.0.1:8787").v1.auth.otp.$post({ json: { phone } })`.
 * Importing this module pulls in `hono/client` only, never the Worker's code.
 */
export function createClient(baseUrl: string, options?: ClientRequestOptions) {
  return hc<AppType>(baseUrl, options);
}

export type Client = ReturnType<typeof createClient>;
