import type { AdminUserDetail } from "../../../admin/service";
import type { FormErrors } from "../../forms";
import type { PageContext } from "../../middleware";
import { CsrfField, FormAlert, Notice } from "../fields";
import { formatsOf } from "./format";
import { ConsoleHead, ConsoleLayout } from "./layout";
import { DataTable } from "./table";

type ListedUser = Omit<AdminUserDetail, "invited_by" | "sessions">;

const nameOf = (user: { first_name: string | null; last_name: string | null }) =>
  [user.first_name, user.last_name].filter(Boolean).join(" ") || "—";

/** `/admin/users`: the search form, then the matching users, newest first. */
export function UsersPage(props: { page: PageContext; q: string; users: ListedUser[]; next: string | null }) {
  const { page } = props;
  const u = page.t.console.users;
  const f = formatsOf(page.t);
  const nextHref = props.next ? `/admin/users?${new URLSearchParams({ ...(props.q ? { q: props.q } : {}), cursor: props.next })}` : null;
  return (
    <ConsoleLayout page={page} section="users" title={u.title}>
      <ConsoleHead title={u.title} />
      <p class="lead">{u.lead}</p>
      <form method="get" action="/admin/users" class="filters">
        <div>
          <label for="user-q">{u.search}</label>
          <p class="hint" id="user-q-hint">
            {u.searchHint}
          </p>
          <input id="user-q" name="q" type="search" value={props.q} maxlength={100} aria-describedby="user-q-hint" />
        </div>
        <button type="submit">{u.find}</button>
      </form>
      <section class="card" aria-label={u.title}>
        <DataTable
          headers={[u.phone, u.name, u.role, u.status, u.joined, u.lastLogin]}
          rows={props.users}
          empty={<p>{u.none}</p>}
          row={(user) => (
            <tr>
              <td>
                <a href={`/admin/users/${encodeURIComponent(user.id)}`}>{user.phone}</a>
              </td>
              <td>{nameOf(user)}</td>
              <td>{u.roles[user.role]}</td>
              <td>{user.is_active ? u.active : <strong class="flag-inline">{u.inactive}</strong>}</td>
              <td>{f.dateTime(user.created_at)}</td>
              <td>{user.last_login_at ? f.dateTime(user.last_login_at) : u.never}</td>
            </tr>
          )}
        />
        {nextHref ? (
          <p class="pager">
            <a href={nextHref} rel="next">
              {u.older}
            </a>
          </p>
        ) : null}
      </section>
    </ConsoleLayout>
  );
}

/** `/admin/users/{id}`: who the user is, then the forms that change their access. */
export function UserPage(props: { page: PageContext; user: AdminUserDetail; errors?: FormErrors; notice?: string }) {
  const { page, user } = props;
  const u = page.t.console.users;
  const f = formatsOf(page.t);
  const action = (what: string) => `/admin/users/${encodeURIComponent(user.id)}/${what}`;
  return (
    <ConsoleLayout page={page} section="users" title={user.phone}>
      <p>
        <a href="/admin/users">← {u.back}</a>
      </p>
      <ConsoleHead title={user.phone} />
      <Notice message={props.notice} />
      <FormAlert page={page} errors={props.errors} />
      <div class="grid">
        <section class="card" aria-labelledby="user-facts">
          <h2 id="user-facts">{nameOf(user)}</h2>
          <dl class="facts">
            <dt>{u.status}</dt>
            <dd>{user.is_active ? u.active : <strong class="flag-inline">{u.inactive}</strong>}</dd>
            <dt>{u.role}</dt>
            <dd>{u.roles[user.role]}</dd>
            <dt>{u.joined}</dt>
            <dd>{f.dateTime(user.created_at)}</dd>
            <dt>{u.lastLogin}</dt>
            <dd>{user.last_login_at ? f.dateTime(user.last_login_at) : u.never}</dd>
            <dt>{u.sessions}</dt>
            <dd>{f.count(user.sessions)}</dd>
            <dt>{u.password}</dt>
            <dd>{user.has_password ? u.yes : u.no}</dd>
            <dt>{u.inviteCode}</dt>
            <dd>
              <code>{user.invite_code}</code>
            </dd>
            <dt>{u.invitedBy}</dt>
            <dd>
              {user.invited_by ? (
                <a href={`/admin/users/${encodeURIComponent(user.invited_by.id)}`}>{user.invited_by.phone ?? user.invited_by.id}</a>
              ) : (
                u.nobody
              )}
            </dd>
            <dt>{u.points}</dt>
            <dd>{f.count(user.points)}</dd>
            <dt>{u.referrals}</dt>
            <dd>{f.count(user.referrals_count)}</dd>
          </dl>
          <p>
            <a href={`/admin/audit?${new URLSearchParams({ user: user.id })}`}>{u.events}</a>
          </p>
        </section>
        <section class="card" aria-labelledby="user-access">
          <h2 id="user-access">{u.accessTitle}</h2>
          <p class="meta">{u.deactivateNote}</p>
          <div class="actions">
            <form method="post" action={action("active")}>
              <CsrfField page={page} />
              <input type="hidden" name="is_active" value={user.is_active ? "0" : "1"} />
              <button type="submit" class={user.is_active ? "danger" : "secondary"}>
                {user.is_active ? u.deactivate : u.reactivate}
              </button>
            </form>
            <form method="post" action={action("role")}>
              <CsrfField page={page} />
              <input type="hidden" name="role" value={user.role === "admin" ? "user" : "admin"} />
              <button type="submit" class="secondary">
                {user.role === "admin" ? u.makeUser : u.makeAdmin}
              </button>
            </form>
          </div>
        </section>
      </div>
    </ConsoleLayout>
  );
}
