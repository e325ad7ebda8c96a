import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { loadPhoneMetadata } from "../src/phone";

// Runs before each test file; applyD1Migrations skips what is already applied.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
// Unit tests call the phone functions directly, without a request to load the numbering plans.
await loadPhoneMetadata(env.ASSETS, 3000);
