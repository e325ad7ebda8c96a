import type { SessionRow } from "../../me/service";
import { formatPhone } from "../../phone";
import type { ReferralItem } from "../../referrals/list";
import type { User } from "../../users/profile";
import type { FormErrors } from "../forms";
import type { PageContext } from "../middleware";
import { CsrfField, Field, FormAlert, Notice } from "./fields";
import { Layout } from "./layout";
import { type PasskeyItem, PasskeysCard } from "./passkeys";

export type ProfileForm = "details" | "invite" | "password" | "sessions" | "delete" | "passkeys";

/** The profile page's data, and the one form that was just refused (with what was typed). */
export type ProfileView = {
  user: User;
  referrals: { items: ReferralItem[]; next_cursor: string | null };
  /** The referral page shown (a cursor), when not the newest. */
  after?: string;
  sessions: (SessionRow & { current: boolean })[];
  /** Null when passkeys are not configured. */
  passkeys: PasskeyItem[] | null;
  /** The last sign-in is older than the reauthentication window (300 s). */
  needsReauth: boolean;
  notice?: string;
  refused?: { form: ProfileForm; errors: FormErrors; values: Record<string, string> };
};

/** A field's error shown for the whole form (when that field is not on the page). */
const asFormLevel = (errors?: FormErrors): FormErrors | undefined =>
  errors && { fields: {}, form: errors.form ?? Object.values(errors.fields).find(Boolean) };

function dateFormat(page: PageContext) {
  const format = new Intl.DateTimeFormat(page.t.dates, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });
  return (when: string | number) => `${format.format(new Date(when))} UTC`;
}

/** "Chrome · Linux" from a User-Agent, or the start of it. */
function deviceName(userAgent: string | null): string | null {
  if (!userAgent) return null;
  const browser = [
    [/Edg\//, "Edge"],
    [/OPR\//, "Opera"],
    [/Firefox\//, "Firefox"],
    [/Chrome\//, "Chrome"],
    [/Safari\//, "Safari"],
  ].find(([pattern]) => (pattern as RegExp).test(userAgent))?.[1] as string | undefined;
  const system = [
    [/Android/, "Android"],
    [/iPhone|iPad/, "iOS"],
    [/Windows/, "Windows"],
    [/Mac OS X/, "macOS"],
    [/Linux/, "Linux"],
  ].find(([pattern]) => (pattern as RegExp).test(userAgent))?.[1] as string | undefined;
  return browser && system ? `${browser} · ${system}` : (browser ?? system ?? userAgent.slice(0, 60));
}

export function ProfilePage(props: { page: PageContext; view: ProfileView }) {
  const { page, view } = props;
  const { t } = page;
  const { user } = view;
  const date = dateFormat(page);
  const refused = (form: ProfileForm) => (view.refused?.form === form ? view.refused : undefined);
  const details = refused("details");
  const name = [user.first_name, user.last_name].filter(Boolean).join(" ") || null;
  return (
    <Layout page={page} title={t.profile.title}>
      <div class="profile-head">
        <div>
          <h1>{t.profile.welcome(name)}</h1>
          <p class="meta">
            {t.profile.phone}:{" "}
            <span class="nowrap" data-phone={user.phone}>
              {formatPhone(user.phone)}
            </span>{" "}
            · {t.profile.memberSince(date(user.created_at))}
          </p>
          {user.role === "admin" ? (
            <p>
              <a href="/admin" data-console-link>
                {t.console.title}
              </a>
            </p>
          ) : null}
        </div>
      </div>
      <Notice message={view.notice} />

      <div class="grid">
        <section class="card" aria-labelledby="details-title">
          <h2 id="details-title">{t.profile.details}</h2>
          <form method="post" action="/profile" novalidate>
            <CsrfField page={page} />
            <FormAlert page={page} errors={details?.errors} />
            <Field
              form="details"
              name="first_name"
              label={t.profile.firstName}
              value={details?.values.first_name ?? user.first_name ?? ""}
              autocomplete="given-name"
              maxlength={64}
              errors={details?.errors}
            />
            <Field
              form="details"
              name="last_name"
              label={t.profile.lastName}
              value={details?.values.last_name ?? user.last_name ?? ""}
              autocomplete="family-name"
              maxlength={64}
              errors={details?.errors}
            />
            <Field
              form="details"
              name="email"
              type="email"
              label={t.profile.email}
              optional={t.form.optional}
              value={details?.values.email ?? user.email ?? ""}
              autocomplete="email"
              inputmode="email"
              maxlength={254}
              errors={details?.errors}
            />
            <button type="submit">{t.profile.save}</button>
          </form>
        </section>

        <section class="card" aria-labelledby="invite-title">
          <h2 id="invite-title">{t.profile.inviteTitle}</h2>
          <p class="meta">{t.profile.inviteLead}</p>
          <label for="own-invite-code">{t.profile.yourCode}</label>
          <div class="copy">
            <input id="own-invite-code" type="text" readonly value={user.invite_code} data-invite-code />
            <button
              type="button"
              class="secondary"
              hidden
              data-copy="own-invite-code"
              data-status="copy-status"
              data-done={t.profile.copied}
            >
              {t.profile.copy}
            </button>
          </div>
          <p class="meta" id="copy-status" role="status" />
          <h3 id="activate-title">{t.profile.activateTitle}</h3>
          {user.activated_invite_code ? (
            <>
              <FormAlert page={page} errors={asFormLevel(refused("invite")?.errors)} />
              <p data-activated>{t.profile.activatedWith(user.activated_invite_code)}</p>
            </>
          ) : (
            <form method="post" action="/profile/invite" novalidate aria-labelledby="activate-title">
              <p class="meta">{t.profile.activateLead}</p>
              <CsrfField page={page} />
              <FormAlert page={page} errors={refused("invite")?.errors} />
              <Field
                form="invite"
                name="invite_code"
                label={t.profile.activateField}
                value={refused("invite")?.values.invite_code ?? ""}
                autocomplete="off"
                autocapitalize="characters"
                spellcheck={false}
                maxlength={32}
                required
                errors={refused("invite")?.errors}
              />
              <button type="submit">{t.profile.activate}</button>
            </form>
          )}
        </section>
      </div>

      <section class="card" aria-labelledby="referrals-title">
        <h2 id="referrals-title">{t.profile.statsTitle}</h2>
        <dl class="stats">
          <div>
            <dt>{t.profile.points}</dt>
            <dd data-points>{user.points}</dd>
          </div>
          <div>
            <dt>{t.profile.direct}</dt>
            <dd data-level1>{user.referral_tree.level_1}</dd>
          </div>
          <div>
            <dt>{t.profile.second}</dt>
            <dd>{user.referral_tree.level_2}</dd>
          </div>
          <div>
            <dt>{t.profile.network}</dt>
            <dd>{user.referral_tree.total_network}</dd>
          </div>
        </dl>
        <h3>{t.profile.listTitle}</h3>
        {view.referrals.items.length === 0 && !view.after ? (
          <p class="meta">{t.profile.listEmpty}</p>
        ) : (
          <div class="table">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t.profile.listPhone}</th>
                  <th scope="col">{t.profile.listJoined}</th>
                  <th scope="col">{t.profile.listStatus}</th>
                </tr>
              </thead>
              <tbody>
                {view.referrals.items.map((item) => (
                  <tr data-referral>
                    <td>{item.phone ?? t.profile.deletedPhone}</td>
                    <td>{date(item.joined_at)}</td>
                    <td>{t.profile.status[item.status]}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {view.after || view.referrals.next_cursor ? (
          <p class="actions">
            {view.after ? <a href="/profile#referrals-title">{t.profile.newest}</a> : null}
            {view.referrals.next_cursor ? (
              <a href={`/profile?after=${encodeURIComponent(view.referrals.next_cursor)}#referrals-title`}>{t.profile.older}</a>
            ) : null}
          </p>
        ) : null}
      </section>

      <div class="grid">
        <PasswordCard page={page} phone={user.phone} hasPassword={user.has_password} errors={refused("password")?.errors} />

        <section class="card" aria-labelledby="sessions-title">
          <h2 id="sessions-title">{t.profile.sessionsTitle}</h2>
          <FormAlert page={page} errors={refused("sessions")?.errors} />
          <ul class="sessions">
            {view.sessions.map((session) => (
              <li data-session={session.current ? "current" : "other"}>
                <div>
                  <span class="device" title={session.user_agent ?? undefined}>
                    {deviceName(session.user_agent) ?? t.profile.unknownDevice}
                    {session.country ? ` · ${session.country}` : ""}
                    {session.current ? <span class="badge">{t.profile.sessionCurrent}</span> : null}
                  </span>
                  <span class="meta">
                    {t.profile.sessionStarted(date(session.created_at))}, {t.profile.sessionUsed(date(session.last_used_at))}
                  </span>
                </div>
                <form method="post" action={session.current ? "/logout" : "/profile/sessions/revoke"}>
                  <CsrfField page={page} />
                  {session.current ? null : <input type="hidden" name="session" value={session.id} />}
                  <button type="submit" class="secondary">
                    {session.current ? t.profile.logOut : t.profile.revoke}
                  </button>
                </form>
              </li>
            ))}
          </ul>
        </section>
      </div>

      {view.passkeys ? (
        <PasskeysCard
          page={page}
          passkeys={view.passkeys}
          hasPassword={user.has_password}
          needsReauth={view.needsReauth}
          date={date}
          errors={refused("passkeys")?.errors}
          values={refused("passkeys")?.values}
        />
      ) : null}

      <DeleteCard page={page} hasPassword={user.has_password} errors={refused("delete")?.errors} />
    </Layout>
  );
}

function PasswordCard(props: { page: PageContext; phone: string; hasPassword: boolean; errors?: FormErrors }) {
  const { page, hasPassword, errors } = props;
  const { t } = page;
  return (
    <section class="card" aria-labelledby="password-title">
      <h2 id="password-title">{t.profile.passwordTitle}</h2>
      <p class="meta">{hasPassword ? t.profile.passwordLeadChange : t.profile.passwordLeadNew}</p>
      <form method="post" action="/profile/password" novalidate>
        <CsrfField page={page} />
        <FormAlert page={page} errors={errors} />
        {/* Tells password managers which account the new password belongs to. */}
        <input type="text" name="username" autocomplete="username" value={props.phone} hidden readonly />
        {hasPassword ? (
          <Field
            form="password"
            name="current_password"
            type="password"
            label={t.profile.currentPassword}
            autocomplete="current-password"
            required
            errors={errors}
          />
        ) : null}
        <Field
          form="password"
          name="new_password"
          type="password"
          label={t.profile.newPassword}
          hint={t.profile.newPasswordHint(page.passwordMinLength)}
          autocomplete="new-password"
          required
          errors={errors}
        />
        <button type="submit">{hasPassword ? t.profile.changePassword : t.profile.setPassword}</button>
      </form>
    </section>
  );
}

function DeleteCard(props: { page: PageContext; hasPassword: boolean; errors?: FormErrors }) {
  const { page, hasPassword, errors } = props;
  const { t } = page;
  const confirmError = errors?.fields.confirm;
  return (
    <section class="card danger-zone" aria-labelledby="delete-title">
      <h2 id="delete-title">{t.profile.deleteTitle}</h2>
      <p class="meta">{t.profile.deleteLead}</p>
      <form method="post" action="/profile/delete" novalidate>
        <CsrfField page={page} />
        <FormAlert page={page} errors={errors} />
        {confirmError ? (
          <p class="error" id="delete-confirm-error">
            {confirmError}
          </p>
        ) : null}
        <div class="field">
          <label class="check" for="delete-confirm">
            <input
              id="delete-confirm"
              type="checkbox"
              name="confirm"
              value="yes"
              required
              aria-invalid={confirmError ? "true" : undefined}
              aria-describedby={confirmError ? "delete-confirm-error" : undefined}
              autofocus={errors?.focus === "confirm"}
            />
            <span>{t.profile.deleteConfirm}</span>
          </label>
        </div>
        {hasPassword ? (
          <Field
            form="delete"
            name="current_password"
            type="password"
            label={t.profile.deletePassword}
            optional={t.form.optional}
            autocomplete="current-password"
            errors={errors}
          />
        ) : null}
        <button type="submit" class="danger">
          {t.profile.delete}
        </button>
      </form>
    </section>
  );
}
