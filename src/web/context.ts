import type { Context } from "hono";
import type { AppEnv } from "../http/context";
import type { Lang, Messages } from "./i18n";

/** The pages' Hono environment: the app's, plus what the page middleware puts on the context. */
export type WebEnv = {
  Bindings: AppEnv["Bindings"];
  Variables: AppEnv["Variables"] & {
    /** Fresh per response; the CSP names it and every inline script and style carries it. */
    nonce: string;
    lang: Lang;
    t: Messages;
    /** False only in development over plain http: cookies then drop `Secure` and `__Host-`. */
    secureCookies: boolean;
    /** The CSRF token every form of this response carries. */
    csrf: string;
    /** Set when this request wrote to D1, so its bookmark goes back in the cookie. */
    wrote: boolean;
  };
};

/**
 * The same request seen as the API's context, for the request functions and `deps` the pages
 * share with the JSON API. WebEnv only adds variables, but Hono's Context is invariant in its env.
 */
export const asApi = (c: Context<WebEnv>) => c as unknown as Context<AppEnv>;
