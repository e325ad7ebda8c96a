import type { PasskeyRow } from "../../passkeys/storage";
import type { FormErrors } from "../forms";
import type { PageContext } from "../middleware";
import { CsrfField, Field, FormAlert } from "./fields";

// Passkeys on the pages. WebAuthn needs JavaScript: the buttons that start a ceremony are
// `hidden` until the script (PASSKEY_SCRIPT) shows them, and the page says so where they would
// be. Renaming and removing are plain form posts.

/** "Sign in with a passkey" under the phone form on `/`; the credential is posted to `/passkey`. */
export function PasskeySignIn(props: { page: PageContext; errors?: FormErrors }) {
  const { page } = props;
  const { t } = page;
  if (!page.passkeys) return null;
  return (
    <form method="post" action="/passkey" class="card-foot" data-passkey-signin data-failed={t.passkey.failed} novalidate>
      <p class="meta">{t.passkey.signInLead}</p>
      <CsrfField page={page} />
      <input type="hidden" name="response" value="" />
      <FormAlert page={page} errors={props.errors} />
      <p class="meta" data-passkey-nojs>
        {t.passkey.needsJs}
      </p>
      <button type="button" class="secondary" hidden data-passkey-js>
        {t.passkey.signIn}
      </button>
      <p class="meta" role="status" data-passkey-status />
    </form>
  );
}

export type PasskeyItem = Pick<PasskeyRow, "id" | "name" | "created_at" | "last_used_at" | "backed_up" | "flagged_at">;

/** The profile's passkey card: the list with rename and remove, and the add form. */
export function PasskeysCard(props: {
  page: PageContext;
  passkeys: PasskeyItem[];
  hasPassword: boolean;
  /** The last sign-in is older than 300 s: adding needs the password, or a new sign-in. */
  needsReauth: boolean;
  date: (when: number) => string;
  errors?: FormErrors;
  values?: Record<string, string>;
}) {
  const { page, passkeys, date, errors } = props;
  const { t } = page;
  const blocked = props.needsReauth && !props.hasPassword;
  return (
    <section class="card" aria-labelledby="passkeys-title">
      <h2 id="passkeys-title">{t.passkey.title}</h2>
      <p class="meta">{t.passkey.lead}</p>
      {passkeys.length === 0 ? (
        <p class="meta">{t.passkey.empty}</p>
      ) : (
        <ul class="sessions">
          {passkeys.map((passkey) => (
            <li data-passkey={passkey.id}>
              <div>
                <span class="device">
                  {passkey.name}
                  {passkey.backed_up ? <span class="badge">{t.passkey.synced}</span> : null}
                </span>
                <span class="meta">
                  {t.passkey.created(date(passkey.created_at))},{" "}
                  {passkey.last_used_at ? t.passkey.lastUsed(date(passkey.last_used_at)) : t.passkey.neverUsed}
                </span>
                {passkey.flagged_at ? <p class="error">{t.passkey.flagged}</p> : null}
                {/* Tucked away: renaming is rare. A <details> opens without JavaScript too. */}
                <details>
                  <summary>{t.passkey.rename}</summary>
                  <form method="post" action="/profile/passkeys/rename" class="inline-form">
                    <CsrfField page={page} />
                    <input type="hidden" name="id" value={passkey.id} />
                    <input type="text" name="name" value={passkey.name} maxlength={64} required aria-label={t.passkey.name} />
                    <button type="submit" class="secondary">
                      {t.passkey.rename}
                    </button>
                  </form>
                </details>
              </div>
              <form method="post" action="/profile/passkeys/remove">
                <CsrfField page={page} />
                <input type="hidden" name="id" value={passkey.id} />
                <button type="submit" class="secondary">
                  {t.passkey.remove}
                </button>
              </form>
            </li>
          ))}
        </ul>
      )}
      <h3>{t.passkey.add}</h3>
      {blocked ? (
        <p class="meta" data-passkey-reauth>
          {t.passkey.reauth}
        </p>
      ) : (
        <form method="post" action="/profile/passkeys" data-passkey-add data-failed={t.passkey.addFailed} novalidate>
          <CsrfField page={page} />
          <input type="hidden" name="response" value="" />
          <FormAlert page={page} errors={errors} />
          <Field
            form="passkey"
            name="name"
            label={t.passkey.name}
            optional={t.form.optional}
            hint={t.passkey.nameHint}
            value={props.values?.name ?? ""}
            autocomplete="off"
            maxlength={64}
            errors={errors}
          />
          {props.needsReauth ? (
            <Field
              form="passkey"
              name="current_password"
              type="password"
              label={t.profile.currentPassword}
              hint={t.passkey.reauthPassword}
              autocomplete="current-password"
              required
              errors={errors}
            />
          ) : null}
          <p class="meta" data-passkey-nojs>
            {t.passkey.addNeedsJs}
          </p>
          <button type="submit" hidden data-passkey-js>
            {t.passkey.add}
          </button>
          <p class="meta" role="status" data-passkey-status />
        </form>
      )}
    </section>
  );
}
