import { createRoute } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/context";
import { deps } from "../http/deps";
import { orThrow } from "../http/errors";
import { clientInfo, requireAccessToken, unauthorized } from "../http/middleware";
import { bearerSecurity, createRouter, problemResponses, z } from "../http/openapi";
import { ApiError, fail } from "../http/problem";
import { limitPasskeyIp as countPasskeyIp } from "../limits/ip";
import { callerSql, readCaller } from "../me/service";
import { TokenResponse } from "../otp/schemas";
import { reauthenticate } from "../passwords/service";
import { limitPerUser } from "../ratelimit/user";
import { relyingParty } from "./ceremony";
import {
  AddPasskeyRequest,
  asAuthenticationResponse,
  asRegistrationResponse,
  CreationOptions,
  PasskeyList,
  PasskeySchema,
  PasskeySignInRequest,
  RegistrationOptionsRequest,
  RenamePasskeyRequest,
  RequestOptions,
} from "./schemas";
import { addPasskey, listPasskeys, registrationOptions, removePasskey, renamePasskey, toPasskey } from "./service";
import { authenticationOptions, signInWithPasskey } from "./signin";

/** Without WEBAUTHN_RP_ID, _RP_NAME and _ORIGINS the passkey routes do not exist (404, before anything else). */
const requirePasskeys: MiddlewareHandler<AppEnv> = async function requirePasskeys(c, next) {
  orThrow(relyingParty(deps(c)));
  await next();
};

/** Every passkey answer is personal (keys, tokens) or single-use (challenges): never cached. */
const noStore: MiddlewareHandler<AppEnv> = async function noStore(c, next) {
  await next();
  c.header("Cache-Control", "no-store");
};

/** Passkey sign-in is public: a per-IP window keeps challenge rows and signature checks bounded. */
const limitPasskeyIp: MiddlewareHandler<AppEnv> = async function limitPasskeyIp(c, next) {
  await countPasskeyIp(c);
  await next();
};

const authed = { security: bearerSecurity, middleware: [noStore, requirePasskeys, requireAccessToken, limitPerUser("ME_LIMITER")] };
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const idParam = z.object({ id: z.string().min(1).max(64).openapi({ example: "6f1d2c3b-4a59-4e8f-9b7a-1c2d3e4f5a6b" }) });
const notFound = () => new ApiError(fail("not_found", { detail: "No such passkey." }));

const registrationOptionsRoute = createRoute({
  method: "post",
  path: "/v1/me/passkeys/options",
  operationId: "passkeyRegistrationOptions",
  tags: ["Passkeys"],
  summary: "Start adding a passkey: WebAuthn creation options",
  description:
    "Options for `navigator.credentials.create()`: a discoverable credential, user verification preferred, the caller's " +
    "passkeys excluded. Follows the reauthentication rule of sensitive changes (a sign-in within 300 s, or `current_password`).",
  ...authed,
  request: { body: { content: { "application/json": { schema: RegistrationOptionsRequest } }, required: false } },
  responses: { 200: json(CreationOptions, "Creation options"), ...problemResponses(400, 401, 403, 404, 413, 415, 429, 503) },
});

const addRoute = createRoute({
  method: "post",
  path: "/v1/me/passkeys",
  operationId: "addPasskey",
  tags: ["Passkeys"],
  summary: "Add a passkey",
  description:
    "Verifies the new credential against the caller's registration challenge (single-use) and stores it. Follows the " +
    "reauthentication rule of sensitive changes.",
  ...authed,
  request: { body: { content: { "application/json": { schema: AddPasskeyRequest } }, required: true } },
  responses: { 201: json(PasskeySchema, "Added"), ...problemResponses(400, 401, 403, 404, 413, 415, 429, 503) },
});

const listRoute = createRoute({
  method: "get",
  path: "/v1/me/passkeys",
  operationId: "listPasskeys",
  tags: ["Passkeys"],
  summary: "List the caller's passkeys",
  description: "Oldest first.",
  ...authed,
  responses: { 200: json(PasskeyList, "Passkeys"), ...problemResponses(401, 404, 429, 503) },
});

const renameRoute = createRoute({
  method: "patch",
  path: "/v1/me/passkeys/{id}",
  operationId: "renamePasskey",
  tags: ["Passkeys"],
  summary: "Rename a passkey",
  description: "Changes the label only.",
  ...authed,
  request: { params: idParam, body: { content: { "application/json": { schema: RenamePasskeyRequest } }, required: true } },
  responses: { 200: json(PasskeySchema, "Renamed"), ...problemResponses(400, 401, 404, 413, 415, 429, 503) },
});

const removeRoute = createRoute({
  method: "delete",
  path: "/v1/me/passkeys/{id}",
  operationId: "removePasskey",
  tags: ["Passkeys"],
  summary: "Remove a passkey",
  description: "It can no longer sign in; remove it from the device's password manager too.",
  ...authed,
  request: { params: idParam },
  responses: { 204: { description: "Removed" }, ...problemResponses(401, 404, 429, 503) },
});

const signInOptionsRoute = createRoute({
  method: "post",
  path: "/v1/auth/passkey/options",
  operationId: "passkeySignInOptions",
  tags: ["Passkeys"],
  summary: "Start a passkey sign-in: WebAuthn request options",
  description:
    "Options for `navigator.credentials.get()` with an empty `allowCredentials` (discoverable credentials, so no phone " +
    "is asked for). The challenge is single-use and lives PASSKEY_CHALLENGE_SECONDS.",
  security: [],
  middleware: [noStore, requirePasskeys, limitPasskeyIp],
  responses: { 200: json(RequestOptions, "Request options"), ...problemResponses(400, 404, 413, 415, 429, 503) },
});

const signInRoute = createRoute({
  method: "post",
  path: "/v1/auth/passkey/verify",
  operationId: "passkeySignIn",
  tags: ["Passkeys"],
  summary: "Sign in with a passkey",
  description:
    "Verifies the assertion and answers the token response; `auth_time` is now, so it satisfies reauthentication. An " +
    "unknown credential, a bad signature, a wrong origin or RP ID, a used challenge or a flagged passkey: 401 `invalid_credentials`.",
  security: [],
  middleware: [noStore, requirePasskeys, limitPasskeyIp],
  request: { body: { content: { "application/json": { schema: PasskeySignInRequest } }, required: true } },
  responses: { 200: json(TokenResponse, "Signed in"), ...problemResponses(400, 401, 403, 404, 413, 415, 429, 503) },
});

export const passkeyRoutes = createRouter()
  .openapi(registrationOptionsRoute, async (c) => {
    const services = deps(c);
    const rp = orThrow(relyingParty(services));
    const claims = c.get("auth");
    const body = c.req.header("Content-Type") ? c.req.valid("json") : {};
    const caller = orThrow(await readCaller(services, claims));
    const proven = orThrow(await reauthenticate(services, claims, caller, body.current_password));
    return c.json(await registrationOptions(services, rp, caller, proven.refund), 200);
  })
  .openapi(addRoute, async (c) => {
    const services = deps(c);
    const rp = orThrow(relyingParty(services));
    const claims = c.get("auth");
    const body = c.req.valid("json");
    const caller = orThrow(await readCaller(services, claims));
    const proven = orThrow(await reauthenticate(services, claims, caller, body.current_password));
    const added = await addPasskey(services, rp, {
      caller,
      callerGuard: callerSql(services.config, claims, services.now),
      response: asRegistrationResponse(body.response),
      name: body.name,
      refund: proven.refund,
    });
    return c.json(orThrow(added), 201);
  })
  .openapi(listRoute, async (c) => {
    const services = deps(c);
    const claims = c.get("auth");
    const rows = await listPasskeys(services, callerSql(services.config, claims, services.now), claims.sub);
    if (!rows) throw unauthorized();
    return c.json({ items: rows.map(toPasskey) }, 200);
  })
  .openapi(renameRoute, async (c) => {
    const services = deps(c);
    const claims = c.get("auth");
    const callerGuard = callerSql(services.config, claims, services.now);
    const renamed = await renamePasskey(services, {
      callerGuard,
      userId: claims.sub,
      id: c.req.valid("param").id,
      name: c.req.valid("json").name,
    });
    if ("error" in renamed && renamed.error === "unauthorized") throw unauthorized();
    return c.json(orThrow(renamed), 200);
  })
  .openapi(removeRoute, async (c) => {
    const services = deps(c);
    const claims = c.get("auth");
    const caller = orThrow(await readCaller(services, claims));
    const callerGuard = callerSql(services.config, claims, services.now);
    if (!(await removePasskey(services, { callerGuard, caller, id: c.req.valid("param").id }))) throw notFound();
    return c.body(null, 204);
  })
  .openapi(signInOptionsRoute, async (c) => {
    const services = deps(c);
    return c.json(await authenticationOptions(services, orThrow(relyingParty(services))), 200);
  })
  .openapi(signInRoute, async (c) => {
    const services = deps(c);
    const rp = orThrow(relyingParty(services));
    const body = c.req.valid("json");
    const signed = await signInWithPasskey(services, rp, { response: asAuthenticationResponse(body.response), client: clientInfo(c) });
    return c.json(orThrow(signed), 200);
  });
