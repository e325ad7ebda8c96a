import type { FormErrors } from "../forms";
import type { PageContext } from "../middleware";
import { ConsoleLayout } from "./console/layout";
import { DataTable } from "./console/table";
import { CsrfField, FormAlert, Notice } from "./fields";

export type WebhookEndpointView = {
  id: string;
  url: string;
  description: string | null;
  event_types: string[];
  enabled: boolean;
  deliveries: {
    id: string;
    event_type: string;
    status: "pending" | "delivered" | "dead";
    attempts: number;
    result: string;
    created_at: string;
  }[];
};

export type WebhooksView = {
  endpoints: WebhookEndpointView[];
  eventTypes: readonly string[];
  /** A secret to show once (after adding an endpoint or rotating its secret). */
  secret?: { endpointUrl: string; value: string };
  notice?: string;
  errors?: FormErrors;
  form?: { url: string; description: string };
};

/** `/admin/webhooks`: the endpoints with their recent deliveries, and the forms that change them (no script needed). */
export function WebhooksPage(props: { page: PageContext; view: WebhooksView }) {
  const { page, view } = props;
  const { t } = page;
  const w = t.webhooks;
  const when = (iso: string) => new Date(iso).toLocaleString(t.dates, { dateStyle: "short", timeStyle: "short", timeZone: "UTC" });
  return (
    <ConsoleLayout page={page} section="webhooks" title={w.title}>
      <h1>{w.title}</h1>
      <p>{w.lead}</p>
      <Notice message={view.notice} />
      {view.secret ? (
        <section class="card" aria-labelledby="secret-title">
          <h2 id="secret-title">{w.secretTitle}</h2>
          <p>{w.secretLead}</p>
          <p class="meta">{view.secret.endpointUrl}</p>
          <p>
            <code data-secret>{view.secret.value}</code>
          </p>
        </section>
      ) : null}
      {view.endpoints.length === 0 ? <p>{w.none}</p> : null}
      {view.endpoints.map((endpoint) => (
        <section class="card" aria-label={endpoint.url}>
          <h2>
            <code>{endpoint.url}</code> <span class="meta">{endpoint.enabled ? w.on : w.off}</span>
          </h2>
          {endpoint.description ? <p>{endpoint.description}</p> : null}
          <p class="meta">
            {w.events}: {endpoint.event_types.join(", ")}
          </p>
          <div class="actions">
            <form method="post" action={`/admin/webhooks/${endpoint.id}/enabled`}>
              <CsrfField page={page} />
              <input type="hidden" name="enabled" value={endpoint.enabled ? "0" : "1"} />
              <button type="submit" class="secondary">
                {endpoint.enabled ? w.disable : w.enable}
              </button>
            </form>
            <form method="post" action={`/admin/webhooks/${endpoint.id}/rotate`}>
              <CsrfField page={page} />
              <button type="submit" class="secondary">
                {w.rotate}
              </button>
            </form>
            <form method="post" action={`/admin/webhooks/${endpoint.id}/delete`}>
              <CsrfField page={page} />
              <button type="submit" class="danger">
                {w.remove}
              </button>
            </form>
          </div>
          <h3>{w.deliveries}</h3>
          <DataTable
            headers={[w.event, w.status, w.attempts, w.lastResult, w.created, w.replay]}
            rows={endpoint.deliveries}
            empty={<p class="meta">{w.noDeliveries}</p>}
            row={(delivery) => (
              <tr>
                <td>{delivery.event_type}</td>
                <td>{w.statuses[delivery.status]}</td>
                <td>{delivery.attempts}</td>
                <td>{delivery.result}</td>
                <td>{when(delivery.created_at)}</td>
                <td>
                  {delivery.status === "pending" ? null : (
                    <form method="post" action={`/admin/webhooks/deliveries/${delivery.id}/replay`}>
                      <CsrfField page={page} />
                      <button type="submit" class="secondary">
                        {w.replay}
                      </button>
                    </form>
                  )}
                </td>
              </tr>
            )}
          />
        </section>
      ))}
      <section class="card" aria-labelledby="add-title">
        <h2 id="add-title">{w.addTitle}</h2>
        <FormAlert page={page} errors={view.errors} />
        <form method="post" action="/admin/webhooks">
          <CsrfField page={page} />
          <div class="field">
            <label for="webhook-url">{w.url}</label>
            <p class="hint" id="webhook-url-hint">
              {w.urlHint}
            </p>
            {view.errors?.fields.url ? (
              <p class="error" id="webhook-url-error">
                {view.errors.fields.url}
              </p>
            ) : null}
            <input
              id="webhook-url"
              name="url"
              type="url"
              required
              value={view.form?.url ?? ""}
              aria-describedby={view.errors?.fields.url ? "webhook-url-hint webhook-url-error" : "webhook-url-hint"}
              aria-invalid={view.errors?.fields.url ? "true" : undefined}
            />
          </div>
          <div class="field">
            <label for="webhook-description">
              {w.description} <span class="optional">({t.form.optional})</span>
            </label>
            <input id="webhook-description" name="description" type="text" maxlength={200} value={view.form?.description ?? ""} />
          </div>
          <fieldset class="field">
            <legend>{w.events}</legend>
            <label>
              <input type="checkbox" name="event_types" value="*" checked /> {w.allEvents}
            </label>
            {view.eventTypes.map((type) => (
              <label>
                <input type="checkbox" name="event_types" value={type} /> <code>{type}</code>
              </label>
            ))}
          </fieldset>
          <button type="submit">{w.add}</button>
        </form>
      </section>
    </ConsoleLayout>
  );
}
