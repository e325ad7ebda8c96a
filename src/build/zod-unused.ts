// Bundle-time stand-ins for two zod 4 features this Worker never calls, wired by `[alias]` in
// wrangler.toml: `z.compile` (zod/v4/core/compile.js) and `z.fromJSONSchema`
// (zod/v4/classic/from-json-schema.js). @hono/zod-openapi patches the whole `z` object, so esbuild
// keeps every export of zod's namespaces; these two alone are ~43 KiB of minified source.
// Tests run against the real modules; the browser suite and the benches run the aliased bundle.

const notBundled = (name: string) => new Error(`zod's ${name} is not bundled in this Worker (src/build/zod-unused.ts)`);

export const INVALID = Symbol.for("zod.compile.invalid");
export class ZodCompileAsyncError extends Error {}
export class ZodCompileUnsupportedError extends Error {}

export function compile(): never {
  throw notBundled("compile");
}
export function compileFn(): never {
  throw notBundled("compile");
}
export function withParser(): never {
  throw notBundled("withParser");
}
export function fromJSONSchema(): never {
  throw notBundled("fromJSONSchema");
}
