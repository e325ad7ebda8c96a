import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { deps } from "../../http/deps";
import { type Failure, problemStatus } from "../../http/problem";
import { asApi, type WebEnv } from "../context";
import { type PageContext, pageContext } from "../middleware";
import { ErrorPage } from "../views/error";

// What every console route shares: the request as the services see it (the same services and
// admin check as /v1/admin/*, with the page session's claims) and the refusal page.

/** The page context, the services and the caller's claims of a console request. */
export function consoleRequest(c: Context<WebEnv>, path: string) {
  return { page: pageContext(c, path, true), services: deps(asApi(c)), claims: c.get("auth") };
}

/** A service's refusal (not an admin, a session gone, no such item) as the error page, with the contract's status. */
export function refusedPage(c: Context<WebEnv>, page: PageContext, failure: Failure) {
  const status = problemStatus(failure.error) as ContentfulStatusCode;
  const message = page.t.errors[failure.error](failure, page.passwordMinLength);
  return c.html(<ErrorPage page={page} title={page.t.errorPage.title} message={message} />, status);
}

/** A query value as text, bounded (the pages never trust a query's length or shape). */
export const queryText = (c: Context<WebEnv>, name: string, max = 100) => (c.req.query(name) ?? "").trim().slice(0, max);
