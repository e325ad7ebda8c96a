import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { handleError } from "../http/errors";
import { ApiError } from "../http/problem";
import { consolePages } from "./console";
import { asApi, type WebEnv } from "./context";
import { csrfProtection } from "./csrf";
import { pageContext, pageDatabase, pageHeaders, pageSetup } from "./middleware";
import { documentPages } from "./openapi";
import { passkeyProfilePages, passkeySignInPages } from "./passkeys";
import { logoutPage, profilePages } from "./profile";
import { requireWebSession } from "./session";
import { signInPages } from "./signin";
import { ErrorPage } from "./views/error";
import { webhookPages } from "./webhooks";

// The server-rendered pages (Hono JSX). Mounted at "/", so middleware is registered per page
// path: a `use("*")` here would run for the JSON API too. "/profile/*" also matches "/profile".

const PAGES = ["/", "/password", "/verify", "/resend", "/lang", "/logout", "/passkey", "/passkey/*", "/profile/*", "/admin/*"];

/** A cross-site or token-less form post: 403, before anything ran. */
function refusedPost(c: Context<WebEnv>) {
  const page = pageContext(c, "/", false);
  return c.html(<ErrorPage page={page} title={page.t.errorPage.csrfTitle} message={page.t.errorPage.csrf} />, 403);
}

/**
 * The pages' `onError`: the app's handler logs and classifies (500, or 503 for a storage
 * failure; never a stack trace on the wire), and the page says it in the reader's language.
 */
function pageError(error: Error, c: Context<WebEnv>) {
  const status = handleError(error, asApi(c)).status;
  const page = pageContext(c, "/", false);
  const { t } = page;
  const failure =
    error instanceof ApiError ? error.failure : { error: status === 503 ? ("service_unavailable" as const) : ("internal_error" as const) };
  const message = t.errors[failure.error](failure, page.passwordMinLength);
  const requestId = failure.error === "internal_error" ? c.get("requestId") : undefined;
  return c.html(
    <ErrorPage page={page} title={t.errorPage.title} message={message} requestId={requestId} />,
    status as ContentfulStatusCode,
  );
}

export const webRoutes = new OpenAPIHono<WebEnv>();
for (const path of PAGES) webRoutes.use(path, pageHeaders, pageSetup, csrfProtection(refusedPost), pageDatabase);
webRoutes.use("/profile/*", requireWebSession);
webRoutes.use("/admin/*", requireWebSession);
webRoutes
  .route("/", signInPages)
  .route("/", profilePages)
  .route("/", passkeySignInPages)
  .route("/", passkeyProfilePages)
  .route("/", logoutPage)
  .route("/", webhookPages)
  .route("/", consolePages);
webRoutes.onError(pageError);
documentPages(webRoutes.openAPIRegistry);
