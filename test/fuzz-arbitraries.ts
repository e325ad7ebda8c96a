import fc from "fast-check";
import type { Fixtures } from "./fuzz-harness";

// The request arbitraries of the property tests (test/fuzz-*.test.ts): odd strings and values,
// route bodies built from the real field names, raw bodies, content types, tokens and headers.
// Values that stand for fixtures (a user's phone, an invite code) are symbols resolved at run
// time, so a shrunk counterexample keeps its meaning.

// --- arbitraries: strings, values and bodies ------------------------------------------------

/** Strings people and attackers type: odd Unicode, control characters, injections, look-alike digits. */
const NASTY = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "\uDFFF",
  "x\uDBFF\uDC00\uD800y",
  "\u202E+375291234567",
  "\u200F\u200E\u200B\u2060",
  "\uFEFF+375291234567",
  "+375\u00A029\u2009123\u202F45\u00AD67",
  "\u0660\u0669\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
  "\u06F0\u06F9\u06F1\u06F2\u06F3\u06F4\u06F5\u06F6\u06F7\u06F8",
  "\uFF0B\uFF13\uFF17\uFF15\uFF12\uFF19\uFF11\uFF12\uFF13\uFF14\uFF15\uFF16\uFF17",
  "\uD835\uDFCF\uD835\uDFD0\uD835\uDFD1\uD835\uDFD2\uD835\uDFD3\uD835\uDFD4",
  "e\u0301\u0301\u0301\u0301\u0301\u0301\u0301\u0301",
  "\uFB03\u0130\u00DF\u212A",
  "\uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67\u200D\uD83D\uDC66",
  "null",
  "undefined",
  "NaN",
  "-0",
  "1e309",
  "0x10",
  "__proto__",
  "constructor",
  "toString",
  "'; DROP TABLE users; --",
  '" OR 1=1 --',
  "%00%0d%0a",
  "\r\nSet-Cookie: a=b",
  "../../etc/passwd",
  "<script>alert(1)</script>",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, on purpose
  "${7*7}{{7*7}}",
  "+375291234567\n+375291234568",
  "+375291234567 ext. 12",
  "tel:+375291234567",
  "00375291234567",
  "+0000000000000000",
  "+".repeat(64),
  "9".repeat(65),
];

/** Half of a surrogate pair alone: not Unicode, yet JSON's `\ud800` escape carries it in. */
const loneSurrogate = fc
  .tuple(fc.string({ maxLength: 20 }), fc.constantFrom("\uD800", "\uDBFF", "\uDC00", "\uDFFF"), fc.nat())
  .map(([text, half, at]) => text.slice(0, at % (text.length + 1)) + half + text.slice(at % (text.length + 1)));

export const oddString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 3, arbitrary: loneSurrogate },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 200, maxLength: 3000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 4000 }).map((n) => "9".repeat(n)) },
);

/** Values of a type no field has: numbers, booleans, null, arrays, objects. */
export const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, -1, 0, 1e300),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: min, maxLength: max });
const hex = (length: number) => fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: length, maxLength: length });
const base64ish = (maxLength: number) =>
  fc.string({ unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/="), maxLength });

/** A plausible Belarusian mobile, in the formats people type. */
const phoneLike: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom("25", "29", "33", "44"), digits(7, 7))
  .chain(([operator, rest]) =>
    fc.constantFrom(
      `+375${operator}${rest}`,
      `00375${operator}${rest}`,
      `+375 (${operator}) ${rest.slice(0, 3)}-${rest.slice(3, 5)}-${rest.slice(5)}`,
      `80${operator}${rest}`,
      `${operator}${rest}`,
      `+375.${operator}.${rest}`,
    ),
  );

/** Symbols resolved against the fixtures at run time (so shrinking keeps its meaning). */
export type Ref = {
  ref: "userPhone" | "adminPhone" | "inviterPhone" | "livePhone" | "inviterInvite" | "ownInvite" | "userRefresh" | "registerSession";
};

const ref = (...names: Ref["ref"][]) => fc.constantFrom(...names).map((name): Ref => ({ ref: name }));

export type FieldKind =
  | "phone"
  | "code"
  | "region"
  | "purpose"
  | "invite"
  | "password"
  | "refresh"
  | "bool"
  | "role"
  | "email"
  | "name"
  | "session"
  | "channel"
  | "locale"
  | "text";

const plausible: Record<FieldKind, fc.Arbitrary<unknown>> = {
  phone: fc.oneof(phoneLike, ref("userPhone", "adminPhone", "inviterPhone", "livePhone", "livePhone")),
  code: fc.oneof({ weight: 4, arbitrary: digits(6, 6) }, digits(0, 12), fc.constantFrom("000000", " 123456", "12345\u0666")),
  region: fc.oneof(fc.constantFrom("BY", "by", "IR", "US", "ZZ", "XK", "AA"), fc.string({ minLength: 2, maxLength: 2 })),
  purpose: fc.constantFrom("login", "reset_password", "change_phone", "LOGIN", "admin", ""),
  invite: fc.oneof(ref("inviterInvite", "ownInvite"), fc.string({ minLength: 6, maxLength: 6 }), fc.constantFrom(" k7m2qx ", "OOOOOO")),
  password: fc.oneof(
    fc.string({ minLength: 8, maxLength: 40 }),
    fc.string({ unit: "grapheme", minLength: 10, maxLength: 140 }),
    fc.constantFrom(
      "password",
      "correct horse battery staple",
      "\uFF50\uFF41\uFF53\uFF53\uFF57\uFF4F\uFF52\uFF44 long enough",
      "x".repeat(129),
    ),
  ),
  refresh: fc.oneof(base64ish(64), fc.string({ maxLength: 600 }), ref("userRefresh")),
  bool: fc.boolean(),
  role: fc.constantFrom("user", "admin", "superuser", "Admin"),
  email: fc.oneof(fc.emailAddress(), fc.constantFrom("a@b", "@", "x@y.z\u0000", `${"a".repeat(250)}@b.co`)),
  name: fc.string({ unit: "grapheme", maxLength: 70 }),
  session: fc.oneof(ref("registerSession"), base64ish(43)),
  channel: fc.constantFrom("sms", "whatsapp", "telegram", "voice", "auto", "SMS", "pigeon", ""),
  locale: fc.constantFrom("en", "ru", "fa", "fa-IR", "ru_RU", "de", "x", "english"),
  text: fc.string({ maxLength: 130 }),
};

/** One field's value: usually plausible, often odd, sometimes of the wrong type. */
export function fieldValue(kind: FieldKind): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: plausible[kind] }, { weight: 3, arbitrary: oddString }, { weight: 1, arbitrary: wrongType });
}

/**
 * A JSON body for a route with these fields: near-valid (the required fields present with
 * plausible values, so requests get past validation into the handlers) with exactly one field
 * made odd or of the wrong type; all plausible; any subset of odd values; unknown keys beside
 * them; or any JSON value at all.
 */
export function jsonBody(fields: Record<string, FieldKind>, required: string[] = []): fc.Arbitrary<unknown> {
  const entries = Object.entries(fields);
  const valid = (skip?: string) =>
    fc.record(Object.fromEntries(entries.filter(([name]) => name !== skip).map(([name, kind]) => [name, plausible[kind]])), {
      requiredKeys: required.filter((name) => name !== skip),
    });
  const oneOdd =
    entries.length === 0
      ? fc.constant({})
      : fc
          .constantFrom(...entries.map(([name]) => name))
          .chain((name) =>
            fc
              .tuple(valid(name), fc.oneof({ weight: 4, arbitrary: oddString }, { weight: 1, arbitrary: wrongType }))
              .map(([rest, odd]) => ({ ...rest, [name]: odd })),
          );
  const anySubset = fc.record(Object.fromEntries(entries.map(([name, kind]) => [name, fieldValue(kind)])), { requiredKeys: [] });
  const extra = fc.dictionary(
    fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom("__proto__", "constructor", "role", "id", "points")),
    wrongType,
    {
      maxKeys: 3,
    },
  );
  return fc.oneof(
    { weight: 4, arbitrary: oneOdd },
    { weight: 3, arbitrary: valid() },
    { weight: 2, arbitrary: anySubset },
    { weight: 1, arbitrary: fc.tuple(valid(), extra).map(([known, unknown]) => ({ ...unknown, ...known })) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  );
}

/** Replaces fixture references in a generated value by the fixtures' current values. */
export function resolveRefs(value: unknown, fx: Fixtures): unknown {
  if (Array.isArray(value)) return value.map((item) => resolveRefs(item, fx));
  if (value && typeof value === "object") {
    if ("ref" in value && Object.keys(value).length === 1) return resolveRef(value as Ref, fx);
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(out, key, { value: resolveRefs(item, fx), enumerable: true, configurable: true, writable: true });
    }
    return out;
  }
  return value;
}

function resolveRef(value: Ref, fx: Fixtures): string {
  switch (value.ref) {
    case "userPhone":
      return fx.user.phone;
    case "adminPhone":
      return fx.admin.phone;
    case "inviterPhone":
      return fx.inviter.phone;
    case "livePhone":
      return fx.livePhones[0] ?? fx.user.phone;
    case "inviterInvite":
      return fx.inviter.invite.toLowerCase();
    case "ownInvite":
      return fx.user.invite;
    case "userRefresh":
      return fx.user.refresh;
    case "registerSession":
      return fx.registerSession;
  }
}

// --- arbitraries: tokens and headers --------------------------------------------------------

const b64url = (text: string) =>
  btoa(unescape(encodeURIComponent(text)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

/** What goes after `Bearer `: the fixtures' own tokens, tampered ones, forged JWTs, garbage. */
export type TokenSpec =
  | { kind: "fixture"; which: "user" | "admin" | "refresh" | "usersToken" | "inviter" }
  | { kind: "tampered"; which: "user" | "admin"; at: number; char: string }
  | { kind: "raw"; token: string };

const jwtHeader = fc.record(
  {
    alg: fc.oneof(fc.constantFrom("none", "None", "HS256", "ES256", "RS256", "ES384", "EdDSA", ""), wrongType),
    typ: fc.constantFrom("at+jwt", "JWT", "jwt", ""),
    kid: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom("../../etc/passwd", "' OR 1=1 --", "__proto__", "constructor"), wrongType),
    jku: fc.constant("https://evil.example/jwks.json"),
    jwk: fc.constant({ kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" }),
    crit: fc.constant(["exp"]),
    b64: fc.boolean(),
  },
  { requiredKeys: ["alg"] },
);
const jwtPayload = fc.oneof(
  fc.record(
    {
      iss: fc.oneof(fc.constant("https://auth.example.com"), oddString),
      aud: fc.oneof(fc.constant("phone-auth-edge"), fc.constant(["phone-auth-edge", "x"]), oddString),
      sub: fc.oneof(fc.uuid(), wrongType),
      sid: fc.oneof(fc.uuid(), wrongType),
      role: fc.oneof(fc.constantFrom("admin", "user"), wrongType),
      auth_time: fc.oneof(fc.integer(), wrongType),
      iat: fc.oneof(fc.integer(), wrongType),
      exp: fc.oneof(fc.constant(4_102_444_800), fc.integer(), wrongType),
      jti: fc.oneof(fc.string(), wrongType),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 2 }),
);
const forgedJwt = fc
  .tuple(jwtHeader, jwtPayload, fc.oneof(fc.constant(""), base64ish(90), fc.string({ maxLength: 20 })))
  .map(
    ([header, payload, signature]) =>
      `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${signature.replace(/=+$/, "")}`,
  );

export const tokenSpec: fc.Arbitrary<TokenSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom("user", "admin", "refresh", "usersToken", "inviter").map((which) => ({ kind: "fixture" as const, which })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        which: fc.constantFrom("user" as const, "admin" as const),
        at: fc.nat(),
        char: fc.constantFrom("A", "_", "-", ".", "=", ""),
      })
      .map((spec) => ({ kind: "tampered" as const, ...spec })),
  },
  { weight: 2, arbitrary: forgedJwt.map((token) => ({ kind: "raw" as const, token })) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.string({ maxLength: 100 }),
        base64ish(200),
        fc.constantFrom("", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30.", "null", "Bearer x"),
        fc.integer({ min: 4000, max: 12_000 }).map((n) => "a".repeat(n)),
        fc.integer({ min: 1000, max: 6000 }).map((n) => `${"eyJ".repeat(n)}.${"e30".repeat(n)}.sig`),
      )
      .map((token) => ({ kind: "raw" as const, token })),
  },
);

/** The token a spec stands for now. */
export function resolveToken(spec: TokenSpec, fx: Fixtures): string {
  if (spec.kind === "raw") return spec.token;
  if (spec.kind === "fixture") {
    if (spec.which === "refresh") return fx.user.refresh;
    if (spec.which === "usersToken") return fx.usersToken;
    return fx[spec.which].access;
  }
  const token = fx[spec.which].access;
  const at = spec.at % token.length;
  const replaced = token[at] === spec.char ? "B" : spec.char;
  return token.slice(0, at) + replaced + token.slice(at + 1);
}

/** Header values a client can send: any byte but CR, LF and NUL (fetch refuses those outright). */
const headerText = (maxLength: number) =>
  fc
    .string({ unit: fc.integer({ min: 0x01, max: 0x7f }).map((code) => String.fromCharCode(code)), maxLength })
    .map((text) => text.replace(/[\r\n]/g, " "));

export type AuthSpec = { scheme: string; token: TokenSpec } | { raw: string } | null;

export const authSpec: fc.Arbitrary<AuthSpec> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  {
    weight: 6,
    arbitrary: fc.record({
      scheme: fc.constantFrom("Bearer", "Bearer", "Bearer", "bearer", "BEARER", "Token", "Basic", "Bearer  ", "JWT"),
      token: tokenSpec,
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        headerText(200),
        fc.integer({ min: 5000, max: 12_000 }).map((n) => `Bearer ${"x".repeat(n)}`),
      )
      .map((raw) => ({ raw })),
  },
);

export function resolveAuth(spec: AuthSpec, fx: Fixtures): string | undefined {
  if (spec === null) return undefined;
  if ("raw" in spec) return spec.raw;
  const token = resolveToken(spec.token, fx);
  return spec.scheme.endsWith(" ") ? `${spec.scheme}${token}` : `${spec.scheme} ${token}`;
}

/** Headers an attacker controls, each present or not. */
export const hostileHeaders: fc.Arbitrary<Record<string, string>> = fc.record(
  {
    "X-Request-Id": fc.oneof(
      headerText(200),
      fc.constantFrom("ok-id", "a".repeat(128), "a".repeat(129), "../x", "id with spaces", "\u007f\u0001"),
      fc.integer({ min: 5000, max: 12_000 }).map((n) => "r".repeat(n)),
    ),
    "X-D1-Bookmark": fc.oneof(
      headerText(120),
      fc.tuple(hex(8), hex(8), hex(8), hex(32)).map((parts) => parts.join("-")),
      fc.constantFrom("first-primary", "first-unconstrained", "00000000-00000000-00000000-00000000000000000000000000000000"),
    ),
    "CF-Connecting-IP": fc.oneof(
      headerText(80),
      fc.ipV4(),
      fc.ipV6(),
      fc.constantFrom(
        "::",
        ":::::::::",
        "::ffff:1.2.3.4",
        "1:2:3:4:5:6:7:8:9:10:11",
        "fe80::1%eth0",
        "unknown",
        "0",
        "-1",
        "999.999.999.999",
        `${"f".repeat(64)}`,
        `${":".repeat(64)}`,
      ),
    ),
    "Accept-Language": fc.oneof(
      headerText(200),
      fc.constantFrom("*", "ru;q=abc", "en-US,en;q=0.9,ru;q=1.5", "q=0", ";;;,,,", "x".repeat(5000)),
    ),
    "X-Forwarded-For": headerText(100),
    Origin: fc.oneof(headerText(60), fc.constantFrom("null", "http://api.test", "https://evil.example", "http://api.test:80")),
    Cookie: fc.oneof(headerText(200), fc.constantFrom("session=x; access=y", "__Host-session=;", "a=%ZZ; b=\u007f", "=;=;=")),
    "User-Agent": fc.oneof(
      headerText(100),
      fc.integer({ min: 1000, max: 10_000 }).map((n) => "u".repeat(n)),
    ),
  },
  { requiredKeys: [] },
);

/** Builds headers, skipping any value the fetch API itself refuses. */
export function buildHeaders(values: Record<string, string | undefined>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    try {
      headers.set(name, value);
    } catch {
      // Not sendable over HTTP at all.
    }
  }
  return headers;
}

// --- arbitraries: raw bodies and content types ---------------------------------------------

/** The body limit of every route (spec: "Bodies over 16 KiB answer 413 before parsing"). */
export const BODY_LIMIT = 16 * 1024;
const bytes = (text: string) => new TextEncoder().encode(text);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

export type RawBody = { label: string; data: Uint8Array };

const INVALID_UTF8 = [
  [0xff],
  [0xfe, 0xff],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
];

/** Raw bodies no JSON encoder would write: duplicate keys, invalid UTF-8, deep nesting, sizes around the limit, truncation. */
export const rawBody = (fields: string[]): fc.Arbitrary<RawBody> => {
  const field = fc.constantFrom(...(fields.length ? fields : ["phone"]));
  return fc.oneof(
    fc.tuple(field, fc.jsonValue({ maxDepth: 1 }), fc.jsonValue({ maxDepth: 1 })).map(([name, first, second]) => ({
      label: "duplicate keys",
      data: bytes(`{"${name}":${JSON.stringify(first)},"${name}":${JSON.stringify(second)}}`),
    })),
    fc.tuple(field, fc.constantFrom(...INVALID_UTF8), fc.uint8Array({ maxLength: 12 })).map(([name, invalid, noise]) => ({
      label: "invalid UTF-8",
      data: concat(bytes(`{"${name}":"`), Uint8Array.from(invalid), noise, bytes('"}')),
    })),
    fc.uint8Array({ maxLength: 200 }).map((data) => ({ label: "random bytes", data })),
    fc.tuple(fc.integer({ min: 50, max: 12_000 }), field, fc.constantFrom("array", "object", "field")).map(([depth, name, shape]) => {
      const text =
        shape === "array"
          ? "[".repeat(depth) + "]".repeat(depth)
          : shape === "object"
            ? `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`
            : `{"${name}":${"[".repeat(depth)}${"]".repeat(depth)}}`;
      return { label: `nested ${depth} deep (${shape})`, data: bytes(text) };
    }),
    fc.tuple(field, fc.integer({ min: BODY_LIMIT - 40, max: 3 * BODY_LIMIT })).map(([name, size]) => ({
      label: `${size} bytes`,
      data: bytes(`{"${name}":"${"9".repeat(Math.max(0, size - name.length - 7))}"}`),
    })),
    fc
      .constantFrom(
        "",
        " ",
        "\uFEFF{}",
        "{}",
        "[]",
        '""',
        "0",
        "true",
        "null",
        "{} {}",
        "{}garbage",
        '{"phone":1e999}',
        '{"phone":-0}',
        '{"phone":123456789012345678901234567890}',
        '{"all":true,"all":false}',
        '{"phone":"\\ud800"}',
        '{"phone":"\\u0000"}',
        '{"__proto__":{"admin":true}}',
        '{"constructor":{"prototype":{"role":"admin"}}}',
        "phone=%2B375291234567",
        "<phone>+375291234567</phone>",
      )
      .map((text) => ({ label: JSON.stringify(text), data: bytes(text) })),
    jsonBody({ phone: "phone", code: "code" })
      .map((value) => JSON.stringify(value) ?? "null")
      .chain((text) => fc.nat(text.length).map((cut) => ({ label: "truncated JSON", data: bytes(text.slice(0, cut)) }))),
  );
};

/** Content-Type values: right, almost right, wrong, and garbage. */
export const contentType = fc.oneof(
  { weight: 4, arbitrary: fc.constant("application/json") },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "",
      "application/json; charset=utf-8",
      "application/json; charset=utf-16",
      "APPLICATION/JSON",
      "application/problem+json",
      "application/vnd.api+json",
      "application/jsonx",
      "application/json;;;",
      " application/json ",
      "json",
      "text/json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
      "multipart/form-data; boundary=x",
      "application/xml",
      "*/*",
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 40 }).map((text) => text.replace(/[\r\n\0]/g, "")) },
);
