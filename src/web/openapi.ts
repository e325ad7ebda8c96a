import type { OpenAPIHono, RouteConfig } from "@hono/zod-openapi";
import { operationIdOf } from "../http/openapi";
import { CSRF_FIELD } from "./csrf";

// The pages in /openapi.json, for the record: they answer HTML to browsers and read their form
// fields themselves (./signin.tsx, ./profile.tsx), so these schemas validate nothing.

type Fields = Record<string, string>;

const text = (description: string) => ({ type: "string" as const, description });
const html = { "text/html": { schema: { type: "string" as const } } };

/** A form post's body: the CSRF token and `fields` (a name ending in `?` is optional). */
function form(fields: Fields) {
  const properties: Record<string, ReturnType<typeof text>> = {
    [CSRF_FIELD]: text("The page's CSRF token (hidden field)."),
  };
  const required = [CSRF_FIELD];
  for (const [key, description] of Object.entries(fields)) {
    const name = key.replace(/\?$/, "");
    properties[name] = text(description);
    if (name === key) required.push(name);
  }
  return {
    required: true,
    content: { "application/x-www-form-urlencoded": { schema: { type: "object" as const, properties, required } } },
  };
}

const turnstile = { "cf-turnstile-response?": "Turnstile token, when Turnstile is on." };
const currentPassword = { "current_password?": "Needed when the account has a password." };

// [method, path, summary, form fields or query parameters]
const PAGES: ["get" | "post", string, string, Fields?][] = [
  ["get", "/", "Phone entry (signed in: 303 to /profile)"],
  ["post", "/", "Send a code; 303 to /verify", { phone: "The phone number.", ...turnstile }],
  ["get", "/verify", "Code entry (no sign-in under way: 303 to /)"],
  ["post", "/verify", "Verify the code; session cookies, 303 to /profile", { code: "The code.", "invite_code?": "An invite code." }],
  ["post", "/resend", "Send the code again; 303 to /verify", turnstile],
  ["get", "/password", "Password sign-in"],
  ["post", "/password", "Sign in with a password; 303 to /profile", { phone: "The phone number.", password: "The password." }],
  ["get", "/lang", "Set the language cookie; 303 to `next`", { to: "`en` or `ru`.", next: "A page path." }],
  ["get", "/profile", "Profile, invite code, referrals, sessions", { after: "Referral page cursor." }],
  [
    "post",
    "/profile",
    "Save name and email (empty clears)",
    { "first_name?": "First name.", "last_name?": "Last name.", "email?": "Email." },
  ],
  ["post", "/profile/invite", "Activate an invite code", { invite_code: "The invite code." }],
  ["post", "/profile/password", "Set or change the password", { new_password: "The new password.", ...currentPassword }],
  ["post", "/profile/sessions/revoke", "Revoke a session (this one: sign out)", { session: "The session id." }],
  ["post", "/profile/delete", "Delete the account", { confirm: "`yes`.", ...currentPassword }],
  ["post", "/logout", "Log out; 303 to /"],
  // Passkeys (when WEBAUTHN_* are set; else 404). The `options` posts answer JSON for the page's script.
  ["post", "/passkey/options", "Passkey sign-in options (JSON `PublicKeyCredentialRequestOptionsJSON`)"],
  [
    "post",
    "/passkey",
    "Sign in with a passkey; session cookies, 303 to /profile",
    { response: "The assertion: `PublicKeyCredential.toJSON()` as JSON text." },
  ],
  ["post", "/profile/passkeys/options", "Passkey creation options (JSON `PublicKeyCredentialCreationOptionsJSON`)", currentPassword],
  [
    "post",
    "/profile/passkeys",
    "Add a passkey",
    { response: "The new credential: `PublicKeyCredential.toJSON()` as JSON text.", "name?": "A label.", ...currentPassword },
  ],
  ["post", "/profile/passkeys/rename", "Rename a passkey", { id: "The passkey id.", name: "The new label." }],
  ["post", "/profile/passkeys/remove", "Remove a passkey", { id: "The passkey id." }],
  // The operator's webhook page (admins; others 403).
  ["get", "/admin/webhooks", "Webhook endpoints and their recent deliveries (admins)", { "saved?": "Show the saved note." }],
  [
    "post",
    "/admin/webhooks",
    "Add a webhook endpoint; answers the page with its secret, shown once (201)",
    { url: "The endpoint URL.", "description?": "A label.", "event_types?": "Event types, repeated; `*` for all." },
  ],
  ["post", "/admin/webhooks/{id}/enabled", "Turn an endpoint on or off", { enabled: "`1` or `0`." }],
  ["post", "/admin/webhooks/{id}/rotate", "New signing secret; answers the page with it, shown once"],
  ["post", "/admin/webhooks/{id}/delete", "Remove an endpoint"],
  ["post", "/admin/webhooks/deliveries/{id}/replay", "Deliver a failed or delivered event again"],
  // The operator console (admins; others 403). An unknown period, grouping or type falls back to the default, said on the page.
  [
    "get",
    "/admin",
    "Console overview: headline numbers, alarms marked, and SVG charts (admins)",
    { "period?": "`24h`, `7d` (default) or `30d`." },
  ],
  [
    "get",
    "/admin/traffic",
    "Sends by country, prefix, channel or provider (admins)",
    { "period?": "`24h`, `7d` (default) or `30d`.", "group_by?": "`country` (default), `prefix`, `channel` or `provider`." },
  ],
  ["get", "/admin/blocks", "Active and recent fraud blocks (admins)", { "cursor?": "Older blocks (the page's own link)." }],
  [
    "post",
    "/admin/blocks",
    "Block a prefix or a country; 303 back to the blocks",
    {
      target: "A prefix (+ and 4 to 14 digits) or an ISO country code.",
      "seconds?": "60 to 2592000; empty: FRAUD_BLOCK_SECONDS.",
      "reason?": "At most 200 characters.",
    },
  ],
  ["post", "/admin/blocks/{id}/lift", "Lift an active block; 303 back to the blocks"],
  [
    "get",
    "/admin/users",
    "User search with full phones, audited (admins)",
    { "q?": "A phone prefix in any format, or an invite code.", "cursor?": "More users (the page's own link)." },
  ],
  ["get", "/admin/users/{id}", "One user, with the deactivate and role forms (admins)"],
  ["post", "/admin/users/{id}/active", "Deactivate (revokes every session) or reactivate; 303 back", { is_active: "`0` or `1`." }],
  ["post", "/admin/users/{id}/role", "Change the role; 303 back", { role: "`user` or `admin`." }],
  [
    "get",
    "/admin/audit",
    "The audit trail, newest first (admins)",
    { "type?": "An event type.", "user?": "A user id.", "cursor?": "Older events (the page's own link)." },
  ],
];

/** The pages' tag in /openapi.json. */
export const WEB_TAG = {
  name: "Web pages",
  description:
    "The server-rendered pages (HTML for browsers, forms that work without JavaScript): sign-in, profile, sessions. " +
    "Listed for completeness; API clients use the JSON routes.",
};

/** The session cookie the profile pages need (without it: 303 to /). */
const WEB_SESSION = { type: "apiKey", in: "cookie", name: "__Host-session", description: "`session` over http in development" } as const;

/** Documents every page route in `registry`. */
export function documentPages(registry: OpenAPIHono["openAPIRegistry"]) {
  registry.registerComponent("securitySchemes", "webSession", WEB_SESSION);
  for (const [method, path, summary, fields = {}] of PAGES) {
    // A refused post shows the page again, the message beside its field (403: cross-site or no CSRF token).
    const responses: RouteConfig["responses"] =
      method === "post"
        ? { 303: { description: "Done: the next page" }, "4XX": { description: "The page with the refusal", content: html } }
        : { ...(path !== "/lang" && { 200: { description: "The page", content: html } }), 303: { description: "Redirect" } };
    const answer = path === "/lang" ? "Answers a redirect." : "Answers HTML.";
    const description =
      method === "post"
        ? `${summary}. A form post from the page: it needs the page's CSRF token and a same-origin request.`
        : `${summary}. ${answer}`;
    const operation: RouteConfig = {
      method,
      path,
      operationId: operationIdOf("web", method, path),
      tags: [WEB_TAG.name],
      summary,
      description,
      responses,
    };
    if (path.startsWith("/profile") || path.startsWith("/admin")) operation.security = [{ webSession: [] }];
    const pathParameters = [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
      name: name as string,
      in: "path" as const,
      required: true,
      description: "The id from the page's own link.",
      schema: { type: "string" as const },
      example: "3f1c2a9e-5b7d-4c11-9e2f-0a6b8c7d9e10",
    }));
    if (method === "post") {
      operation.request = { body: form(fields) };
      if (pathParameters.length > 0) operation.parameters = pathParameters;
    } else
      operation.parameters = [
        ...pathParameters,
        ...Object.entries(fields).map(([key, description]) => ({
          name: key.replace(/\?$/, ""),
          in: "query" as const,
          description,
          schema: { type: "string" as const },
        })),
      ];
    registry.registerPath(operation);
  }
}
