import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// Times are integer milliseconds since the epoch, always supplied by the Worker's clock (never
// SQLite's), so one injected clock drives every expiry. See src/db/STORAGE.md.
//
// Triggers live in hand-written migrations, which drizzle-kit does not know about (0016: country
// minutes on `code_sends`; 0018: webhook fan-out, `users_total`, verified rollups; 0019: one
// delivery per event and endpoint). A generated migration that rebuilds one of those tables
// (SQLite's copy-and-drop) drops its triggers: write them again in it. test/schema-triggers.test.ts
// fails when one is missing.

export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    phone: text("phone").notNull().unique(),
    firstName: text("first_name"),
    lastName: text("last_name"),
    email: text("email"),
    inviteCode: text("invite_code").notNull().unique(),
    activatedInviteCode: text("activated_invite_code"),
    invitedBy: text("invited_by"),
    passwordHash: text("password_hash"),
    role: text("role", { enum: ["user", "admin"] })
      .notNull()
      .default("user"),
    /**
     * Where an admin role came from: `config` (ADMIN_PHONES; lapses as soon as the phone leaves the
     * var) or `granted` (by another admin; kept until revoked).
     */
    adminSource: text("admin_source", { enum: ["config", "granted"] }),
    isActive: integer("is_active", { mode: "boolean" }).notNull().default(true),
    points: integer("points").notNull().default(0),
    /** Direct referrals ever activated (deleted invitees still count). */
    referralsCount: integer("referrals_count").notNull().default(0),
    /** Referrals of direct referrals: a counter kept in the activation batch, so reads never scan. */
    level2Count: integer("level2_count").notNull().default(0),
    /** Random per activation request; later statements of its batch act only for the winner. */
    inviteMarker: text("invite_marker"),
    createdAt: integer("created_at").notNull(),
    lastLoginAt: integer("last_login_at"),
  },
  (table) => [index("users_invited_by_idx").on(table.invitedBy, table.createdAt), index("users_created_idx").on(table.createdAt, table.id)],
);

/** One row per sign-in: the refresh-token family. Its id is the `sid` claim. */
export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    /** When the user last proved the phone or password (ms); becomes the `auth_time` claim. */
    authTime: integer("auth_time").notNull(),
    revokedAt: integer("revoked_at"),
    userAgent: text("user_agent"),
    country: text("country"),
  },
  (table) => [index("sessions_user_idx").on(table.userId)],
);

/**
 * Every refresh token a session was ever given, by SHA-256 hash. Rotated ones stay (with
 * `rotated_at`) so presenting one again is recognised as reuse and revokes the family.
 */
export const refreshTokens = sqliteTable(
  "refresh_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    rotatedAt: integer("rotated_at"),
    /** Hash of the successor; lets later statements of the same batch see which request won. */
    replacedBy: text("replaced_by"),
  },
  (table) => [index("refresh_tokens_session_idx").on(table.sessionId)],
);

/**
 * Strict per-phone state, changed only by single conditional statements: send cooldown and
 * windows, the wrong-guess budget and the lockout. Survives account deletion on purpose.
 */
export const phoneGuards = sqliteTable("phone_guards", {
  phone: text("phone").primaryKey(),
  /** The last accepted send (the cooldown); cleared when its delivery failed. */
  lastSentAt: integer("last_sent_at"),
  /** Set by the wrong guess that fills the sliding failure window (`rate_events` scope `code_fail`). */
  lockedUntil: integer("locked_until"),
  /** Random per request: marks the row as changed by that request within its batch. */
  sendMarker: text("send_marker"),
  /** The password lock, set by the failure that fills the `password_fail` window. */
  pwLockedUntil: integer("pw_locked_until"),
  /** Wrong passwords in a row since the last right one or reset (NIST SP 800-63B-4 §3.2.2 caps it). */
  pwFailStreak: integer("pw_fail_streak").notNull().default(0),
});

/**
 * Sliding-window counters: one row per counted event (a send, a guess, a failure) of a scope and
 * key (an IP or a phone). "At most N per window" is `COUNT(*) WHERE at > now - window < N`, tested
 * and written by one conditional INSERT, so parallel requests can never overshoot. Rows older
 * than a day (the longest window) are dropped by the retention job.
 */
export const rateEvents = sqliteTable(
  "rate_events",
  {
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    at: integer("at").notNull(),
    /** The request that wrote the row, so later statements of its batch can see that it counted. */
    marker: text("marker").notNull(),
  },
  (table) => [index("rate_events_scope_key_at").on(table.scope, table.key, table.at), index("rate_events_at").on(table.at)],
);

/**
 * The live one-time code of a phone and purpose; its keyed hash sits in KV (`otp:<phone>:<purpose>`
 * and `otp:<code_id>`). A `decoy` is a reset challenge for a phone without a password account: it
 * meets guesses exactly like a real one, and no guess can ever consume it.
 */
export const otpChallenges = sqliteTable(
  "otp_challenges",
  {
    phone: text("phone").notNull(),
    purpose: text("purpose", { enum: ["login", "reset_password", "change_phone"] }).notNull(),
    codeId: text("code_id").notNull(),
    /** For `change_phone`: the user the code is bound to. */
    userId: text("user_id"),
    /** Guesses evaluated against this code (wrong ones, and the right one that consumed it). */
    attempts: integer("attempts").notNull().default(0),
    decoy: integer("decoy").notNull().default(0),
    expiresAt: integer("expires_at").notNull(),
    consumedAt: integer("consumed_at"),
    consumeMarker: text("consume_marker"),
    /** The request whose guess was evaluated last (a wrong one unless it also consumed). */
    verifyMarker: text("verify_marker"),
  },
  (table) => [primaryKey({ columns: [table.phone, table.purpose] })],
);

export type UserRow = typeof users.$inferSelect;

/**
 * One row per (inviter, invitee phone), kept when the invitee deletes the account so the
 * inviter's list and counts stay, and so one phone earns one inviter the bonus only once.
 */
export const referrals = sqliteTable(
  "referrals",
  {
    id: text("id").primaryKey(),
    inviterId: text("inviter_id").notNull(),
    /** The invitee's user id; no foreign key on purpose: a deleted invitee leaves the row behind. */
    inviteeId: text("invitee_id").notNull(),
    /** Keyed hash of the invitee's phone (never the phone itself). */
    phoneKey: text("phone_key").notNull(),
    bonusPoints: integer("bonus_points").notNull(),
    createdAt: integer("created_at").notNull(),
    createdMarker: text("created_marker"),
  },
  (table) => [
    uniqueIndex("referrals_inviter_phone_idx").on(table.inviterId, table.phoneKey),
    index("referrals_inviter_list_idx").on(table.inviterId, table.createdAt, table.id),
    index("referrals_invitee_idx").on(table.inviteeId),
  ],
);

/**
 * SMS sent per UTC day, globally (`scope = 'global'`) and per country (`scope = 'country:XX'`):
 * the daily budget that stops an SMS-pumping run before the bill does. Checked and counted in the
 * send batch, so it is exact under concurrency.
 */
export const smsBudget = sqliteTable(
  "sms_budget",
  {
    day: text("day").notNull(),
    scope: text("scope").notNull(),
    count: integer("count").notNull().default(0),
  },
  (table) => [primaryKey({ columns: [table.day, table.scope] })],
);

/**
 * The audit trail. Never holds a code, token, password or full phone: only a masked phone and a
 * keyed hash of it (so `?phone=` can filter). Written inside the batch of the change it records.
 */
export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    userId: text("user_id"),
    phoneMasked: text("phone_masked"),
    phoneKey: text("phone_key"),
    ip: text("ip"),
    country: text("country"),
    requestId: text("request_id"),
    /** Small JSON object: reason, purpose, actor, changed fields. */
    detail: text("detail"),
    createdAt: integer("created_at").notNull(),
  },
  (table) => [
    index("audit_events_time_idx").on(table.createdAt, table.id),
    index("audit_events_type_idx").on(table.type, table.createdAt, table.id),
    index("audit_events_user_idx").on(table.userId, table.createdAt, table.id),
    index("audit_events_phone_idx").on(table.phoneKey, table.createdAt, table.id),
  ],
);

/** Counters kept by the statements that change them, so stats never count rows (`users_total`: triggers on `users`). */
export const counters = sqliteTable("counters", {
  name: text("name").primaryKey(),
  value: integer("value").notNull().default(0),
});

/** An operator's webhook endpoint. Secrets are stored encrypted (AES-GCM under an HKDF subkey of PASSWORD_PEPPER). */
export const webhookEndpoints = sqliteTable("webhook_endpoints", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  description: text("description"),
  /** JSON array of event types, or `["*"]`. */
  eventTypes: text("event_types").notNull(),
  enabled: integer("enabled").notNull().default(1),
  secret: text("secret").notNull(),
  /** After a rotation the old secret keeps signing beside the new one until `previous_secret_until`. */
  previousSecret: text("previous_secret"),
  previousSecretUntil: integer("previous_secret_until"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * The outbox: one row per event, written in the same batch as the change it describes, only when
 * some enabled endpoint subscribes to its type. `id` is the `webhook-id` every delivery carries.
 */
export const webhookEvents = sqliteTable(
  "webhook_events",
  {
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    /** The whole body as sent: `{ "type", "timestamp", "data" }`. */
    payload: text("payload").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (table) => [index("webhook_events_created").on(table.createdAt)],
);

/** One event to one endpoint: its attempts and status (`pending`, `delivered`, `dead`). */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    eventId: text("event_id").notNull(),
    endpointId: text("endpoint_id").notNull(),
    status: text("status", { enum: ["pending", "delivered", "dead"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at").notNull(),
    /** A consumer's claim while it sends, so two copies of one Queue message cannot both deliver. */
    claimedUntil: integer("claimed_until"),
    claim: text("claim"),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    deliveredAt: integer("delivered_at"),
    createdAt: integer("created_at").notNull(),
  },
  (table) => [
    uniqueIndex("webhook_deliveries_event_endpoint").on(table.eventId, table.endpointId),
    index("webhook_deliveries_endpoint").on(table.endpointId, table.createdAt, table.id),
    index("webhook_deliveries_due").on(table.status, table.nextAttemptAt),
  ],
);

/**
 * Every delivery attempt of a code, one row per provider tried (src/delivery). Written after the
 * answer, in one statement for all attempts of a send; a receipt updates one row by the provider's
 * message id. No phone: the country and the prefix (E.164 without its last 4 digits) are what the
 * analytics and fraud guard group by.
 */
export const deliveryAttempts = sqliteTable(
  "delivery_attempts",
  {
    codeId: text("code_id").notNull(),
    attempt: integer("attempt").notNull(),
    channel: text("channel").notNull(),
    provider: text("provider").notNull(),
    country: text("country"),
    prefix: text("prefix").notNull(),
    /** sent | delivered | failed | undelivered */
    status: text("status").notNull(),
    providerMessageId: text("provider_message_id"),
    errorCode: text("error_code"),
    /** SMS parts (GSM-7 / UCS-2); null for other channels. */
    segments: integer("segments"),
    /** DELIVERY_PRICES at send time, in the operator's currency unit; 0 for a failed attempt. */
    cost: real("cost").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.codeId, table.attempt] }),
    index("delivery_attempts_message_idx").on(table.provider, table.providerMessageId),
    index("delivery_attempts_time_idx").on(table.createdAt),
  ],
);

/** A user's passkey (WebAuthn credential). `id` is ours (the API's); `credential_id` is the authenticator's. */
export const passkeys = sqliteTable(
  "passkeys",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** base64url credential id, as the authenticator reports it. */
    credentialId: text("credential_id").notNull().unique(),
    /** base64url COSE public key. */
    publicKey: text("public_key").notNull(),
    /** The authenticator's signature counter (0 for authenticators that do not keep one). */
    counter: integer("counter").notNull().default(0),
    /** JSON array of transports the browser reported (hints for later ceremonies). */
    transports: text("transports"),
    name: text("name").notNull(),
    backedUp: integer("backed_up", { mode: "boolean" }).notNull().default(false),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at"),
    /** Set when the signature counter went backwards (a cloned authenticator?): the passkey is refused from then on. */
    flaggedAt: integer("flagged_at"),
    /** Random per sign-in: marks the row as used by that request within its batch. */
    useMarker: text("use_marker"),
  },
  (table) => [index("passkeys_user_idx").on(table.userId, table.createdAt)],
);

/**
 * WebAuthn challenges, single-use: consumed by one conditional UPDATE in the batch that acts on
 * them (KV cannot promise single use). A registration challenge is bound to its user.
 */
export const passkeyChallenges = sqliteTable(
  "passkey_challenges",
  {
    /** base64url, as it comes back in the client data. */
    challenge: text("challenge").primaryKey(),
    purpose: text("purpose", { enum: ["registration", "authentication"] }).notNull(),
    userId: text("user_id"),
    expiresAt: integer("expires_at").notNull(),
    consumedAt: integer("consumed_at"),
    consumeMarker: text("consume_marker"),
  },
  (table) => [index("passkey_challenges_expiry_idx").on(table.expiresAt)],
);

/**
 * Fraud-guard blocks of a destination: a number prefix (E.164 without its last 4 digits) or a
 * country. Active while `lifted_at` is null and `until` is ahead; the edge copy in KV
 * (`fraud:block:<scope>:<value>`) lets a send refuse without D1, and D1 confirms what KV says.
 */
export const fraudBlocks = sqliteTable(
  "fraud_blocks",
  {
    id: text("id").primaryKey(),
    scope: text("scope", { enum: ["prefix", "country"] }).notNull(),
    value: text("value").notNull(),
    reason: text("reason"),
    /** `manual` (an admin) or `auto` (the fraud guard). */
    source: text("source").notNull(),
    createdBy: text("created_by"),
    createdAt: integer("created_at").notNull(),
    until: integer("until").notNull(),
    liftedAt: integer("lifted_at"),
    liftedBy: text("lifted_by"),
    /** Random per lift request: marks the row as lifted by that request within its batch. */
    liftMarker: text("lift_marker"),
    /** For an automatic block: the numbers that tripped it (codes sent, judged and verified in the window). */
    sends: integer("sends"),
    judged: integer("judged"),
    verified: integer("verified"),
  },
  (table) => [
    index("fraud_blocks_destination").on(table.scope, table.value, table.until),
    index("fraud_blocks_created").on(table.createdAt),
  ],
);

/**
 * One row per code a provider accepted, kept for the fraud guard's window (src/fraud/guard.ts):
 * no phone, only its prefix (E.164 without the last 4 digits) and country. Written after the
 * send's answer with its delivery attempts; `verified_at` set by the verify that consumed it.
 */
export const codeSends = sqliteTable(
  "code_sends",
  {
    codeId: text("code_id").primaryKey(),
    prefix: text("prefix").notNull(),
    country: text("country"),
    channel: text("channel").notNull(),
    provider: text("provider").notNull(),
    sentAt: integer("sent_at").notNull(),
    verifiedAt: integer("verified_at"),
  },
  (table) => [
    index("code_sends_prefix").on(table.prefix, table.sentAt, table.verifiedAt),
    index("code_sends_country").on(table.country, table.sentAt, table.verifiedAt),
    index("code_sends_time").on(table.sentAt),
  ],
);

/**
 * Hourly delivery and verification counters per prefix, channel and provider (src/fraud/rollups.ts),
 * changed by the statements of the send, verify and receipt that they count. `hour` is the UTC
 * hour the code was sent in (ms); a verification counts in its code's hour, so conversion is per
 * cohort. `v_<s>` count verifications that took at most s seconds (and more than the bucket
 * before), for the p50/p90 estimates.
 */
export const trafficHourly = sqliteTable(
  "traffic_hourly",
  {
    hour: integer("hour").notNull(),
    prefix: text("prefix").notNull(),
    channel: text("channel").notNull(),
    provider: text("provider").notNull(),
    country: text("country"),
    attempts: integer("attempts").notNull().default(0),
    sent: integer("sent").notNull().default(0),
    delivered: integer("delivered").notNull().default(0),
    failed: integer("failed").notNull().default(0),
    verified: integer("verified").notNull().default(0),
    cost: real("cost").notNull().default(0),
    v10: integer("v_10").notNull().default(0),
    v20: integer("v_20").notNull().default(0),
    v30: integer("v_30").notNull().default(0),
    v45: integer("v_45").notNull().default(0),
    v60: integer("v_60").notNull().default(0),
    v90: integer("v_90").notNull().default(0),
    v120: integer("v_120").notNull().default(0),
    v180: integer("v_180").notNull().default(0),
    v300: integer("v_300").notNull().default(0),
    vMore: integer("v_more").notNull().default(0),
  },
  // The key leads with `hour`: the analytics' and retention's hour ranges search it (no second index to keep on every send).
  (table) => [primaryKey({ columns: [table.hour, table.prefix, table.channel, table.provider] })],
);

/** Fraud alarms (a `guess_storm`): raised by one conditional INSERT, active until `until`. */
export const fraudAlarms = sqliteTable(
  "fraud_alarms",
  {
    id: text("id").primaryKey(),
    kind: text("kind").notNull(),
    raisedAt: integer("raised_at").notNull(),
    until: integer("until").notNull(),
    /** The estimated wrong guesses in the hour when it was raised. */
    failures: integer("failures").notNull(),
  },
  (table) => [index("fraud_alarms_kind_until").on(table.kind, table.until)],
);

/**
 * Codes sent and verified per country and UTC minute (`minute` = sent_at ÷ 60,000), kept by
 * triggers on `code_sends` (migration 0015), so the country rule of the fraud guard reads at most
 * one row per minute of its window and the exact rows of its two edge minutes only, not every send
 * of the hour (src/fraud/guard.ts).
 */
export const countryMinutes = sqliteTable(
  "country_minutes",
  {
    country: text("country").notNull(),
    minute: integer("minute").notNull(),
    sends: integer("sends").notNull().default(0),
    verified: integer("verified").notNull().default(0),
  },
  (table) => [primaryKey({ columns: [table.country, table.minute] })],
);
