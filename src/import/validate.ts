import type { Config } from "../config";
import { type Phone, phoneFromInput } from "../phone";
import { normaliseInviteCode } from "../referrals/service";
import { INVITE_ALPHABET, INVITE_CODE_LENGTH } from "../users/profile";
import { ProfilePatchSchema } from "../users/schemas";
import type { CsvRow } from "./csv";

/** What the importer needs of the Worker's settings; use the production values (see docs/IMPORT.md). */
export type ImportConfig = Pick<Config, "PASSWORD_PEPPER" | "DEFAULT_REGION" | "ALLOWED_COUNTRIES" | "REFERRAL_BONUS_POINTS">;

/** A row that passed every check, in the shapes the API stores. */
export type ValidRow = {
  line: number;
  phone: Phone;
  /** Upper case; null when the file has none (one is generated). */
  inviteCode: string | null;
  activatedInviteCode: string | null;
  createdAt: number;
  firstName: string | null;
  lastName: string | null;
  email: string | null;
};

export type SkipReason =
  | "unreadable_row"
  | "invalid_phone"
  | "country_not_allowed"
  | "duplicate_phone"
  | "invalid_created_at"
  | "invalid_invite_code"
  | "invalid_activated_invite_code"
  | "invalid_name"
  | "invalid_email";

/** A row left out of the import, and why; `code` is its invite code when that much was readable. */
export type SkippedRow = { line: number; reason: SkipReason; detail: string; code?: string };

/**
 * Checks one row with the API's own rules: phones as `POST /v1/auth/otp` reads them (`region`,
 * else DEFAULT_REGION, for national formats; ALLOWED_COUNTRIES), names and email as
 * `PATCH /v1/me` accepts them, invite codes of the API's shape. Anything else skips the row.
 */
export function validateRow(config: ImportConfig, row: CsvRow, options: { region?: string; now: number }): ValidRow | SkippedRow {
  const { line } = row;
  if ("error" in row) return { line, reason: "unreadable_row", detail: row.error };
  const { fields } = row;
  const ownCode = normaliseInviteCode(fields.invite_code);
  const skip = (reason: SkipReason, detail: string): SkippedRow => ({ line, reason, detail, ...(ownCode ? { code: ownCode } : {}) });

  const phone = phoneFromInput(config, fields.phone, options.region);
  if ("error" in phone) {
    const reason = phone.error === "country_not_allowed" ? "country_not_allowed" : "invalid_phone";
    return skip(reason, `${quote(fields.phone)}: ${phone.detail ?? phone.error}`);
  }

  const createdAt = parseTimestamp(fields.created_at);
  if (createdAt === null) return skip("invalid_created_at", `${quote(fields.created_at)} is not a date and time`);
  if (createdAt > options.now) return skip("invalid_created_at", `${quote(fields.created_at)} is in the future`);

  if (ownCode === null && fields.invite_code !== "") {
    return skip("invalid_invite_code", `${quote(fields.invite_code)} is not an invite code ${codeShape}`);
  }
  const activatedInviteCode = fields.activated_invite_code === "" ? null : normaliseInviteCode(fields.activated_invite_code);
  if (activatedInviteCode === null && fields.activated_invite_code !== "") {
    return skip("invalid_activated_invite_code", `${quote(fields.activated_invite_code)} is not an invite code ${codeShape}`);
  }

  const profile = ProfilePatchSchema.safeParse({
    first_name: fields.first_name || null,
    last_name: fields.last_name || null,
    email: fields.email || null,
  });
  if (!profile.success) {
    const issue = profile.error.issues[0];
    const field = String(issue?.path[0] ?? "first_name");
    return skip(field === "email" ? "invalid_email" : "invalid_name", `${field}: ${issue?.message ?? "invalid"}`);
  }
  return {
    line,
    phone,
    inviteCode: ownCode,
    activatedInviteCode,
    createdAt,
    firstName: profile.data.first_name ?? null,
    lastName: profile.data.last_name ?? null,
    email: profile.data.email ?? null,
  };
}

const codeShape = `(${INVITE_CODE_LENGTH} characters of ${INVITE_ALPHABET})`;

// ISO 8601 and what Django's serialisers and `dumpdata` write: "2021-03-04 05:06:07.123456+03:30",
// "2021-03-04T05:06:07Z", a bare date. Without a zone the time is taken as UTC (USE_TZ=True).
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Milliseconds since the epoch, or null for text that is not a real date and time. */
export function parseTimestamp(raw: string): number | null {
  const match = TIMESTAMP.exec(raw);
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? 0)) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const millis = Number((match[7] ?? "").padEnd(3, "0").slice(0, 3));
  const local = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const back = new Date(local);
  // Date.UTC rolls 2021-02-30 over into March and maps years below 100 to 19xx: refuse both.
  if (
    back.getUTCFullYear() !== year ||
    back.getUTCMonth() !== month - 1 ||
    back.getUTCDate() !== day ||
    back.getUTCHours() !== hour ||
    back.getUTCMinutes() !== minute ||
    back.getUTCSeconds() !== second
  ) {
    return null;
  }
  const zone = (match[8] ?? "Z").toUpperCase();
  if (zone === "Z" || zone === "UTC") return local;
  const sign = zone.startsWith("-") ? -1 : 1;
  const digits = zone.slice(1).replace(":", "");
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2) || 0);
  if (hours > 14 || minutes > 59) return null;
  return local - sign * (hours * 60 + minutes) * 60_000;
}

function quote(value: string): string {
  const short = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return JSON.stringify(short);
}
