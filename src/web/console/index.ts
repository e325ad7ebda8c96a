import { Hono } from "hono";
import type { WebEnv } from "../context";
import { auditPages } from "./audit";
import { blockPages } from "./blocks";
import { overviewPages } from "./overview";
import { trafficPages } from "./traffic";
import { userPages } from "./users";

/**
 * The operator console (`/admin`, spec: Operator console): overview, traffic, blocks, users and
 * audit pages for admins, behind the pages' session, CSRF and headers (src/web/routes.tsx). The
 * webhooks page (../webhooks.tsx) shares its nav.
 */
export const consolePages = new Hono<WebEnv>()
  .route("/", overviewPages)
  .route("/", trafficPages)
  .route("/", blockPages)
  .route("/", userPages)
  .route("/", auditPages);
