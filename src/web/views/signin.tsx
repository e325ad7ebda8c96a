import { raw } from "hono/html";
import { formatPhone } from "../../phone";
import type { FormErrors } from "../forms";
import type { PageContext } from "../middleware";
import { CsrfField, Field, FormAlert, Notice } from "./fields";
import { Layout } from "./layout";
import { PasskeySignIn } from "./passkeys";

const TURNSTILE_SCRIPT = "https://challenges.cloudflare.com/turnstile/v0/api.js";

/** The Turnstile widget, when the captcha is on (the contract: that step then needs JavaScript). */
function Captcha(props: { page: PageContext; siteKey?: string }) {
  if (!props.siteKey) return null;
  return (
    <div class="field">
      <p class="hint">{props.page.t.phone.captcha}</p>
      <div class="cf-turnstile" data-sitekey={props.siteKey} />
      <script nonce={props.page.nonce} src={TURNSTILE_SCRIPT} async defer>
        {raw("")}
      </script>
    </div>
  );
}

export function PhonePage(props: {
  page: PageContext;
  phone: string;
  hint: string;
  errors?: FormErrors;
  notice?: string;
  turnstileSiteKey?: string;
  passkeyErrors?: FormErrors;
}) {
  const { page } = props;
  const { t } = page;
  return (
    <Layout page={page} title={t.phone.title}>
      <section class="narrow card" aria-labelledby="phone-title">
        <h1 id="phone-title">{t.phone.title}</h1>
        <p class="lead">{t.phone.lead}</p>
        <Notice message={props.notice} />
        <form method="post" action="/" novalidate>
          <CsrfField page={page} />
          <FormAlert page={page} errors={props.errors} />
          <Field
            form="signin"
            name="phone"
            type="tel"
            label={t.phone.label}
            hint={props.hint}
            value={props.phone}
            // `webauthn`: the browser may offer passkeys in this field's autofill (conditional mediation).
            autocomplete={page.passkeys ? "username webauthn" : "tel"}
            inputmode="tel"
            required
            maxlength={64}
            errors={props.errors ?? { fields: {}, focus: "phone" }}
          />
          <Captcha page={page} siteKey={props.turnstileSiteKey} />
          <div class="actions">
            <button type="submit">{t.phone.submit}</button>
            <a href="/password">{t.phone.passwordLink}</a>
          </div>
        </form>
        <PasskeySignIn page={page} errors={props.passkeyErrors} />
      </section>
    </Layout>
  );
}

export function PasswordPage(props: { page: PageContext; phone: string; hint: string; errors?: FormErrors }) {
  const { page } = props;
  const { t } = page;
  return (
    <Layout page={page} title={t.password.title}>
      <section class="narrow card" aria-labelledby="password-title">
        <h1 id="password-title">{t.password.title}</h1>
        <p class="lead">{t.password.lead}</p>
        <form method="post" action="/password" novalidate>
          <CsrfField page={page} />
          <FormAlert page={page} errors={props.errors} />
          <Field
            form="login"
            name="phone"
            type="tel"
            label={t.password.phone}
            hint={props.hint}
            value={props.phone}
            autocomplete="username"
            inputmode="tel"
            required
            maxlength={64}
            errors={props.errors}
          />
          <Field
            form="login"
            name="password"
            type="password"
            label={t.password.password}
            autocomplete="current-password"
            required
            errors={props.errors}
          />
          <div class="actions">
            <button type="submit">{t.password.submit}</button>
            <a href="/">{t.password.codeLink}</a>
          </div>
        </form>
      </section>
    </Layout>
  );
}

export function VerifyPage(props: {
  page: PageContext;
  phone: string;
  codeLength: number;
  /** Seconds until a new code may be asked for. */
  resendIn: number;
  /** Development sandbox only: the code the "SMS" carried. */
  devCode?: string;
  inviteCode: string;
  errors?: FormErrors;
  resendErrors?: FormErrors;
  notice?: string;
  turnstileSiteKey?: string;
  /** The other channels this number's route can use (only configured ones are offered). */
  otherChannels: ("whatsapp" | "telegram" | "voice")[];
}) {
  const { page } = props;
  const { t } = page;
  const waitNote = props.resendIn > 0 ? t.verify.resendWait(String(props.resendIn)) : t.verify.resendReady;
  return (
    <Layout page={page} title={t.verify.title}>
      <section class="narrow card" aria-labelledby="verify-title">
        <h1 id="verify-title">{t.verify.title}</h1>
        <p class="lead">
          {t.verify.lead} <span class="nowrap">{formatPhone(props.phone)}</span>. <a href="/">{t.verify.change}</a>
        </p>
        <Notice message={props.notice} />
        {props.devCode ? (
          <aside class="sandbox" aria-label={t.verify.sandboxTitle}>
            <p class="label">{t.verify.sandboxTitle}</p>
            <p>
              {t.verify.sandboxText}
              <strong data-dev-code>{props.devCode}</strong>
            </p>
          </aside>
        ) : null}
        <form method="post" action="/verify" novalidate>
          <CsrfField page={page} />
          <FormAlert page={page} errors={props.errors} />
          <Field
            form="verify"
            name="code"
            class="code"
            label={t.verify.code}
            hint={t.verify.codeHint(props.codeLength)}
            autocomplete="one-time-code"
            inputmode="numeric"
            required
            maxlength={props.codeLength + 4}
            spellcheck={false}
            errors={props.errors ?? { fields: {}, focus: "code" }}
          />
          {/* Most people have no invite code: tucked away, and open when it needs attention. */}
          <details open={Boolean(props.inviteCode || props.errors?.fields.invite_code)}>
            <summary>{t.verify.inviteToggle}</summary>
            <Field
              form="verify"
              name="invite_code"
              label={t.verify.invite}
              optional={t.form.optional}
              hint={t.verify.inviteHint}
              value={props.inviteCode}
              autocomplete="off"
              autocapitalize="characters"
              spellcheck={false}
              maxlength={32}
              errors={props.errors}
            />
          </details>
          <div class="actions">
            <button type="submit">{t.verify.submit}</button>
          </div>
        </form>
        <form method="post" action="/resend" class="card-foot" novalidate>
          <CsrfField page={page} />
          <FormAlert page={page} errors={props.resendErrors} />
          <p
            class="meta"
            id="resend-note"
            data-countdown={String(props.resendIn)}
            data-button="resend-button"
            data-wait={t.verify.resendWait("{s}")}
            data-ready={t.verify.resendReady}
          >
            {waitNote}
          </p>
          <Captcha page={page} siteKey={props.turnstileSiteKey} />
          <button type="submit" class="secondary" id="resend-button">
            {t.verify.resend}
          </button>
          {props.otherChannels.length > 0 ? (
            <div class="meta other-channels">
              <p>{t.verify.otherChannels}</p>
              {/* Plain submit buttons of the same form: the same CSRF token, captcha and limits, no script needed. */}
              {props.otherChannels.map((channel) => (
                <button type="submit" class="secondary" name="channel" value={channel} data-channel={channel}>
                  {t.verify.sendBy[channel]}
                </button>
              ))}
            </div>
          ) : null}
        </form>
      </section>
    </Layout>
  );
}
