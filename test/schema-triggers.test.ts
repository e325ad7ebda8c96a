import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

// The hand-written triggers the code relies on (src/db/schema.ts explains why they are checked):
// without them counters, analytics and webhook deliveries stop with no error.
describe("schema triggers", () => {
  it("every trigger the code relies on exists after all migrations, on its table", async () => {
    const rows = await env.DB.prepare("SELECT name, tbl_name AS on_table FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all();
    expect(rows.results).toEqual([
      { name: "code_sends_count_country", on_table: "code_sends" },
      { name: "code_sends_verified_first_hourly", on_table: "code_sends" },
      { name: "code_sends_verified_hourly", on_table: "code_sends" },
      { name: "code_sends_verify_country", on_table: "code_sends" },
      { name: "users_count_delete", on_table: "users" },
      { name: "users_count_insert", on_table: "users" },
      { name: "webhook_deliveries_once", on_table: "webhook_deliveries" },
      { name: "webhook_events_fan_out", on_table: "webhook_events" },
    ]);
  });

  it("an event fans out to enabled, subscribed endpoints only, once each, even when an older Worker inserts its deliveries too", async () => {
    const now = Date.now();
    const endpoint = (id: string, enabled: number, types: string[]) =>
      env.DB.prepare(
        "INSERT INTO webhook_endpoints (id, url, secret, event_types, enabled, created_at, updated_at) VALUES (?, ?, 'whsec_x', ?, ?, ?, ?)",
      ).bind(id, `https://receiver.test/${id}`, JSON.stringify(types), enabled, now, now);
    await env.DB.batch([
      endpoint("trig-all", 1, ["*"]),
      endpoint("trig-users", 1, ["user.created"]),
      endpoint("trig-other", 1, ["session.revoked"]),
      endpoint("trig-off", 0, ["*"]),
    ]);
    try {
      const event = (id: string) =>
        env.DB.prepare("INSERT INTO webhook_events (id, type, payload, created_at) VALUES (?, 'user.created', '{}', ?)").bind(id, now);
      const deliveredTo = async (id: string) =>
        (
          await env.DB.prepare(
            "SELECT endpoint_id FROM webhook_deliveries WHERE event_id = ? AND endpoint_id LIKE 'trig-%' ORDER BY endpoint_id",
          )
            .bind(id)
            .all()
        ).results.map((row) => row.endpoint_id);
      // The event alone: the trigger makes the deliveries.
      await event("msg_trigger_alone").run();
      expect(await deliveredTo("msg_trigger_alone")).toEqual(["trig-all", "trig-users"]);
      // The version before migration 0018 also inserted them, in the same batch: skipped, not refused.
      await env.DB.batch([
        event("msg_trigger_old"),
        env.DB.prepare(
          `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at)
           SELECT lower(hex(randomblob(16))), 'msg_trigger_old', e.id, 'pending', 0, ?, ? FROM webhook_endpoints e
           WHERE e.id LIKE 'trig-%' AND e.enabled = 1 AND EXISTS (SELECT 1 FROM json_each(e.event_types) WHERE value IN ('*', 'user.created'))`,
        ).bind(now, now),
      ]);
      expect(await deliveredTo("msg_trigger_old")).toEqual(["trig-all", "trig-users"]);
    } finally {
      await env.DB.prepare("UPDATE webhook_endpoints SET enabled = 0 WHERE id LIKE 'trig-%'").run();
    }
  });
});
