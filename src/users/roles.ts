import type { Config } from "../config";
import { type SQL, sql } from "../db/sql";

// ADMIN_PHONES grants `admin` at every sign-in; removing a phone from the var demotes it for good
// (spec: Admin). A role granted by another admin is not the var's to take away, so the source of
// each admin role is kept in `users.admin_source`.

/** SQL condition over `users u`: the role is admin and still backed by its source. */
export function effectiveAdminSql(config: Config): SQL {
  // One JSON parameter, however long the list: D1 binds at most 100 variables per statement.
  const listed = sql`u.phone IN (SELECT value FROM json_each(${JSON.stringify(config.ADMIN_PHONES)}))`;
  return sql`(u.role = 'admin' AND (u.admin_source IS NOT 'config' OR ${listed}))`;
}

/** SET clauses for a sign-in of `phone`: apply the var's grant, or lapse a grant it no longer backs. */
export function signInRoleSql(config: Config, phone: string): SQL {
  const listed = config.ADMIN_PHONES.includes(phone) ? 1 : 0;
  return sql`role = CASE WHEN ${listed} = 1 THEN 'admin' WHEN role = 'admin' AND admin_source = 'config' THEN 'user' ELSE role END,
    admin_source = CASE
      WHEN ${listed} = 1 THEN CASE WHEN role = 'admin' AND admin_source IS NOT 'config' THEN COALESCE(admin_source, 'granted') ELSE 'config' END
      WHEN role = 'admin' AND admin_source = 'config' THEN NULL
      ELSE admin_source END`;
}

/** The role and source a brand-new user starts with. */
export function initialRole(config: Config, phone: string): { role: "admin" | "user"; source: "config" | null } {
  return config.ADMIN_PHONES.includes(phone) ? { role: "admin", source: "config" } : { role: "user", source: null };
}
