// Generates the scale data set as SQL (multi-row INSERTs) for `wrangler d1 execute --file`:
// USERS users with unique valid Belarusian mobiles (+37529…, +37533…) and unique 6-character invite
// codes; user 0 is the hub with DIRECT direct referrals (users 1..DIRECT), each of which has
// PER_DIRECT referrals of its own (the hub's second level); the rest are unconnected. Counters
// (referrals_count, level2_count, points, counters.users_total) match the rows.
import { createHash, randomInt, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { parsePhoneNumberFromString } from "libphonenumber-js/mobile";

const ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"; // src/users/profile.ts INVITE_ALPHABET
const BONUS = 100; // REFERRAL_BONUS_POINTS default (src/config.ts)

/** The phone of user `i`: valid and unique for 0 ≤ i < 20,000,000. */
export function phoneFor(i) {
  // Even i → +37529 1xxxxxx, odd i → +37533 1xxxxxx: unique per i, always 7 subscriber digits.
  const subscriber = String(1_000_000 + Math.floor(i / 2));
  return `+375${i % 2 === 0 ? "29" : "33"}${subscriber}`;
}

function assertMobile(phone) {
  const parsed = parsePhoneNumberFromString(phone);
  if (!parsed?.isValid() || parsed.country !== "BY" || parsed.number !== phone)
    throw new Error(`seed phone ${phone} is not a valid BY mobile`);
}

const sqlText = (value) => (value == null ? "NULL" : typeof value === "number" ? String(value) : `'${String(value).replace(/'/g, "''")}'`);

/**
 * Writes the seed SQL to `file`. Returns the ids and phones the benchmark needs.
 * @param {{ file: string, users?: number, direct?: number, perDirect?: number, maxStatementBytes?: number, baseTime?: number }} options
 */
export async function writeSeed({
  file,
  users = 100_000,
  direct = 10_000,
  perDirect = 5,
  maxStatementBytes = 90_000,
  baseTime = Date.UTC(2025, 0, 1),
}) {
  const level2 = direct * perDirect;
  if (1 + direct + level2 > users) throw new Error("not enough users for the referral tree");
  const ids = Array.from({ length: users }, () => randomUUID());
  const codes = new Set();
  const codeOf = [];
  while (codeOf.length < users) {
    let code = "";
    for (let j = 0; j < 6; j++) code += ALPHABET[randomInt(ALPHABET.length)];
    if (codes.has(code)) continue;
    codes.add(code);
    codeOf.push(code);
  }
  const inviterOf = (i) => (i === 0 ? null : i <= direct ? 0 : i <= direct + level2 ? 1 + Math.floor((i - direct - 1) / perDirect) : null);
  const createdAt = (i) => baseTime + i * 1000; // inviters always older than their invitees

  const out = createWriteStream(file);
  const write = async (text) => {
    if (!out.write(text)) await once(out, "drain");
  };

  const userColumns =
    "id, phone, invite_code, activated_invite_code, invited_by, role, is_active, points, referrals_count, level2_count, created_at";
  // D1 refuses statements over 100,000 bytes (SQLITE_TOOBIG), so each INSERT stays under the budget.
  let rows = [];
  let bytes = 0;
  let statements = 0;
  const flush = async (table, columns) => {
    if (rows.length === 0) return;
    await write(`INSERT INTO ${table} (${columns}) VALUES\n${rows.join(",\n")};\n`);
    statements++;
    rows = [];
    bytes = 0;
  };
  const add = async (table, columns, row) => {
    if (bytes + row.length + 2 > maxStatementBytes - columns.length - 64) await flush(table, columns);
    rows.push(row);
    bytes += row.length + 2;
  };
  for (let i = 0; i < users; i++) {
    const phone = phoneFor(i);
    assertMobile(phone);
    const inviter = inviterOf(i);
    const referrals = i === 0 ? direct : i <= direct ? perDirect : 0;
    const level2Count = i === 0 ? level2 : 0;
    await add(
      "users",
      userColumns,
      `(${[
        ids[i],
        phone,
        codeOf[i],
        inviter == null ? null : codeOf[inviter],
        inviter == null ? null : ids[inviter],
        "user",
        1,
        referrals * BONUS,
        referrals,
        level2Count,
        createdAt(i),
      ]
        .map(sqlText)
        .join(", ")})`,
    );
  }
  await flush("users", userColumns);

  const referralColumns = "id, inviter_id, invitee_id, phone_key, bonus_points, created_at";
  for (let i = 1; i <= direct + level2; i++) {
    const phoneKey = createHash("sha256")
      .update(`bench-phone-key:${phoneFor(i)}`)
      .digest("hex");
    await add(
      "referrals",
      referralColumns,
      `(${[randomUUID(), ids[inviterOf(i)], ids[i], phoneKey, BONUS, createdAt(i)].map(sqlText).join(", ")})`,
    );
  }
  await flush("referrals", referralColumns);
  await write(
    `INSERT INTO counters (name, value) VALUES ('users_total', ${users}) ON CONFLICT (name) DO UPDATE SET value = excluded.value;\n`,
  );
  statements++;
  out.end();
  await once(out, "finish");

  const zero = users - 1; // unconnected, no referrals
  const probe = users - 2;
  return {
    users,
    direct,
    level2,
    statements,
    hub: { id: ids[0], phone: phoneFor(0), inviteCode: codeOf[0] },
    zero: { id: ids[zero], phone: phoneFor(zero) },
    probe: { id: ids[probe], phone: phoneFor(probe) },
    directSample: { id: ids[1], phone: phoneFor(1) },
  };
}
