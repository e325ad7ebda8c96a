import type { PageContext } from "../middleware";
import { Layout } from "./layout";

/** A refused or failed request as a page: what happened in plain words, and a way on. */
export function ErrorPage(props: { page: PageContext; title: string; message: string; requestId?: string }) {
  const { page } = props;
  return (
    <Layout page={page} title={props.title}>
      <section class="narrow card" aria-labelledby="error-title">
        <h1 id="error-title">{props.title}</h1>
        <p>{props.message}</p>
        {props.requestId ? <p class="meta">{page.t.errorPage.reference(props.requestId)}</p> : null}
        <p>
          <a href={page.signedIn ? "/profile" : "/"}>{page.t.errorPage.home}</a>
        </p>
      </section>
    </Layout>
  );
}

/**
 * Shown when the session cookie lost a rotation race to another tab a moment ago: that tab's
 * response is bringing the new cookie, so look again in a second (works without JavaScript).
 */
export function RetryPage(props: { page: PageContext; target: string }) {
  const { t } = props.page;
  return (
    <Layout page={props.page} title={t.errorPage.retryTitle} refresh={props.target}>
      <section class="narrow card">
        <h1>{t.errorPage.retryTitle}</h1>
        <p role="status">{t.errorPage.retry}</p>
        <p>
          <a href={props.target}>{t.errorPage.continue}</a>
        </p>
      </section>
    </Layout>
  );
}
