// Turns the Worker's OpenAPI 3.1 document into a Postman Collection v2.1 (`npm run postman`).
// Pure: no I/O, and nothing the deployed Worker imports. The output is a function of the document
// alone (no timestamps, ids derived from names, the `servers` origin replaced by `{{baseUrl}}`), so
// the committed collection can be compared with a fresh one to catch staleness.

/** The part of JSON Schema (as @hono/zod-openapi emits it) the generator reads. */
export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  example?: unknown;
  examples?: unknown[];
  format?: string;
  minimum?: number;
  description?: string;
};

type Parameter = {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  description?: string;
  schema?: JsonSchema;
};
type Content = Record<string, { schema?: JsonSchema }>;
type Operation = {
  tags?: string[];
  summary?: string;
  description?: string;
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Content };
  responses?: Record<string, { content?: Content }>;
};

type SecurityScheme = { type: string; scheme?: string; in?: string; name?: string; description?: string };

/** The part of an OpenAPI 3.1 document the generator reads. */
export type OpenApiDocument = {
  info: { title: string; description?: string };
  tags?: { name: string }[];
  security?: Record<string, string[]>[];
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema>; securitySchemes?: Record<string, SecurityScheme> };
};

type KeyValue = { key: string; value: string; description?: string; disabled?: boolean };
type PostmanRequest = {
  method: string;
  header: KeyValue[];
  auth?: { type: "bearer"; bearer: { key: "token"; value: string; type: "string" }[] };
  body?: { mode: "raw"; raw: string; options: { raw: { language: "json" } } };
  url: { raw: string; host: string[]; path: string[]; query?: KeyValue[]; variable?: KeyValue[] };
  description?: string;
};
type PostmanItem = {
  id: string;
  name: string;
  request: PostmanRequest;
  event: { listen: "test"; script: { type: "text/javascript"; exec: string[] } }[];
  response: [];
};
type PostmanFolder = { id: string; name: string; description?: string; item: PostmanItem[] };

/** A Postman Collection v2.1 (https://schema.getpostman.com/json/collection/v2.1.0/collection.json). */
export type PostmanCollection = {
  info: { _postman_id: string; name: string; description: string; schema: string };
  item: PostmanFolder[];
  variable: (KeyValue & { type: "string" })[];
};

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json";

/** Request fields and parameters with these names take the collection variable of that name. */
const FLOW_VARIABLES = ["phone", "code", "access_token", "refresh_token"];
/** The compatibility APIs' names for the same values. */
const FLOW_ALIASES: Record<string, string> = {
  phone_number: "phone",
  mobile_number: "phone",
  verification_code: "code",
  otp_code: "code",
  refresh: "refresh_token",
};

/** The sign-in flow (spec/API.md), in the order the "Sign-in flow" folder runs it. */
const SIGN_IN_FLOW = [
  { method: "post", path: "/v1/auth/otp" },
  { method: "post", path: "/v1/auth/otp/verify" },
  { method: "get", path: "/v1/me" },
  { method: "post", path: "/v1/auth/token" },
];
const FLOW_DESCRIPTION =
  "Run this folder in order against `npm run dev`: send a code (the development sandbox answers `dev_code`, stored in `code`; " +
  "elsewhere set `code` by hand), verify it (stores `access_token` and `refresh_token`), read the profile, then rotate the " +
  "refresh token (stores the new pair).";

/** Builds the collection: a "Sign-in flow" folder, then one folder per tag in document order. */
export async function postmanCollection(doc: OpenApiDocument): Promise<PostmanCollection> {
  const operations = Object.entries(doc.paths)
    .flatMap(([path, item]) =>
      METHODS.filter((method) => item[method]).map((method) => ({ method, path, operation: item[method] as Operation })),
    )
    .filter(({ operation }) => answersJson(operation));
  // An operation goes in the folder of its first tag; untagged ones in "Other".
  const tagOf = (operation: Operation) => operation.tags?.[0] ?? "Other";
  const tags = [...new Set([...(doc.tags ?? []).map((tag) => tag.name), ...operations.map(({ operation }) => tagOf(operation))])];
  const name = doc.info.title;
  const id = (key: string) => uuidV5(`${name}/${key}`);

  const flow = SIGN_IN_FLOW.map((step) => {
    const found = operations.find(({ method, path }) => method === step.method && path === step.path);
    if (!found) throw new Error(`The sign-in flow needs ${step.method.toUpperCase()} ${step.path}, which the document lacks.`);
    return found;
  });
  const folders: PostmanFolder[] = [
    {
      id: await id("folder/Sign-in flow"),
      name: "Sign-in flow",
      description: FLOW_DESCRIPTION,
      item: await Promise.all(flow.map((op) => requestItem(doc, op, `flow/${op.method} ${op.path}`, id))),
    },
  ];
  for (const tag of tags) {
    const tagged = operations.filter(({ operation }) => tagOf(operation) === tag);
    if (tagged.length === 0) continue;
    folders.push({
      id: await id(`folder/${tag}`),
      name: tag,
      item: await Promise.all(tagged.map((op) => requestItem(doc, op, `${op.method} ${op.path}`, id))),
    });
  }

  return {
    info: {
      _postman_id: await id("collection"),
      name,
      description: `${doc.info.description ?? ""}\n\nGenerated from /openapi.json by \`npm run postman\`; do not edit by hand.`.trim(),
      schema: SCHEMA_URL,
    },
    item: folders,
    variable: [
      { key: "baseUrl", value: "http://127.0.0.1:8787", type: "string", description: "Origin of the API (no trailing slash)." },
      { key: "phone", value: "+375291234567", type: "string", description: "The phone that signs in." },
      { key: "code", value: "", type: "string", description: "Set by the send in the development sandbox (`dev_code`); else by hand." },
      { key: "access_token", value: "", type: "string", description: "Set by verify, password login and refresh." },
      { key: "refresh_token", value: "", type: "string", description: "Set by verify, password login and refresh." },
    ],
  };
}

/** The file `npm run postman` writes: stable two-space JSON with a final newline. */
export function serializeCollection(collection: PostmanCollection): string {
  return `${JSON.stringify(collection, null, 2)}\n`;
}

async function requestItem(
  doc: OpenApiDocument,
  { method, path, operation }: { method: string; path: string; operation: Operation },
  key: string,
  id: (key: string) => Promise<string>,
): Promise<PostmanItem> {
  const parameters = operation.parameters ?? [];
  // The compatibility APIs' paths keep their trailing slash (an empty last segment): without it they are 404s.
  const segments = path
    .split("/")
    .slice(1)
    .map((segment) => segment.replace(/^\{(.+)\}$/, ":$1"));
  const query = parameters.filter((p) => p.in === "query").map((p) => parameterEntry(doc, p));
  const enabledQuery = query.filter((entry) => !entry.disabled).map((entry) => `${entry.key}=${entry.value}`);
  const pathParameters = parameters.filter((p) => p.in === "path").map((p) => parameterEntry(doc, p));
  const header = [
    ...parameters.filter((p) => p.in === "header").map((p) => parameterEntry(doc, p)),
    ...headerKeys(doc, operation).map(({ name, scheme, description }) => ({
      key: name,
      value: `<${scheme}>`,
      ...(description && { description }),
    })),
  ];
  // An optional body is left out: the route works without one (e.g. DELETE /v1/me after a fresh sign-in).
  const bodySchema = operation.requestBody?.required ? operation.requestBody.content?.["application/json"]?.schema : undefined;
  if (bodySchema) header.push({ key: "Content-Type", value: "application/json" });

  const request: PostmanRequest = {
    method: method.toUpperCase(),
    header,
    ...(isBearerSecured(doc, operation) && {
      auth: { type: "bearer", bearer: [{ key: "token", value: "{{access_token}}", type: "string" }] },
    }),
    ...(bodySchema && {
      body: { mode: "raw", raw: JSON.stringify(exampleOf(doc, bodySchema), null, 2), options: { raw: { language: "json" } } },
    }),
    url: {
      raw: `{{baseUrl}}/${segments.join("/")}${enabledQuery.length > 0 ? `?${enabledQuery.join("&")}` : ""}`,
      host: ["{{baseUrl}}"],
      path: segments,
      ...(query.length > 0 && { query }),
      ...(pathParameters.length > 0 && { variable: pathParameters }),
    },
    ...(operation.description && { description: operation.description }),
  };

  const name = operation.summary ?? `${method.toUpperCase()} ${path}`;
  return {
    id: await id(key),
    name,
    request,
    event: [{ listen: "test", script: { type: "text/javascript", exec: testScript(doc, operation, name) } }],
    response: [],
  };
}

/** Every request checks for a 2xx; those that answer a code or tokens store them for the next steps. */
function testScript(doc: OpenApiDocument, operation: Operation, name: string): string[] {
  const lines = [`pm.test(${JSON.stringify(`${name}: 2xx`)}, function () {`, "  pm.response.to.be.success;", "});"];
  const success = resolve(doc, operation.responses?.["200"]?.content?.["application/json"]?.schema ?? {});
  const fields = success.properties ?? {};
  const stores: string[] = [];
  if ("dev_code" in fields) stores.push('  if (body.dev_code) pm.collectionVariables.set("code", body.dev_code);');
  if ("access_token" in fields && "refresh_token" in fields) {
    stores.push('  pm.collectionVariables.set("access_token", body.access_token);');
    stores.push('  pm.collectionVariables.set("refresh_token", body.refresh_token);');
  }
  if (stores.length > 0) lines.push("if (pm.response.code === 200) {", "  const body = pm.response.json();", ...stores, "}");
  return lines;
}

/**
 * A web page (or /docs) is for browsers: it answers HTML or only redirects when it succeeds, and is
 * left out. Failures do not count: a page can answer a problem+json before the page itself ran.
 */
export function answersJson(operation: Operation): boolean {
  const successes = Object.entries(operation.responses ?? {}).filter(([status]) => /^[23]/.test(status));
  const html = successes.some(([, response]) => "text/html" in (response.content ?? {}));
  return !html && successes.some(([status]) => status.startsWith("2"));
}

/** API keys sent in a header (the `users` API's `Authorization: Token …`), as placeholder headers. */
function headerKeys(doc: OpenApiDocument, operation: Operation) {
  const schemes = doc.components?.securitySchemes ?? {};
  return (operation.security ?? doc.security ?? [])
    .flatMap((requirement) => Object.keys(requirement))
    .flatMap((scheme) => {
      const found = schemes[scheme];
      return found?.type === "apiKey" && found.in === "header" && found.name
        ? [{ scheme, name: found.name, description: found.description }]
        : [];
    });
}

function isBearerSecured(doc: OpenApiDocument, operation: Operation): boolean {
  const requirements = operation.security ?? doc.security ?? [];
  const schemes = doc.components?.securitySchemes ?? {};
  return requirements.some((requirement) =>
    Object.keys(requirement).some((scheme) => schemes[scheme]?.type === "http" && schemes[scheme]?.scheme?.toLowerCase() === "bearer"),
  );
}

function parameterEntry(doc: OpenApiDocument, parameter: Parameter): KeyValue {
  const value = exampleOf(doc, parameter.schema ?? {}, parameter.name);
  const entry: KeyValue = { key: parameter.name, value: typeof value === "string" ? value : JSON.stringify(value) };
  if (parameter.description) entry.description = parameter.description;
  // Optional parameters are listed but switched off, so the request runs as the route's default.
  if (!parameter.required && parameter.in !== "path") entry.disabled = true;
  return entry;
}

/**
 * An example value for a schema: the flow variable of that name, else the schema's own example,
 * default or first enum value, else a typed placeholder. Objects list their required properties
 * (all of them when none is required).
 */
function exampleOf(doc: OpenApiDocument, raw: JsonSchema, name?: string): unknown {
  const variable = name && (FLOW_ALIASES[name] ?? name);
  if (variable && FLOW_VARIABLES.includes(variable)) return `{{${variable}}}`;
  const schema = resolve(doc, raw);
  if (schema.example !== undefined) return schema.example;
  if (schema.examples?.length) return schema.examples[0];
  if (schema.default !== undefined) return schema.default;
  if (schema.const !== undefined) return schema.const;
  if (schema.enum?.length) return schema.enum[0];
  const type = [schema.type ?? (schema.properties ? "object" : "string")].flat().find((t) => t !== "null");
  switch (type) {
    case "object": {
      const properties = schema.properties ?? {};
      const listed = schema.required?.length ? schema.required : Object.keys(properties);
      return Object.fromEntries(listed.map((key) => [key, exampleOf(doc, properties[key] ?? {}, key)]));
    }
    case "array":
      return [exampleOf(doc, schema.items ?? {})];
    case "integer":
    case "number":
      return schema.minimum ?? 0;
    case "boolean":
      return false;
    default:
      return schema.format === "email" ? "user@example.com" : `<${name ?? "string"}>`;
  }
}

/** Follows a local `$ref` and merges `allOf`, so callers see one object schema. */
function resolve(doc: OpenApiDocument, schema: JsonSchema): JsonSchema {
  if (schema.$ref) {
    const target = doc.components?.schemas?.[schema.$ref.replace("#/components/schemas/", "")];
    if (!target) throw new Error(`Unresolved schema reference ${schema.$ref}.`);
    return resolve(doc, target);
  }
  if (!schema.allOf) return schema;
  const parts = schema.allOf.map((part) => resolve(doc, part));
  return {
    type: "object",
    properties: Object.assign({}, ...parts.map((part) => part.properties ?? {})),
    required: parts.flatMap((part) => part.required ?? []),
  };
}

/** RFC 9562 UUIDv5 (SHA-1, URL namespace) of `name`: a stable id that looks like Postman's own. */
async function uuidV5(name: string): Promise<string> {
  const namespace = hexBytes("6ba7b8119dad11d180b400c04fd430c8");
  const input = new Uint8Array([...namespace, ...new TextEncoder().encode(name)]);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-1", input)).slice(0, 16);
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...hash].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function hexBytes(hex: string): number[] {
  return (hex.match(/../g) ?? []).map((pair) => Number.parseInt(pair, 16));
}
