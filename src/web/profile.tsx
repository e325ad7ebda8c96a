import type { Context } from "hono";
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { cursorParam } from "../db/cursor";
import { deps } from "../http/deps";
import { callerSql, deleteAccount, listSessions, readCaller, readProfile, revokeOwnSession, updateProfile } from "../me/service";
import { listPasskeys } from "../passkeys/service";
import { changePassword, REAUTH_SECONDS, reauthenticate } from "../passwords/service";
import { parsePhone } from "../phone";
import { limitUser } from "../ratelimit/user";
import { listReferrals } from "../referrals/list";
import { activateInvite } from "../referrals/service";
import { revokeByRefreshToken } from "../tokens/sessions";
import { toUser } from "../users/profile";
import { ProfilePatchSchema } from "../users/schemas";
import { asApi, type WebEnv } from "./context";
import { readCookie } from "./cookies";
import { attempt, type FormErrors, fieldErrors, formErrors, pageStatus, readForm } from "./forms";
import { pageContext } from "./middleware";
import { signedOut } from "./session";
import { type ProfileForm, ProfilePage, type ProfileView } from "./views/profile";

// The profile page and its forms. Each form calls the service its `/v1/me*` route calls, with
// claims from the web session (`requireWebSession`), then redirects back (POST/redirect/GET) with
// a note, or shows the page again with the refusal next to the field.

const REFERRALS_PER_PAGE = 20;

const NOTES = ["details", "invite", "password", "session", "passkey_added", "passkey_renamed", "passkey_removed"] as const;
type Note = (typeof NOTES)[number];

function noteText(c: Context<WebEnv>, note: string | undefined): string | undefined {
  const { profile: t, passkey } = c.get("t");
  const texts: Record<Note, string> = {
    details: t.saved,
    invite: t.activated,
    password: t.passwordSaved,
    session: t.revoked,
    passkey_added: passkey.added,
    passkey_renamed: passkey.renamed,
    passkey_removed: passkey.removed,
  };
  return (NOTES as readonly string[]).includes(note ?? "") ? texts[note as Note] : undefined;
}

/** Reads everything the page shows; a dead session (revoked elsewhere) signs this browser out. */
async function renderProfile(c: Context<WebEnv>, refused?: ProfileView["refused"], status: ContentfulStatusCode = 200) {
  const services = deps(asApi(c));
  const { config, db, now } = services;
  const claims = c.get("auth");
  const after = c.req.query("after");
  const cursor = after ? cursorParam(after) : undefined;
  const validCursor = cursor && !("error" in cursor) ? cursor : undefined;
  const [row, referrals, sessions, passkeys] = await Promise.all([
    readProfile(db, config, claims, now),
    listReferrals(db, {
      callerId: claims.sub,
      callerGuard: callerSql(config, claims, now),
      limit: REFERRALS_PER_PAGE,
      cursor: validCursor,
    }),
    listSessions(db, config, claims, now),
    config.webauthn ? listPasskeys(services, callerSql(config, claims, now), claims.sub) : null,
  ]);
  if (!row || !referrals || !sessions) return signedOut(c, "ended");
  const view: ProfileView = {
    user: toUser(row),
    referrals,
    after: validCursor ? after : undefined,
    sessions: sessions.map((session) => ({ ...session, current: session.id === claims.sid })),
    passkeys,
    needsReauth: now / 1000 - claims.auth_time > REAUTH_SECONDS,
    notice: refused ? undefined : noteText(c, c.req.query("done")),
    refused,
  };
  return c.html(<ProfilePage page={pageContext(c, "/profile", true)} view={view} />, status);
}

/** POST/redirect/GET: back to the profile with a note. */
export const done = (c: Context<WebEnv>, note: Note) => c.redirect(`/profile?done=${note}`, 303);

/** The profile again, with `form` refused (what was typed kept in `values`). */
export function refuse(
  c: Context<WebEnv>,
  form: ProfileForm,
  errors: FormErrors,
  values: Record<string, string> = {},
  status: ContentfulStatusCode = 422,
) {
  return renderProfile(c, { form, errors, values }, status);
}

export const profilePages = new Hono<WebEnv>()
  .get("/profile", (c) => renderProfile(c))
  .post("/profile", async (c) => {
    const t = c.get("t");
    const field = await readForm(c);
    const values = { first_name: field("first_name"), last_name: field("last_name"), email: field("email") };
    const fields = Object.keys(values);
    // A form always sends every field: an emptied one clears it (null), as in PATCH /v1/me.
    const patch = Object.fromEntries(Object.entries(values).map(([name, value]) => [name, value.trim() === "" ? null : value.trim()]));
    const parsed = ProfilePatchSchema.safeParse(patch);
    if (!parsed.success) {
      const messages: Record<string, string> = {};
      for (const issue of parsed.error.issues) {
        const name = String(issue.path[0]);
        messages[name] ??=
          issue.code === "too_big"
            ? t.form.tooLong(Number(issue.maximum))
            : name === "email"
              ? t.form.invalidEmail
              : t.errors.validation_failed({ error: "validation_failed" }, 0);
      }
      return refuse(c, "details", fieldErrors(fields, messages), values);
    }
    const { config, db, now } = deps(asApi(c));
    const row = await updateProfile(db, config, c.get("auth"), parsed.data, now);
    if (!row) return signedOut(c, "ended");
    return done(c, "details");
  })
  .post("/profile/invite", async (c) => {
    const field = await readForm(c);
    const values = { invite_code: field("invite_code") };
    if (!values.invite_code.trim())
      return refuse(c, "invite", fieldErrors(["invite_code"], { invite_code: c.get("t").form.required }), values);
    const services = deps(asApi(c));
    const claims = c.get("auth");
    const activated = await attempt(async () => {
      // The same per-user limit as POST /v1/me/invite.
      await limitUser(asApi(c), "INVITE_LIMITER");
      return activateInvite(services, {
        callerId: claims.sub,
        callerGuard: callerSql(services.config, claims, services.now),
        rawCode: values.invite_code,
      });
    });
    if (!activated.ok)
      return refuse(c, "invite", formErrors(c, activated.failure, ["invite_code"]), values, pageStatus(c, activated.failure));
    if (activated.value === null) return signedOut(c, "ended");
    return done(c, "invite");
  })
  .post("/profile/password", async (c) => {
    const t = c.get("t");
    const field = await readForm(c);
    const services = deps(asApi(c));
    const claims = c.get("auth");
    const caller = await readCaller(services, claims);
    const phone = "error" in caller ? null : parsePhone(caller.phone);
    if ("error" in caller || !phone) return signedOut(c, "ended");
    const fields = caller.password_hash ? ["current_password", "new_password"] : ["new_password"];
    const newPassword = field("new_password");
    const currentPassword = field("current_password");
    const missing: Record<string, string> = {};
    if (caller.password_hash && !currentPassword) missing.current_password = t.form.required;
    if (!newPassword) missing.new_password = t.form.required;
    if (Object.keys(missing).length > 0) return refuse(c, "password", fieldErrors(fields, missing));
    const changed = await attempt(() =>
      changePassword(services, {
        claims,
        caller,
        callerGuard: callerSql(services.config, claims, services.now),
        phone,
        newPassword,
        currentPassword: caller.password_hash ? currentPassword : undefined,
      }),
    );
    if (!changed.ok) return refuse(c, "password", formErrors(c, changed.failure, fields), {}, pageStatus(c, changed.failure));
    if (changed.value === null) return signedOut(c, "ended");
    return done(c, "password");
  })
  .post("/profile/sessions/revoke", async (c) => {
    const field = await readForm(c);
    const claims = c.get("auth");
    const id = field("session");
    if (!id || id.length > 64) return refuse(c, "sessions", { fields: {}, form: c.get("t").errors.not_found({ error: "not_found" }, 0) });
    const outcome = await revokeOwnSession(deps(asApi(c)), claims, id);
    if (outcome === "unauthorized") return signedOut(c, "ended");
    if (id === claims.sid) return signedOut(c, "signed_out");
    return done(c, "session");
  })
  .post("/profile/delete", async (c) => {
    const t = c.get("t");
    const field = await readForm(c);
    const services = deps(asApi(c));
    const claims = c.get("auth");
    const caller = await readCaller(services, claims);
    if ("error" in caller) return signedOut(c, "ended");
    const fields = caller.password_hash ? ["confirm", "current_password"] : ["confirm"];
    if (field("confirm") !== "yes") return refuse(c, "delete", fieldErrors(fields, { confirm: t.profile.deleteConfirmMissing }));
    const currentPassword = field("current_password") || undefined;
    const proven = await attempt(() => reauthenticate(services, claims, caller, currentPassword));
    if (!proven.ok) return refuse(c, "delete", formErrors(c, proven.failure, fields), {}, pageStatus(c, proven.failure));
    if (!(await deleteAccount(services, claims, caller.phone, proven.value.refund))) return signedOut(c, "ended");
    return signedOut(c, "deleted");
  });

/** Log out: revokes the session of the refresh cookie (like POST /v1/auth/logout) and forgets it. */
export const logoutPage = new Hono<WebEnv>().post("/logout", async (c) => {
  const refresh = readCookie(c, "session");
  if (refresh) await revokeByRefreshToken(deps(asApi(c)), refresh);
  return signedOut(c, "signed_out");
});
