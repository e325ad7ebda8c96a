import type { Context } from "hono";
import { Hono } from "hono";
import { deps } from "../http/deps";
import { clientInfo } from "../http/middleware";
import { ApiError, type Failure, fail, problemStatus } from "../http/problem";
import { limitPasskeyIp as countPasskeyIp } from "../limits/ip";
import { callerSql, readCaller } from "../me/service";
import {
  AddPasskeyRequest,
  asAuthenticationResponse,
  asRegistrationResponse,
  PasskeySignInRequest,
  RenamePasskeyRequest,
} from "../passkeys/schemas";
import { addPasskey, registrationOptions, removePasskey, renamePasskey } from "../passkeys/service";
import { authenticationOptions, signInWithPasskey } from "../passkeys/signin";
import { reauthenticate } from "../passwords/service";
import { asApi, type WebEnv } from "./context";
import { attempt, type FormErrors, fieldErrors, formErrors, pageStatus, readForm } from "./forms";
import { done, refuse } from "./profile";
import { renderPhone, signedIn } from "./signin";

// Passkeys on the pages, through the services the JSON API uses. The script (PASSKEY_SCRIPT)
// fetches options from the `options` endpoints (CSRF token in the form-encoded body, like every
// page post) and posts the credential back in a hidden field of an ordinary form, so sign-in,
// add, rename and remove all end in the usual redirect or refused page.

/** The relying party, or the pages' 404 when passkeys are not configured. */
function relyingParty(c: Context<WebEnv>) {
  const rp = c.get("config").webauthn;
  if (!rp) throw new ApiError(fail("not_found", { detail: "No such page." }));
  return rp;
}

/** The browser's credential JSON from the hidden field; undefined when it is missing or not JSON. */
function credentialField(value: string): unknown {
  if (!value) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** An options endpoint's refusal, for the script to show: the message in the page's language. */
function optionsRefused(c: Context<WebEnv>, failure: Failure) {
  const message = c.get("t").errors[failure.error](failure, c.get("config").PASSWORD_MIN_LENGTH);
  if (failure.retry_after !== undefined) c.header("Retry-After", String(failure.retry_after));
  return c.json({ code: failure.error, message }, problemStatus(failure.error));
}

const limitPasskeyIp = (c: Context<WebEnv>) => countPasskeyIp(asApi(c));

/** `/`'s "Sign in with a passkey": options, then the assertion as a form post. */
export const passkeySignInPages = new Hono<WebEnv>()
  .post("/passkey/options", async (c) => {
    const rp = relyingParty(c);
    const issued = await attempt(async () => {
      await limitPasskeyIp(c);
      return authenticationOptions(deps(asApi(c)), rp);
    });
    return issued.ok ? c.json(issued.value) : optionsRefused(c, issued.failure);
  })
  .post("/passkey", async (c) => {
    const rp = relyingParty(c);
    const t = c.get("t");
    const field = await readForm(c);
    const failed: FormErrors = { fields: {}, form: t.passkey.failed };
    const parsed = PasskeySignInRequest.safeParse({ response: credentialField(field("response")) });
    if (!parsed.success) return renderPhone(c, { phone: "", passkeyErrors: failed }, 422);
    const signed = await attempt(async () => {
      await limitPasskeyIp(c);
      const response = asAuthenticationResponse(parsed.data.response);
      return signInWithPasskey(deps(asApi(c)), rp, { response, client: clientInfo(c) });
    });
    if (!signed.ok) {
      const errors = signed.failure.error === "invalid_credentials" ? failed : formErrors(c, signed.failure, []);
      return renderPhone(c, { phone: "", passkeyErrors: errors }, pageStatus(c, signed.failure));
    }
    return signedIn(c, signed.value);
  });

/** `/profile`'s passkey card: add (options, then the new credential), rename, remove. */
export const passkeyProfilePages = new Hono<WebEnv>()
  .post("/profile/passkeys/options", async (c) => {
    const rp = relyingParty(c);
    const field = await readForm(c);
    const services = deps(asApi(c));
    const claims = c.get("auth");
    const issued = await attempt(async () => {
      const caller = await readCaller(services, claims);
      if ("error" in caller) return caller;
      const proven = await reauthenticate(services, claims, caller, field("current_password") || undefined);
      if ("error" in proven) return proven;
      return registrationOptions(services, rp, caller, proven.refund);
    });
    return issued.ok ? c.json(issued.value) : optionsRefused(c, issued.failure);
  })
  .post("/profile/passkeys", async (c) => {
    const rp = relyingParty(c);
    const t = c.get("t");
    const field = await readForm(c);
    const values = { name: field("name") };
    const fields = ["name", "current_password"];
    const parsed = AddPasskeyRequest.safeParse({
      response: credentialField(field("response")),
      name: values.name.trim() || undefined,
      current_password: field("current_password") || undefined,
    });
    if (!parsed.success) {
      const nameIssue = parsed.error.issues.some((issue) => issue.path[0] === "name");
      if (nameIssue) return refuse(c, "passkeys", fieldErrors(fields, { name: t.form.tooLong(64) }), values);
      return refuse(c, "passkeys", { fields: {}, form: t.passkey.addNeedsJs }, values);
    }
    const services = deps(asApi(c));
    const claims = c.get("auth");
    const added = await attempt(async () => {
      const caller = await readCaller(services, claims);
      if ("error" in caller) return caller;
      const proven = await reauthenticate(services, claims, caller, parsed.data.current_password);
      if ("error" in proven) return proven;
      return addPasskey(services, rp, {
        caller,
        callerGuard: callerSql(services.config, claims, services.now),
        response: asRegistrationResponse(parsed.data.response),
        name: parsed.data.name,
        refund: proven.refund,
      });
    });
    if (!added.ok) {
      const errors =
        added.failure.error === "validation_failed" ? { fields: {}, form: t.passkey.addFailed } : formErrors(c, added.failure, fields);
      return refuse(c, "passkeys", errors, values, pageStatus(c, added.failure));
    }
    return done(c, "passkey_added");
  })
  .post("/profile/passkeys/rename", async (c) => {
    relyingParty(c);
    const t = c.get("t");
    const field = await readForm(c);
    const id = field("id");
    const parsed = RenamePasskeyRequest.safeParse({ name: field("name") });
    if (!parsed.success || !id || id.length > 64) return refuse(c, "passkeys", { fields: {}, form: t.form.tooLong(64) });
    const services = deps(asApi(c));
    const claims = c.get("auth");
    const callerGuard = callerSql(services.config, claims, services.now);
    const renamed = await renamePasskey(services, { callerGuard, userId: claims.sub, id, name: parsed.data.name });
    if ("error" in renamed) return refuse(c, "passkeys", { fields: {}, form: t.errors.not_found({ error: "not_found" }, 0) });
    return done(c, "passkey_renamed");
  })
  .post("/profile/passkeys/remove", async (c) => {
    relyingParty(c);
    const field = await readForm(c);
    const id = field("id");
    const services = deps(asApi(c));
    const claims = c.get("auth");
    const caller = await readCaller(services, claims);
    const notFound = { fields: {}, form: c.get("t").errors.not_found({ error: "not_found" }, 0) };
    if ("error" in caller) return refuse(c, "passkeys", notFound);
    const callerGuard = callerSql(services.config, claims, services.now);
    if (!id || id.length > 64 || !(await removePasskey(services, { callerGuard, caller, id }))) return refuse(c, "passkeys", notFound);
    return done(c, "passkey_removed");
  });
