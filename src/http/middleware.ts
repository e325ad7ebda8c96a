import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { loadConfig } from "../config";
import { sessionDatabase } from "../db/client";
import { verifyAccessToken } from "../tokens/jwt";
import type { ClientInfo } from "../tokens/sessions";
import type { AppEnv } from "./context";
import { ApiError, fail, problem } from "./problem";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Echoes a well-formed incoming `X-Request-Id`, else makes one; every response carries it. */
export const requestId: MiddlewareHandler<AppEnv> = async function requestId(c, next) {
  const incoming = c.req.header("X-Request-Id");
  const id = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
  c.set("requestId", id);
  await next();
  c.res.headers.set("X-Request-Id", id);
};

/** Headers every response gets (the pages add CSP and X-Frame-Options of their own). */
export const securityHeaders: MiddlewareHandler<AppEnv> = async function securityHeaders(c, next) {
  await next();
  const headers = c.res.headers;
  headers.set("X-Content-Type-Options", "nosniff");
  headers.set("Strict-Transport-Security", "max-age=63072000; includeSubDomains");
  headers.set("Referrer-Policy", "no-referrer");
};

/**
 * Parses config once per isolate; a bad or unsafe config answers 503 on every route and logs
 * which variables are wrong (never their values).
 */
export const requireConfig: MiddlewareHandler<AppEnv> = async function requireConfig(c, next) {
  const loaded = loadConfig(c.env);
  if (!loaded.ok) {
    console.error(`[${c.get("requestId")}] refusing to serve, configuration invalid: ${loaded.problems.join("; ")}`);
    return problem(c, fail("service_unavailable", { detail: "The service is misconfigured." }));
  }
  c.set("config", loaded.config);
  await next();
};

/**
 * Whether a request may start its D1 session on a replica: reads only, and not the admin API or
 * the operator console, whose reads go to the primary so that a demotion or deactivation bites
 * at once, not when a replica catches up.
 */
export const mayReadReplica = (method: string, path: string) =>
  (method === "GET" || method === "HEAD") && !/^\/(v1\/)?admin(\/|$)/.test(path);

/**
 * Opens this request's D1 session and returns its bookmark in `X-D1-Bookmark`; clients send it
 * back to read their own writes from any replica.
 */
export const d1Session: MiddlewareHandler<AppEnv> = async function d1Session(c, next) {
  const db = sessionDatabase(c.env.DB, {
    bookmark: c.req.header("X-D1-Bookmark"),
    readOnly: mayReadReplica(c.req.method, c.req.path),
    timeoutMs: c.get("config").STORAGE_TIMEOUT_MS,
  });
  c.set("db", db);
  await next();
  const bookmark = db.session.getBookmark();
  if (bookmark) c.res.headers.set("X-D1-Bookmark", bookmark);
};

/**
 * Everything under /v1 may carry personal data or tokens (spec: "Service"), so no answer there is
 * stored by a browser or proxy unless its route chose another Cache-Control.
 */
export const noStore: MiddlewareHandler<AppEnv> = async function noStore(c, next) {
  await next();
  if (!c.res.headers.has("Cache-Control")) c.res.headers.set("Cache-Control", "no-store");
};

/** Bodies over 16 KiB answer 413 before anything parses them. */
export const limitBody = bodyLimit({
  maxSize: 16 * 1024,
  onError: (c) => problem(c, fail("payload_too_large", { detail: "The body is larger than 16 KiB." })),
});

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Enforces the contract's order for bodies: 415 for a body that is not JSON, then
 * `malformed_request` for JSON that does not parse. The parsed body is cached for the validator.
 */
export const jsonBody: MiddlewareHandler<AppEnv> = async function jsonBody(c, next) {
  if (c.req.method === "GET" || c.req.method === "HEAD" || c.req.method === "OPTIONS") return next();
  // Providers' delivery callbacks come form-encoded or as JSON, and are read raw for their signatures.
  if (c.req.path.startsWith("/v1/hooks/")) return next();
  const type = (c.req.header("Content-Type") ?? "").split(";")[0]?.trim() ?? "";
  const hasBody = c.req.raw.body !== null && c.req.header("Content-Length") !== "0";
  if (!hasBody && !type) return next();
  if (!JSON_TYPE.test(type)) {
    throw new ApiError(fail("unsupported_media_type", { detail: "Send the body as application/json." }));
  }
  try {
    await c.req.json();
  } catch {
    throw new ApiError(fail("malformed_request", { detail: "The body is not valid JSON." }));
  }
  await next();
};

/** Reads `Authorization: Bearer` (header only: never a URL or, under /v1, a cookie). */
export function bearerToken(c: Context): string | undefined {
  const header = c.req.header("Authorization");
  const match = header?.match(/^Bearer +([A-Za-z0-9._~+/-]+=*)$/i);
  return match?.[1];
}

/** The 401 every bearer-protected route answers, with its `WWW-Authenticate` challenge. */
export const unauthorized = () =>
  new ApiError(fail("unauthorized", { detail: "A valid access token is required." }), { "WWW-Authenticate": 'Bearer realm="api"' });

/** Verifies the access token statelessly and puts its claims on the context. */
export const requireAccessToken: MiddlewareHandler<AppEnv> = async function requireAccessToken(c, next) {
  const token = bearerToken(c);
  const claims = token ? await verifyAccessToken(c.get("config"), token) : null;
  if (!claims) throw unauthorized();
  c.set("auth", claims);
  await next();
};

/** Client IP from `CF-Connecting-IP` only (IPv6 grouped by /64); absent → one shared `unknown`. */
export function clientIp(c: Context): string {
  const ip = c.req.header("CF-Connecting-IP")?.trim();
  if (!ip || ip.length > 64) return "unknown";
  if (!ip.includes(":")) return ip;
  return `${expandIpv6(ip).slice(0, 4).join(":")}::/64`;
}

function expandIpv6(ip: string): string[] {
  const [head = "", tail = ""] = ip.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const missing = ip.includes("::") ? 8 - left.length - right.length : 0;
  return [...left, ...Array(Math.max(missing, 0)).fill("0"), ...right].map((part) => part.toLowerCase().replace(/^0+(?=.)/, ""));
}

/** What a new session records about the client. */
export function clientInfo(c: Context): ClientInfo {
  let info = clientInfos.get(c.req.raw);
  if (!info) {
    const userAgent = c.req.header("User-Agent")?.slice(0, 256) ?? null;
    // Reading `cf` builds the object from the request's metadata each time: once per request.
    const cf = (c.req.raw as { cf?: { country?: unknown } }).cf;
    info = { userAgent, country: typeof cf?.country === "string" ? cf.country : null };
    clientInfos.set(c.req.raw, info);
  }
  return info;
}

const clientInfos = new WeakMap<Request, ClientInfo>();
