import type { Config } from "../config";
import type { Db } from "../db/client";
import type { AccessClaims } from "../tokens/jwt";

/** Hono environment of the whole app: bindings plus what middleware puts on the context. */
export type AppEnv = {
  Bindings: Env & Record<string, unknown>;
  Variables: {
    requestId: string;
    config: Config;
    /** This request's D1 session (set by `d1Session`). */
    db: Db;
    /** Set by `requireAccessToken`. */
    auth: AccessClaims;
  };
};
