// Bundle-time stand-in for zod's `locales` namespace (wired by `[alias]` in wrangler.toml).
// @hono/zod-openapi patches the whole `z` object, so esbuild cannot drop zod's 60-odd locale
// files (~40 KiB gzip) even though nothing here uses them; zod's default English messages stay.
export { default as en } from "zod/v4/locales/en.js";
