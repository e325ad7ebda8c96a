import { describe, expect, it } from "vitest";
import committed from "../docs/postman_collection.json";
import { answersJson, type OpenApiDocument, type PostmanCollection, postmanCollection, serializeCollection } from "../src/tools/postman";
import { call } from "./helpers";

async function openapi(): Promise<OpenApiDocument> {
  const response = await call("GET", "/openapi.json");
  expect(response.status).toBe(200);
  return response.json();
}

const folder = (collection: PostmanCollection, name: string) => collection.item.find((f) => f.name === name);
const request = (collection: PostmanCollection, folderName: string, method: string, raw: string) =>
  folder(collection, folderName)?.item.find((item) => item.request.method === method && item.request.url.raw === raw);

describe("Postman collection", () => {
  it("docs/postman_collection.json is what npm run postman writes from /openapi.json", async () => {
    const fresh = JSON.parse(serializeCollection(await postmanCollection(await openapi())));
    expect(fresh, "docs/postman_collection.json is stale: run npm run postman and commit it").toEqual(committed);
  });

  it("leads with the sign-in flow, then one folder per tag in document order", async () => {
    const document = await openapi();
    const collection = await postmanCollection(document);
    const flow = folder(collection, "Sign-in flow")?.item.map((item) => `${item.request.method} ${item.request.url.raw}`);
    expect(flow).toEqual([
      "POST {{baseUrl}}/v1/auth/otp",
      "POST {{baseUrl}}/v1/auth/otp/verify",
      "GET {{baseUrl}}/v1/me",
      "POST {{baseUrl}}/v1/auth/token",
    ]);
    const operations = Object.values(document.paths)
      .flatMap((item) => Object.values(item))
      .filter(answersJson);
    // In the order the document declares its tags; each operation in the folder of its first one.
    const used = new Set(operations.map((operation) => operation.tags?.[0]));
    const tags = (document.tags ?? []).map((tag) => tag.name).filter((name) => used.has(name));
    expect(collection.item.map((f) => f.name)).toEqual(["Sign-in flow", ...tags]);
    expect(tags.slice(0, 3)).toEqual(["Service", "Sign-in", "Tokens"]);
    const requests = collection.item.slice(1).reduce((sum, f) => sum + f.item.length, 0);
    expect(requests).toBe(operations.length);
  });

  it("wires the flow through collection variables", async () => {
    const collection = await postmanCollection(await openapi());
    expect(collection.variable.map((v) => v.key)).toEqual(["baseUrl", "phone", "code", "access_token", "refresh_token"]);

    const send = request(collection, "Sign-in flow", "POST", "{{baseUrl}}/v1/auth/otp");
    expect(JSON.parse(send?.request.body?.raw ?? "")).toEqual({ phone: "{{phone}}" });
    expect(send?.event[0]?.script.exec).toContain('  if (body.dev_code) pm.collectionVariables.set("code", body.dev_code);');

    const verify = request(collection, "Sign-in flow", "POST", "{{baseUrl}}/v1/auth/otp/verify");
    expect(JSON.parse(verify?.request.body?.raw ?? "")).toEqual({ phone: "{{phone}}", code: "{{code}}" });
    const refresh = request(collection, "Sign-in flow", "POST", "{{baseUrl}}/v1/auth/token");
    expect(JSON.parse(refresh?.request.body?.raw ?? "")).toEqual({ refresh_token: "{{refresh_token}}" });
    for (const tokens of [verify, refresh]) {
      expect(tokens?.event[0]?.script.exec).toEqual(
        expect.arrayContaining([
          '  pm.collectionVariables.set("access_token", body.access_token);',
          '  pm.collectionVariables.set("refresh_token", body.refresh_token);',
        ]),
      );
    }
  });

  it("sends the access token only on secured routes", async () => {
    const collection = await postmanCollection(await openapi());
    const bearer = { type: "bearer", bearer: [{ key: "token", value: "{{access_token}}", type: "string" }] };
    expect(request(collection, "Sign-in flow", "GET", "{{baseUrl}}/v1/me")?.request.auth).toEqual(bearer);
    expect(request(collection, "Admin", "GET", "{{baseUrl}}/v1/admin/stats")?.request.auth).toEqual(bearer);
    expect(request(collection, "Sign-in", "POST", "{{baseUrl}}/v1/auth/otp")?.request.auth).toBeUndefined();
    expect(request(collection, "Service", "GET", "{{baseUrl}}/health")?.request.auth).toBeUndefined();
  });

  it("turns path and query parameters into Postman variables and switched-off query entries", async () => {
    const collection = await postmanCollection(await openapi());
    const revoke = request(collection, "Sessions", "DELETE", "{{baseUrl}}/v1/me/sessions/:id");
    expect(revoke?.request.url.variable).toEqual([{ key: "id", value: "<id>", description: expect.stringContaining("session") }]);
    const referrals = request(collection, "Referrals", "GET", "{{baseUrl}}/v1/me/referrals");
    expect(referrals?.request.url.query).toEqual([
      { key: "limit", value: "20", disabled: true },
      { key: "cursor", value: "<cursor>", disabled: true },
    ]);
  });

  it("is a function of the document alone: stable ids, no request origin", async () => {
    const document = await openapi();
    const first = serializeCollection(await postmanCollection(document));
    const other = serializeCollection(
      await postmanCollection({ ...document, servers: [{ url: "https://elsewhere.example" }] } as OpenApiDocument),
    );
    expect(other).toBe(first);
    expect(first).not.toContain("api.test");

    const collection = JSON.parse(first) as PostmanCollection;
    const ids = [collection.info._postman_id, ...collection.item.flatMap((f) => [f.id, ...f.item.map((item) => item.id)])];
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("gives each compatibility API a folder, trailing slashes kept, and leaves the web pages out", async () => {
    const collection = await postmanCollection(await openapi());
    const names = collection.item.map((f) => f.name);
    expect(names).toEqual(
      expect.arrayContaining(["Compatibility: users", "Compatibility: register", "Compatibility: auth", "Compatibility: usr"]),
    );
    expect(names).not.toContain("Web pages");
    const raws = collection.item.flatMap((f) => f.item.map((item) => item.request.url.raw));
    expect(raws.some((raw) => /\{\{baseUrl\}\}\/(profile|verify|logout|lang)\b/.test(raw))).toBe(false);

    const send = request(collection, "Compatibility: users", "POST", "{{baseUrl}}/users/send-code/");
    expect(send?.request.url.path).toEqual(["users", "send-code", ""]);
    expect(JSON.parse(send?.request.body?.raw ?? "")).toEqual({ phone_number: "{{phone}}" });
    const profile = request(collection, "Compatibility: users", "GET", "{{baseUrl}}/users/profile/");
    expect(profile?.request.header).toContainEqual(expect.objectContaining({ key: "Authorization", value: "<compatToken>" }));
    expect(profile?.request.auth).toBeUndefined();
    const refresh = request(collection, "Compatibility: register", "POST", "{{baseUrl}}/api/token/refresh/");
    expect(JSON.parse(refresh?.request.body?.raw ?? "")).toEqual({ refresh: "{{refresh_token}}" });
  });

  it("refuses a document without the sign-in flow", async () => {
    await expect(postmanCollection({ info: { title: "empty" }, paths: {} })).rejects.toThrow("POST /v1/auth/otp");
  });
});
