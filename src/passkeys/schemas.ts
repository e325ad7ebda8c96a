import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { z } from "../http/openapi";

// The browser's PublicKeyCredential as JSON (WebAuthn L3 `toJSON()`, or @simplewebauthn/browser).
// Only the envelope is checked here; @simplewebauthn/server verifies everything inside.

const base64urlField = (max: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]*$/, "must be base64url")
    .max(max);

const credentialEnvelope = {
  id: base64urlField(1024),
  rawId: base64urlField(1024),
  type: z.literal("public-key"),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
  clientExtensionResults: z.looseObject({}).default({}),
};

const RegistrationCredential = z
  .looseObject({
    ...credentialEnvelope,
    response: z.looseObject({
      clientDataJSON: base64urlField(4096),
      attestationObject: base64urlField(8192),
      transports: z.array(z.string().max(32)).max(8).optional(),
    }),
  })
  .openapi("PasskeyRegistrationCredential", { description: "The new credential as `PublicKeyCredential.toJSON()` gives it." });

const AuthenticationCredential = z
  .looseObject({
    ...credentialEnvelope,
    response: z.looseObject({
      clientDataJSON: base64urlField(4096),
      authenticatorData: base64urlField(4096),
      signature: base64urlField(1024),
      userHandle: base64urlField(1024).optional(),
    }),
  })
  .openapi("PasskeyAssertion", { description: "The assertion as `PublicKeyCredential.toJSON()` gives it." });

const nameField = z.string().trim().min(1).max(64).openapi({ description: "A label the owner chooses.", example: "Work laptop" });
const currentPassword = z
  .string()
  .min(1)
  .max(1024)
  .optional()
  .openapi({ description: "Needed when the last sign-in is older than 300 s and the account has a password." });

export const RegistrationOptionsRequest = z.object({ current_password: currentPassword }).openapi("PasskeyRegistrationOptionsRequest");

export const AddPasskeyRequest = z
  .object({ response: RegistrationCredential, name: nameField.optional(), current_password: currentPassword })
  .openapi("AddPasskeyRequest");

export const RenamePasskeyRequest = z.object({ name: nameField }).openapi("RenamePasskeyRequest");

export const PasskeySignInRequest = z.object({ response: AuthenticationCredential }).openapi("PasskeySignInRequest");

export const PasskeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    created_at: z.string(),
    last_used_at: z.string().nullable(),
    backed_up: z.boolean().openapi({ description: "Synced by its provider (a multi-device passkey)." }),
  })
  .openapi("Passkey");

export const PasskeyList = z.object({ items: z.array(PasskeySchema) }).openapi("PasskeyList");

export const CreationOptions = z
  .looseObject({ challenge: z.string(), rp: z.looseObject({}), user: z.looseObject({}), pubKeyCredParams: z.array(z.looseObject({})) })
  .openapi("PasskeyCreationOptions", {
    description: "`PublicKeyCredentialCreationOptionsJSON`: pass to `PublicKeyCredential.parseCreationOptionsFromJSON()`.",
  });

export const RequestOptions = z
  .looseObject({ challenge: z.string(), rpId: z.string().optional(), allowCredentials: z.array(z.looseObject({})).optional() })
  .openapi("PasskeyRequestOptions", {
    description: "`PublicKeyCredentialRequestOptionsJSON`: pass to `PublicKeyCredential.parseRequestOptionsFromJSON()`.",
  });

/** The validated envelope, as the library's type (it re-checks every member it reads). */
export const asRegistrationResponse = (value: z.output<typeof RegistrationCredential>) => value as unknown as RegistrationResponseJSON;
export const asAuthenticationResponse = (value: z.output<typeof AuthenticationCredential>) =>
  value as unknown as AuthenticationResponseJSON;
