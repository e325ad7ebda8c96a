import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../http/context";
import { authApi } from "./auth";
import { COMPAT_TOKEN } from "./openapi";
import { registerApi } from "./register";
import { usersApi } from "./users";

/**
 * The old Django systems' client APIs (contract: "Compatibility APIs"), each served only when
 * `COMPAT_APIS` names it. Thin adapters: every rule is the core's.
 */
export const compatRoutes = new OpenAPIHono<AppEnv>().route("/", usersApi).route("/", registerApi).route("/", authApi);
compatRoutes.openAPIRegistry.registerComponent("securitySchemes", "compatToken", COMPAT_TOKEN);
