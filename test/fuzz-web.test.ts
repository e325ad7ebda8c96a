import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildHeaders,
  contentType,
  type FieldKind,
  hostileHeaders,
  jsonBody,
  oddString,
  resolveRefs,
  resolveToken,
  type TokenSpec,
  tokenSpec,
} from "./fuzz-arbitraries";
import {
  type Change,
  fixtures,
  forbiddenChanges,
  fuzzParameters,
  fuzzTimeout,
  installChangeLog,
  invalidateFixtures,
  observe,
  send,
} from "./fuzz-harness";
import { freshIp, freshPhone } from "./helpers";

// Property-based tests of the server-rendered pages (issue #10). Whatever the form, cookies,
// CSRF token, Origin and headers: never a 5xx; an answer is an HTML page (errors included) or a
// redirect to a path of this site; a 403 (the CSRF refusal, before anything runs) writes
// nothing at all, and any other refused form writes only what refusals may (fuzz-harness.ts).

const ORIGIN = "https://web.test";

type Page = {
  method: "GET" | "POST";
  path: string;
  fields?: Record<string, FieldKind>;
  query?: string[];
  /** Checks a code or a password: a refusal may count the guess. */
  guesses?: boolean;
  /** A success may sign the browser out or delete its account. */
  spends?: boolean;
  /** Answers JSON to the page's script (the passkey options), not a page. */
  json?: boolean;
};

const PAGES: Page[] = [
  { method: "GET", path: "/", query: ["notice"] },
  { method: "POST", path: "/", fields: { phone: "phone", "cf-turnstile-response": "text" } },
  { method: "GET", path: "/verify", query: ["resent"] },
  { method: "POST", path: "/verify", fields: { code: "code", invite_code: "invite" }, guesses: true },
  { method: "POST", path: "/resend", fields: { "cf-turnstile-response": "text" } },
  { method: "GET", path: "/password" },
  { method: "POST", path: "/password", fields: { phone: "phone", password: "password" }, guesses: true },
  { method: "GET", path: "/lang", query: ["to", "next"] },
  { method: "POST", path: "/logout", spends: true },
  { method: "GET", path: "/profile", query: ["done", "after", "retry"] },
  { method: "POST", path: "/profile", fields: { first_name: "name", last_name: "name", email: "email" } },
  { method: "POST", path: "/profile/invite", fields: { invite_code: "invite" } },
  {
    method: "POST",
    path: "/profile/password",
    fields: { current_password: "password", new_password: "password" },
    guesses: true,
    spends: true,
  },
  { method: "POST", path: "/profile/sessions/revoke", fields: { session: "text" }, spends: true },
  { method: "POST", path: "/profile/delete", fields: { confirm: "text", current_password: "password" }, guesses: true, spends: true },
  { method: "POST", path: "/passkey/options", json: true },
  { method: "POST", path: "/passkey", fields: { response: "text" } },
  { method: "POST", path: "/profile/passkeys/options", fields: { current_password: "password" }, guesses: true, json: true },
  { method: "POST", path: "/profile/passkeys", fields: { response: "text", name: "name", current_password: "password" }, guesses: true },
  { method: "POST", path: "/profile/passkeys/rename", fields: { id: "text", name: "name" } },
  { method: "POST", path: "/profile/passkeys/remove", fields: { id: "text" } },
  // The operator console: admins only (the `admin` jar carries the fixture admin's access token).
  { method: "GET", path: "/admin", query: ["period", "from"] },
  { method: "GET", path: "/admin/traffic", query: ["period", "group_by"] },
  { method: "GET", path: "/admin/blocks", query: ["cursor", "done"] },
  { method: "POST", path: "/admin/blocks", fields: { target: "text", seconds: "text", reason: "text" } },
  { method: "POST", path: "/admin/blocks/00000000-0000-0000-0000-000000000000/lift" },
  { method: "GET", path: "/admin/users", query: ["q", "cursor"] },
  { method: "GET", path: "/admin/users/00000000-0000-0000-0000-000000000000", query: ["saved"] },
  { method: "POST", path: "/admin/users/00000000-0000-0000-0000-000000000000/active", fields: { is_active: "text" } },
  { method: "POST", path: "/admin/users/00000000-0000-0000-0000-000000000000/role", fields: { role: "role" } },
  { method: "GET", path: "/admin/audit", query: ["type", "user", "cursor"] },
];

// --- browsers -------------------------------------------------------------------------------

type Jar = Map<string, string>;

const cookieHeader = (jar: Jar) => [...jar].map(([name, value]) => `${name}=${value}`).join("; ");

function keepCookies(jar: Jar, response: Response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair = ""] = line.split(";");
    const name = pair.slice(0, pair.indexOf("="));
    if (/;\s*Max-Age=0\b/i.test(line)) jar.delete(name);
    else jar.set(name, pair.slice(pair.indexOf("=") + 1));
  }
}

/** A well-behaved browser step (fixtures): same origin, cookies kept. */
async function browse(jar: Jar, path: string, form?: Record<string, string>): Promise<{ response: Response; html: string }> {
  const headers: Record<string, string> = { "CF-Connecting-IP": freshIp(), Cookie: cookieHeader(jar) };
  let body: string | undefined;
  if (form) {
    headers.Origin = ORIGIN;
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(form).toString();
  }
  const response = await send(new Request(`${ORIGIN}${path}`, { method: form ? "POST" : "GET", headers, body, redirect: "manual" }));
  keepCookies(jar, response);
  return { response, html: await response.text() };
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";

type Browser = { jar: Jar; csrf: string };

async function anonymousBrowser(): Promise<Browser> {
  const jar: Jar = new Map();
  const { html } = await browse(jar, "/");
  return { jar, csrf: csrfOf(html) };
}

/** A browser on the code page: a live code waits for its phone. */
async function browserWithCode(): Promise<Browser> {
  const browser = await anonymousBrowser();
  const sent = await browse(browser.jar, "/", { phone: freshPhone(), csrf: browser.csrf });
  expect(sent.response.status, sent.html).toBe(303);
  return browser;
}

async function signedInBrowser(): Promise<Browser> {
  const browser = await browserWithCode();
  const page = await browse(browser.jar, "/verify");
  const code = /data-dev-code[^>]*>(\d+)</.exec(page.html)?.[1] ?? "";
  const verified = await browse(browser.jar, "/verify", { code, csrf: browser.csrf });
  expect(verified.response.headers.get("Location"), verified.html).toBe("/profile");
  return browser;
}

type Browsers = { signedIn: Browser; anonymous: Browser; withCode: Browser };
let browsers: Browsers | undefined;

async function currentBrowsers(): Promise<Browsers> {
  browsers ??= { signedIn: await signedInBrowser(), anonymous: await anonymousBrowser(), withCode: await browserWithCode() };
  return browsers;
}

// --- one fuzzed request ---------------------------------------------------------------------

type JarKind = "signedIn" | "admin" | "anonymous" | "withCode" | "none" | "forgedSession" | "forgedFlow" | "hostile";
type CsrfKind = { kind: "valid" | "missing" | "otherBrowser" } | { kind: "text"; text: string };
type OriginKind = "same" | "none" | "nullWithFetchMetadata" | "refererOnly" | "foreign" | "hostile";
type Encoding = "form" | "multipart" | "json" | "raw";

type Case = {
  page: Page;
  jar: JarKind;
  csrf: CsrfKind;
  origin: OriginKind;
  encoding: Encoding;
  form: unknown;
  query: [string, string][];
  token: TokenSpec;
  flow: unknown;
  headers: Record<string, string>;
  /** For the `raw` encoding: a Content-Type and bytes after the form. */
  raw: { type: string; tail: Uint8Array };
};

const INVALID_TAILS = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x25, 0x25, 0x25, 0x00], [0x0d, 0x0a, 0x2d, 0x2d, 0x78]].map((bytes) =>
  Uint8Array.from(bytes),
);

const formText = (value: unknown) => (typeof value === "string" ? value : (JSON.stringify(value) ?? ""));

function caseFor(page: Page): fc.Arbitrary<Case> {
  return fc.record({
    page: fc.constant(page),
    jar: fc.oneof(
      {
        weight: 4,
        arbitrary: fc.constant<JarKind>(
          page.path.startsWith("/admin") ? "admin" : page.path.startsWith("/profile") || page.path === "/logout" ? "signedIn" : "anonymous",
        ),
      },
      {
        weight: 3,
        arbitrary: fc.constantFrom<JarKind>("signedIn", "admin", "anonymous", "withCode", "none", "forgedSession", "forgedFlow", "hostile"),
      },
    ),
    csrf: fc.oneof(
      { weight: 4, arbitrary: fc.constant<CsrfKind>({ kind: "valid" }) },
      { weight: 1, arbitrary: fc.constantFrom<CsrfKind>({ kind: "missing" }, { kind: "otherBrowser" }) },
      { weight: 1, arbitrary: oddString.map((text): CsrfKind => ({ kind: "text", text })) },
    ),
    origin: fc.oneof(
      { weight: 4, arbitrary: fc.constant<OriginKind>("same") },
      { weight: 2, arbitrary: fc.constantFrom<OriginKind>("none", "nullWithFetchMetadata", "refererOnly", "foreign", "hostile") },
    ),
    encoding: fc.oneof(
      { weight: 4, arbitrary: fc.constant<Encoding>("form") },
      { weight: 1, arbitrary: fc.constantFrom<Encoding>("multipart", "json", "raw") },
    ),
    form: jsonBody(page.fields ?? {}),
    query: fc.array(
      fc.tuple(
        fc.constantFrom(...(page.query ?? ["x"]), "x"),
        fc.oneof(oddString, fc.constantFrom("/", "//evil.example", "/profile", "https://evil.example", "ru", "en", "1", "reused")),
      ),
      {
        maxLength: 3,
      },
    ),
    token: tokenSpec,
    flow: fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.record({ phone: oddString, sentAt: fc.oneof(fc.integer(), fc.double()), codeLength: fc.integer({ min: -5, max: 50 }) }),
    ),
    headers: fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: hostileHeaders }),
    raw: fc.record({
      type: fc.oneof(
        contentType,
        fc.constantFrom(
          "application/x-www-form-urlencoded; charset=latin1",
          "application/x-www-form-urlencoded; charset=utf-16",
          "multipart/form-data",
          "multipart/form-data; boundary=",
          "multipart/form-data; boundary=x",
        ),
      ),
      tail: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(...INVALID_TAILS)),
    }),
  });
}

const b64url = (text: string) =>
  btoa(unescape(encodeURIComponent(text)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const encode = (text: string) => {
  try {
    return encodeURIComponent(text);
  } catch {
    return "%ED%A0%80";
  }
};

async function run(testCase: Case) {
  const [fx, all] = await Promise.all([fixtures(), currentBrowsers()]);
  const { page } = testCase;
  const browser = testCase.jar === "signedIn" ? all.signedIn : testCase.jar === "withCode" ? all.withCode : all.anonymous;
  const jar: Jar = new Map(testCase.jar === "none" || testCase.jar === "hostile" ? [] : browser.jar);
  const secure = (name: string) => `__Host-${name}`;
  if (testCase.jar === "forgedSession") {
    jar.set(secure("session"), encode(resolveToken(testCase.token, fx)).slice(0, 3000));
    jar.set(secure("access"), encode(resolveToken(testCase.token, fx)).slice(0, 3000));
  }
  if (testCase.jar === "forgedFlow") jar.set(secure("flow"), b64url(JSON.stringify(testCase.flow) ?? "null"));
  // The fixture admin's access token as the page's access cookie: the console's admin paths (no refresh, so no rotation).
  if (testCase.jar === "admin") jar.set(secure("access"), fx.admin.access);

  const headers = buildHeaders({ ...testCase.headers, "CF-Connecting-IP": freshIp() });
  if (testCase.jar !== "hostile") headers.set("Cookie", cookieHeader(jar));
  if (testCase.origin !== "hostile") headers.delete("Origin");
  if (testCase.origin === "same") headers.set("Origin", ORIGIN);
  if (testCase.origin === "nullWithFetchMetadata") {
    headers.set("Origin", "null");
    headers.set("Sec-Fetch-Site", "same-origin");
  }
  if (testCase.origin === "refererOnly") headers.set("Referer", `${ORIGIN}/`);
  if (testCase.origin === "foreign") headers.set("Origin", "https://evil.example");

  const csrf =
    testCase.csrf.kind === "valid"
      ? browser.csrf
      : testCase.csrf.kind === "otherBrowser"
        ? all.withCode.csrf === browser.csrf
          ? all.anonymous.csrf
          : all.withCode.csrf
        : testCase.csrf.kind === "text"
          ? testCase.csrf.text
          : undefined;
  const value = resolveRefs(testCase.form, fx);
  const fields: [string, unknown][] =
    value && typeof value === "object" && !Array.isArray(value) ? Object.entries(value) : [["value", value]];
  const entries = fields.map(([name, item]): [string, string] => [name, formText(item)]);
  if (csrf !== undefined) entries.push(["csrf", csrf]);
  let body: BodyInit | undefined;
  if (page.method === "POST") {
    if (testCase.encoding === "form") body = new URLSearchParams(entries);
    else if (testCase.encoding === "multipart") {
      const form = new FormData();
      for (const [name, item] of entries) form.append(name, item);
      body = form;
    } else if (testCase.encoding === "json") {
      body = JSON.stringify(Object.fromEntries(entries));
      headers.set("Content-Type", "application/json");
    } else {
      const text = new TextEncoder().encode(entries.map(([name, item]) => `${name}=${item}`).join("&"));
      const bytes = new Uint8Array(text.length + testCase.raw.tail.length);
      bytes.set(text);
      bytes.set(testCase.raw.tail, text.length);
      body = bytes;
      if (testCase.raw.type) headers.set("Content-Type", testCase.raw.type);
    }
  }
  const query = testCase.query.length ? `?${testCase.query.map(([name, item]) => `${name}=${encode(item)}`).join("&")}` : "";
  const request = new Request(`${ORIGIN}${page.path}${query}`, { method: page.method, headers, body, redirect: "manual" });
  const seen = await observe(request);
  // The fixtures' browser keeps what the Worker gave it (a rotated session, a new flow).
  if (testCase.jar === "signedIn" || testCase.jar === "withCode" || testCase.jar === "anonymous") keepCookies(browser.jar, seen.response);
  const location = seen.response.headers.get("Location") ?? "";
  if ((page.spends && seen.response.status === 303) || location.startsWith("/?notice=")) browsers = undefined;
  // The API user's refresh token in the session cookie is that session: the page may have rotated it.
  if (testCase.jar === "forgedSession" && testCase.token.kind === "fixture" && testCase.token.which === "refresh") invalidateFixtures();
  return {
    ...seen,
    where: `${page.method} ${page.path}${query.slice(0, 100)} [${testCase.jar}, ${testCase.origin}, csrf ${testCase.csrf.kind}]`,
  };
}

/**
 * A profile page whose access cookie is missing or expired first rotates the session cookie (the
 * session's own upkeep, as POST /v1/auth/token), whatever the form then says; the browser gets
 * the new token in the answer. Those writes are the rotation's, not the refused form's.
 */
function withoutRotation(response: Response, changes: Change[]): Change[] {
  if (!response.headers.getSetCookie().some((line) => line.startsWith("__Host-session="))) return changes;
  const rotation = new Set(["update refresh_tokens rotated_at replaced_by", "insert refresh_tokens null", "update sessions last_used_at"]);
  return changes.filter((change) => !rotation.has(`${change.op} ${change.tbl} ${change.detail}`));
}

/** What is wrong with a page's answer, or null. */
function pageViolation(response: Response, text: string, json = false): string | null {
  const { status } = response;
  if (status >= 500) return `5xx: ${status} ${text.slice(0, 300)}`;
  if (!response.headers.get("X-Request-Id")) return "no X-Request-Id";
  if (status >= 300 && status < 400) {
    const location = response.headers.get("Location") ?? "";
    return location.startsWith("/") && !location.startsWith("//") && !location.includes("\\") ? null : `redirect to ${location}`;
  }
  const type = response.headers.get("Content-Type") ?? "";
  if (json && type.startsWith("application/json"))
    return /\n\s+at |\.tsx?:\d+/.test(text) ? `answer leaks internals: ${text.slice(0, 300)}` : null;
  if (!type.startsWith("text/html")) return `${status} as ${type}: ${text.slice(0, 200)}`;
  if (response.headers.get("X-Frame-Options") !== "DENY") return "page without X-Frame-Options: DENY";
  if (!/script-src 'nonce-/.test(response.headers.get("Content-Security-Policy") ?? "")) return "page without its CSP";
  if (/\n\s+at |\.tsx?:\d+/.test(text)) return `page leaks internals: ${text.slice(0, 300)}`;
  return null;
}

beforeAll(async () => {
  await installChangeLog();
  await Promise.all([fixtures(), currentBrowsers()]);
}, 60_000);

describe("every web page", () => {
  const RUNS = 6;
  it.each(PAGES.map((page) => [`${page.method} ${page.path}`, page] as const))(
    "%s: fuzzed forms, cookies, CSRF tokens, origins and headers never answer 5xx, always HTML or a same-site redirect",
    async (_name, page) => {
      await fc.assert(
        fc.asyncProperty(caseFor(page), async (testCase) => {
          const { response, text, changes, kv, where } = await run(testCase);
          const at = `${where} → ${response.status} ${text.slice(0, 160)}`;
          expect(pageViolation(response, text, page.json), at).toBeNull();
          // The CSRF refusal comes before anything else runs: not even a rate window is counted. A
          // console page's refusal of a non-admin (403 forbidden) comes after the session's own upkeep.
          if (response.status === 403) expect({ changes: withoutRotation(response, changes), kv }, at).toEqual({ changes: [], kv: [] });
          else if (response.status >= 400) {
            expect(forbiddenChanges(page.guesses ? "invalid_code" : undefined, withoutRotation(response, changes), kv), at).toEqual([]);
          }
        }),
        fuzzParameters(RUNS),
      );
    },
    fuzzTimeout(RUNS),
  );
});

describe("regressions the properties found", () => {
  it("a form body the runtime cannot read (a non-UTF-8 charset, multipart without or with a broken boundary) is refused with 403, not a 500", async () => {
    const browser = await anonymousBrowser();
    for (const type of ["application/x-www-form-urlencoded; charset=latin1", "multipart/form-data", "multipart/form-data; boundary=x"]) {
      for (const path of ["/", "/password", "/verify", "/logout"]) {
        const request = new Request(`${ORIGIN}${path}`, {
          method: "POST",
          redirect: "manual",
          headers: { "Content-Type": type, Origin: ORIGIN, Cookie: cookieHeader(browser.jar), "CF-Connecting-IP": freshIp() },
          body: `phone=%2B375291234567&csrf=${browser.csrf}`,
        });
        const { response, text, changes, kv } = await observe(request);
        expect(pageViolation(response, text), `${type} ${path}`).toBeNull();
        expect({ status: response.status, changes, kv }, `${type} ${path}`).toEqual({ status: 403, changes: [], kv: [] });
      }
    }
  });
});
