import type { Context } from "hono";
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { channelsFor } from "../delivery/routing";
import { requestCode, signInRequest } from "../otp/requests";
import { codeField } from "../otp/schemas";
import { passwordLoginRequest } from "../passwords/requests";
import { callingCode, parsePhone } from "../phone";
import { asApi, type WebEnv } from "./context";
import { clearCookie, readCookie, writeLangCookie } from "./cookies";
import { readFlow, writeFlow } from "./flow";
import { attempt, type FormErrors, fieldErrors, formErrors, pageStatus, readForm } from "./forms";
import { isLang } from "./i18n";
import { isPagePath, pageContext } from "./middleware";
import { type SignedOutNote, storeSession } from "./session";
import { PasswordPage, PhonePage, VerifyPage } from "./views/signin";

// Phone → code → profile, and phone + password → profile. Every step calls the request function
// the JSON API calls (same parsing, captcha, IP windows, gate and limits); a refusal comes back
// as a message next to its field.

const TURNSTILE_FIELD = "cf-turnstile-response";

/** "You can leave out +375 (Belarus)" from DEFAULT_REGION, in the page's language. */
function phoneHint(c: Context<WebEnv>): string {
  const t = c.get("t");
  const region = c.get("config").DEFAULT_REGION;
  if (!region) return t.phone.hintAny;
  try {
    const country = new Intl.DisplayNames([t.dates], { type: "region" }).of(region) ?? region;
    return t.phone.hintRegion(country, callingCode(region));
  } catch {
    return t.phone.hintAny;
  }
}

const siteKey = (c: Context<WebEnv>) => {
  const config = c.get("config");
  return config.TURNSTILE_SECRET_KEY ? config.TURNSTILE_SITE_KEY : undefined;
};

const NOTES: Record<SignedOutNote, (t: WebEnv["Variables"]["t"]) => string> = {
  ended: (t) => t.phone.sessionEnded,
  reused: (t) => t.errors.token_reused({ error: "token_reused" }, 0),
  signed_out: (t) => t.phone.signedOut,
  deleted: (t) => t.profile.deleted,
};

/** The phone page; `passkeyErrors` is a refused passkey sign-in (src/web/passkeys.tsx). */
export function renderPhone(
  c: Context<WebEnv>,
  input: { phone: string; errors?: FormErrors; notice?: string; passkeyErrors?: FormErrors },
  status: ContentfulStatusCode = 200,
) {
  return c.html(<PhonePage page={pageContext(c, "/", false)} hint={phoneHint(c)} turnstileSiteKey={siteKey(c)} {...input} />, status);
}

function renderVerify(
  c: Context<WebEnv>,
  input: { inviteCode?: string; errors?: FormErrors; resendErrors?: FormErrors; notice?: string },
  status: ContentfulStatusCode = 200,
) {
  const flow = readFlow(c);
  if (!flow) return c.redirect("/", 303);
  const config = c.get("config");
  const resendIn = Math.max(0, Math.ceil((flow.sentAt + config.OTP_RESEND_SECONDS * 1000 - Date.now()) / 1000));
  return c.html(
    <VerifyPage
      page={pageContext(c, "/verify", false)}
      phone={flow.phone}
      codeLength={flow.codeLength}
      resendIn={resendIn}
      devCode={config.sandbox ? flow.devCode : undefined}
      inviteCode={input.inviteCode ?? ""}
      errors={input.errors}
      resendErrors={input.resendErrors}
      notice={input.notice}
      turnstileSiteKey={siteKey(c)}
      otherChannels={otherChannels(c, flow.phone)}
    />,
    status,
  );
}

const OTHER_CHANNELS = ["whatsapp", "telegram", "voice"] as const;
type OtherChannel = (typeof OTHER_CHANNELS)[number];
const isOtherChannel = (value: string): value is OtherChannel => (OTHER_CHANNELS as readonly string[]).includes(value);

/** The channels besides SMS that this number's route offers. */
function otherChannels(c: Context<WebEnv>, phone: string): OtherChannel[] {
  return channelsFor(c.get("config").delivery.routes, parsePhone(phone)?.country).filter(isOtherChannel);
}

function renderPassword(c: Context<WebEnv>, input: { phone: string; errors?: FormErrors }, status: ContentfulStatusCode = 200) {
  return c.html(<PasswordPage page={pageContext(c, "/password", false)} hint={phoneHint(c)} {...input} />, status);
}

/** After a sign-in: the session into the cookies, the flow out, on to the profile. */
export function signedIn(c: Context<WebEnv>, tokens: Parameters<typeof storeSession>[1]) {
  storeSession(c, tokens);
  clearCookie(c, "flow");
  return c.redirect("/profile", 303);
}

export const signInPages = new Hono<WebEnv>()
  .get("/", (c) => {
    if (readCookie(c, "session")) return c.redirect("/profile", 303);
    const note = c.req.query("notice");
    const notice = note && Object.hasOwn(NOTES, note) ? NOTES[note as SignedOutNote](c.get("t")) : undefined;
    return renderPhone(c, { phone: readFlow(c)?.phone ?? "", notice });
  })
  .post("/", async (c) => {
    const field = await readForm(c);
    const phone = field("phone").trim();
    if (!phone) return renderPhone(c, { phone, errors: fieldErrors(["phone"], { phone: c.get("t").form.required }) }, 422);
    const sent = await attempt(() =>
      requestCode(asApi(c), { phone, purpose: "login", locale: c.get("lang"), turnstileToken: field(TURNSTILE_FIELD) || undefined }),
    );
    if (!sent.ok) return renderPhone(c, { phone, errors: formErrors(c, sent.failure, ["phone"]) }, pageStatus(c, sent.failure));
    writeFlow(c, { phone: sent.value.phone, sentAt: Date.now(), codeLength: sent.value.code_length, devCode: sent.value.dev_code });
    return c.redirect("/verify", 303);
  })
  .get("/verify", (c) => {
    const resent = c.req.query("resent") ?? "";
    const t = c.get("t").verify;
    return renderVerify(c, { notice: isOtherChannel(resent) ? t.resentBy[resent] : resent ? t.resent : undefined });
  })
  .post("/verify", async (c) => {
    const flow = readFlow(c);
    if (!flow) return c.redirect("/", 303);
    const t = c.get("t");
    const field = await readForm(c);
    const code = field("code").replace(/\s+/g, "");
    const inviteCode = field("invite_code").trim();
    const codeFormat = t.verify.codeFormat(flow.codeLength);
    if (!codeField.safeParse(code).success) {
      return renderVerify(c, { inviteCode, errors: fieldErrors(["code"], { code: code ? codeFormat : t.form.required }) }, 422);
    }
    const signed = await attempt(() => signInRequest(asApi(c), { phone: flow.phone, code, inviteCode: inviteCode || undefined }));
    if (!signed.ok) {
      const errors = formErrors(c, signed.failure, ["code", "invite_code"], { code: codeFormat });
      return renderVerify(c, { inviteCode, errors }, pageStatus(c, signed.failure));
    }
    return signedIn(c, signed.value);
  })
  .post("/resend", async (c) => {
    const flow = readFlow(c);
    if (!flow) return c.redirect("/", 303);
    const field = await readForm(c);
    // "Send by WhatsApp / Telegram / call me" post the channel; the plain resend button posts none.
    const asked = field("channel");
    const channel = isOtherChannel(asked) && otherChannels(c, flow.phone).includes(asked) ? asked : undefined;
    const sent = await attempt(() =>
      requestCode(asApi(c), {
        phone: flow.phone,
        purpose: "login",
        channel,
        locale: c.get("lang"),
        turnstileToken: field(TURNSTILE_FIELD) || undefined,
      }),
    );
    if (!sent.ok) return renderVerify(c, { resendErrors: formErrors(c, sent.failure, []) }, pageStatus(c, sent.failure));
    writeFlow(c, { phone: sent.value.phone, sentAt: Date.now(), codeLength: sent.value.code_length, devCode: sent.value.dev_code });
    return c.redirect(`/verify?resent=${sent.value.channel === "sms" ? "1" : sent.value.channel}`, 303);
  })
  .get("/password", (c) => {
    if (readCookie(c, "session")) return c.redirect("/profile", 303);
    return renderPassword(c, { phone: readFlow(c)?.phone ?? "" });
  })
  .post("/password", async (c) => {
    const t = c.get("t");
    const field = await readForm(c);
    const phone = field("phone").trim();
    const password = field("password");
    const fields = ["phone", "password"];
    const missing = Object.fromEntries(
      Object.entries({ phone, password })
        .filter(([, value]) => !value)
        .map(([name]) => [name, t.form.required]),
    );
    if (Object.keys(missing).length > 0) return renderPassword(c, { phone, errors: fieldErrors(fields, missing) }, 422);
    const signed = await attempt(() => passwordLoginRequest(asApi(c), { phone, password }));
    if (!signed.ok) return renderPassword(c, { phone, errors: formErrors(c, signed.failure, fields) }, pageStatus(c, signed.failure));
    return signedIn(c, signed.value);
  })
  .get("/lang", (c) => {
    const to = c.req.query("to");
    if (isLang(to)) writeLangCookie(c, to);
    const next = c.req.query("next");
    return c.redirect(isPagePath(next) ? next : "/", 303);
  });
