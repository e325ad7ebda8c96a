import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import { PASSKEY_SCRIPT, SCRIPT, STYLE } from "../assets";
import { LANGUAGES, type Lang } from "../i18n";
import type { PageContext } from "../middleware";
import { CsrfField } from "./fields";

/**
 * The document around every page: head with the nonce'd style (plus `style`, a page family's
 * own rules, e.g. the console's), header with the language switch.
 */
export function Layout(props: { page: PageContext; title: string; children: Child; refresh?: string; style?: string }) {
  const { page } = props;
  const { t } = page;
  return (
    <>
      {raw("<!doctype html>")}
      <html lang={page.lang}>
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          {/* The app sends Referrer-Policy: no-referrer; under it browsers send `Origin: null` on
              form posts, so the pages relax it to same-origin for the CSRF origin check. */}
          <meta name="referrer" content="same-origin" />
          <meta name="color-scheme" content="light dark" />
          {props.refresh ? <meta http-equiv="refresh" content={`1;url=${props.refresh}`} /> : null}
          <title>{`${props.title} · ${page.appName}`}</title>
          <link rel="icon" href="data:," />
          <style nonce={page.nonce}>{raw(props.style ? STYLE + props.style : STYLE)}</style>
        </head>
        <body>
          <a class="skip" href="#main">
            {t.nav.skip}
          </a>
          <header class="top">
            <a class="brand" href={page.signedIn ? "/profile" : "/"}>
              {page.appName}
            </a>
            <nav aria-label={t.nav.account}>
              <ul class="langs" aria-label={t.nav.language}>
                {(Object.keys(LANGUAGES) as Lang[]).map((lang) => (
                  <li>
                    <a
                      href={`/lang?to=${lang}&next=${encodeURIComponent(page.path)}`}
                      hreflang={lang}
                      lang={lang}
                      aria-current={lang === page.lang ? "true" : undefined}
                    >
                      {LANGUAGES[lang].languageName}
                    </a>
                  </li>
                ))}
              </ul>
              {page.signedIn ? (
                <form method="post" action="/logout" class="inline">
                  <CsrfField page={page} />
                  <button type="submit" class="secondary">
                    {t.nav.logOut}
                  </button>
                </form>
              ) : null}
            </nav>
          </header>
          <main id="main">{props.children}</main>
          <script nonce={page.nonce}>{raw(SCRIPT)}</script>
          {page.passkeys ? <script nonce={page.nonce}>{raw(PASSKEY_SCRIPT)}</script> : null}
        </body>
      </html>
    </>
  );
}
