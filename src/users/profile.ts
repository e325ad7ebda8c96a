import { type SQL, sql } from "../db/sql";
import type { Role } from "../tokens/jwt";

/** A user row as the profile queries select it (snake_case, straight from SQL). */
export type ProfileRow = {
  id: string;
  phone: string;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  invite_code: string;
  activated_invite_code: string | null;
  password_hash: string | null;
  role: Role;
  is_active: number;
  points: number;
  referrals_count: number;
  level_2: number;
  created_at: number;
  last_login_at: number | null;
};

/** The columns every profile query selects from `users u`, including the referral tree. */
export const profileColumns: SQL = sql.raw(`u.id, u.phone, u.first_name, u.last_name, u.email, u.invite_code,
  u.activated_invite_code, u.password_hash, u.role, u.is_active, u.points, u.referrals_count,
  u.level2_count AS level_2,
  u.created_at, u.last_login_at`);

const iso = (ms: number | null) => (ms == null ? null : new Date(ms).toISOString());

/** The contract's `User` object. */
export function toUser(row: ProfileRow) {
  return {
    id: row.id,
    phone: row.phone,
    first_name: row.first_name,
    last_name: row.last_name,
    email: row.email,
    invite_code: row.invite_code,
    activated_invite_code: row.activated_invite_code,
    has_password: row.password_hash != null,
    role: row.role,
    created_at: iso(row.created_at) as string,
    last_login_at: iso(row.last_login_at),
    points: row.points,
    referrals_count: row.referrals_count,
    referral_tree: { level_1: row.referrals_count, level_2: row.level_2, total_network: row.referrals_count + row.level_2 },
  };
}

export type User = ReturnType<typeof toUser>;

// No 0/O, 1/I/L: codes are read aloud and typed from screenshots.
export const INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
export const INVITE_CODE_LENGTH = 6;
