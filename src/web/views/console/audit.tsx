import type { AdminAuditEvent } from "../../../admin/service";
import type { PageContext } from "../../middleware";
import { Notice } from "../fields";
import { formatsOf } from "./format";
import { ConsoleHead, ConsoleLayout } from "./layout";
import { DataTable } from "./table";

type AuditEvent = Pick<AdminAuditEvent, "id" | "type" | "created_at" | "user_id" | "phone" | "ip" | "country" | "detail">;

export type AuditView = {
  events: AuditEvent[];
  next: string | null;
  type?: string;
  userId?: string;
  /** This is a later page (a "newest" link goes back to the first). */
  paged: boolean;
  unknownType?: string;
  types: readonly string[];
};

/** `/admin/audit`: the type filter, then the events newest first with a link to older ones. */
export function AuditPage(props: { page: PageContext; view: AuditView }) {
  const { page, view } = props;
  const a = page.t.console.audit;
  const f = formatsOf(page.t);
  const filters = { ...(view.type ? { type: view.type } : {}), ...(view.userId ? { user: view.userId } : {}) };
  const href = (extra: Record<string, string> = {}) => `/admin/audit?${new URLSearchParams({ ...filters, ...extra })}`;
  return (
    <ConsoleLayout page={page} section="audit" title={a.title}>
      <ConsoleHead title={a.title}>
        <form method="get" action="/admin/audit" class="filters">
          {view.userId ? <input type="hidden" name="user" value={view.userId} /> : null}
          <div>
            <label for="audit-type">{a.type}</label>
            <select id="audit-type" name="type">
              <option value="">{a.allTypes}</option>
              {view.types.map((type) => (
                <option value={type} selected={type === view.type}>
                  {type}
                </option>
              ))}
            </select>
          </div>
          <button type="submit">{a.filter}</button>
        </form>
      </ConsoleHead>
      <p class="lead">{a.lead}</p>
      <Notice message={view.unknownType ? a.unknownType(view.unknownType) : undefined} />
      <section class="card" aria-label={a.title}>
        <DataTable
          headers={[a.time, a.event, a.user, a.phone, a.ip, a.country, a.detail]}
          rows={view.events}
          empty={<p>{a.none}</p>}
          row={(event) => (
            <tr data-event-type={event.type}>
              <td class="nowrap">{f.dateTime(event.created_at)}</td>
              <td>
                <code>{event.type}</code>
              </td>
              <td>{event.user_id ? <a href={`/admin/users/${encodeURIComponent(event.user_id)}`}>{event.user_id.slice(0, 8)}</a> : "—"}</td>
              <td class="nowrap">{event.phone ?? "—"}</td>
              <td>{event.ip ?? "—"}</td>
              <td>{event.country ?? "—"}</td>
              <td>{event.detail ? <code>{JSON.stringify(event.detail)}</code> : "—"}</td>
            </tr>
          )}
        />
        <p class="pager">
          {view.paged ? <a href={href()}>{a.newest}</a> : null}
          {view.next ? (
            <a href={href({ cursor: view.next })} rel="next">
              {a.older}
            </a>
          ) : null}
        </p>
      </section>
    </ConsoleLayout>
  );
}
