import { keyedHasher } from "../crypto";
import { maskPhone } from "../phone";
import { INVITE_ALPHABET, INVITE_CODE_LENGTH } from "../users/profile";
import type { SkippedRow, ValidRow } from "./validate";

/** A user the SQL inserts, unless the phone has an account by the time it runs. */
export type PlannedUser = ValidRow & {
  id: string;
  /** Keyed hash of the phone, as referrals store it (`phoneKey` in src/phone.ts). */
  phoneKey: string;
  /** The file's code, or a generated one when the file has none or an earlier row has it. */
  code: string;
  /** Taken instead of `code` when someone already in D1 owns that code at apply time. */
  fallbackCode: string;
};

/** An inviter of the file (found by phone when the SQL runs), or a code only D1 can resolve. */
export type PlannedInviter = { user: PlannedUser } | { code: string };

export type PlannedLink = { line: number; invitee: PlannedUser; inviter: PlannedInviter; referralId: string };

export type RegeneratedCode = { line: number; from: string | null; to: string; detail: string };

export type SkippedLink = { line: number; code: string; reason: "own_invite_code" | "invite_cycle" | "inviter_skipped"; detail: string };

export type Plan = {
  users: PlannedUser[];
  links: PlannedLink[];
  skipped: SkippedRow[];
  regenerated: RegeneratedCode[];
  skippedLinks: SkippedLink[];
};

/** Where the code of a row that is not imported leads: nowhere, or to the first row of the same phone. */
type ElsewhereCode = { line: number; sameAs?: ValidRow };

/**
 * Decides, in file order, what the SQL will do: the first row of a phone wins (later ones are
 * reported), a code used twice stays with its first row, and each `activated_invite_code` becomes
 * a link unless it is the row's own code, belongs to a skipped row, or would close a loop.
 */
export async function planImport(
  rows: (ValidRow | SkippedRow)[],
  pepper: string,
  phoneKey: (e164: string) => Promise<string>,
): Promise<Plan> {
  const skipped: SkippedRow[] = [];
  const kept: ValidRow[] = [];
  const firstOfPhone = new Map<string, ValidRow>();
  const elsewhere = new Map<string, ElsewhereCode>();
  const fileCodes = new Set<string>();
  for (const row of rows) {
    if ("reason" in row) {
      skipped.push(row);
      if (row.code) fileCodes.add(row.code);
      if (row.code && !elsewhere.has(row.code)) elsewhere.set(row.code, { line: row.line });
      continue;
    }
    if (row.inviteCode) fileCodes.add(row.inviteCode);
    if (row.activatedInviteCode) fileCodes.add(row.activatedInviteCode);
    const first = firstOfPhone.get(row.phone.e164);
    if (first) {
      skipped.push({ line: row.line, reason: "duplicate_phone", detail: `${maskPhone(row.phone.e164)} is already on line ${first.line}` });
      // Same person: a link to this row's code goes to the account of the first row.
      if (row.inviteCode && !elsewhere.has(row.inviteCode)) elsewhere.set(row.inviteCode, { line: row.line, sameAs: first });
      continue;
    }
    firstOfPhone.set(row.phone.e164, row);
    kept.push(row);
  }

  const codes = codePicker(pepper, fileCodes);
  const phones = kept.map((row) => row.phone.e164);
  const [phoneKeys] = await Promise.all([Promise.all(phones.map(phoneKey)), codes.prefetch(phones)]);
  const regenerated: RegeneratedCode[] = [];
  const owners = new Map<string, PlannedUser>();
  const plannedOf = new Map<ValidRow, PlannedUser>();
  const users: PlannedUser[] = [];
  for (const [i, row] of kept.entries()) {
    const owner = row.inviteCode ? owners.get(row.inviteCode) : undefined;
    const code = row.inviteCode && !owner ? row.inviteCode : await codes.pick(row.phone.e164);
    if (owner) {
      regenerated.push({
        line: row.line,
        from: row.inviteCode,
        to: code,
        detail: `line ${owner.line} has ${row.inviteCode} too and keeps it; links with ${row.inviteCode} go to line ${owner.line}`,
      });
    } else if (!row.inviteCode) {
      regenerated.push({ line: row.line, from: null, to: code, detail: "the row has no invite code" });
    }
    const user: PlannedUser = {
      ...row,
      id: crypto.randomUUID(),
      phoneKey: phoneKeys[i] as string,
      code,
      fallbackCode: await codes.pick(row.phone.e164),
    };
    owners.set(code, user);
    plannedOf.set(row, user);
    users.push(user);
  }

  const { links, skippedLinks } = planLinks(users, (code) => {
    const owner = owners.get(code);
    if (owner) return { user: owner };
    const other = elsewhere.get(code);
    if (!other) return { code };
    const same = other.sameAs && plannedOf.get(other.sameAs);
    return same ? { user: same } : { skippedLine: other.line };
  });
  return { users, links, skipped: skipped.sort((a, b) => a.line - b.line), regenerated, skippedLinks };
}

function planLinks(
  users: PlannedUser[],
  resolve: (code: string) => PlannedInviter | { skippedLine: number },
): { links: PlannedLink[]; skippedLinks: SkippedLink[] } {
  const links: PlannedLink[] = [];
  const skippedLinks: SkippedLink[] = [];
  const inviterOf = new Map<PlannedUser, PlannedUser>();
  for (const invitee of users) {
    const code = invitee.activatedInviteCode;
    if (!code) continue;
    const inviter = resolve(code);
    const { line } = invitee;
    if ("skippedLine" in inviter) {
      skippedLinks.push({
        line,
        code,
        reason: "inviter_skipped",
        detail: `${code} is the code of line ${inviter.skippedLine}, which is skipped`,
      });
      continue;
    }
    if ("user" in inviter) {
      if (inviter.user === invitee) {
        skippedLinks.push({ line, code, reason: "own_invite_code", detail: `${code} is the row's own code` });
        continue;
      }
      if (leadsTo(inviter.user, invitee, inviterOf)) {
        skippedLinks.push({
          line,
          code,
          reason: "invite_cycle",
          detail: `line ${inviter.user.line} (${code}) is already invited, directly or not, by this row`,
        });
        continue;
      }
      inviterOf.set(invitee, inviter.user);
    }
    links.push({ line, invitee, inviter, referralId: crypto.randomUUID() });
  }
  return { links, skippedLinks };
}

/** Does the chain of inviters from `from` upwards reach `target`? (Chains are loop-free by construction.) */
function leadsTo(from: PlannedUser, target: PlannedUser, inviterOf: Map<PlannedUser, PlannedUser>): boolean {
  for (let user: PlannedUser | undefined = from; user; user = inviterOf.get(user)) {
    if (user === target) return true;
  }
  return false;
}

/**
 * Generated codes are derived from the phone under a subkey of the pepper instead of drawn at
 * random, so generating the SQL or the check twice from one file gives the same codes. Each is
 * new to the file and to every code picked before it. One hash yields several candidates, and
 * `prefetch` computes the first hash of many phones at once (WebCrypto is asynchronous).
 */
function codePicker(pepper: string, fileCodes: Set<string>) {
  const hash = keyedHasher(pepper, "import-invite-code");
  const used = new Set(fileCodes);
  const states = new Map<string, { block: number; codes: Promise<string[]> }>();
  const candidates = (e164: string) => {
    let state = states.get(e164);
    if (!state) {
      state = { block: 0, codes: hash(`${e164}#0`).then(codesFromHex) };
      states.set(e164, state);
    }
    return state;
  };
  return {
    prefetch: (phones: string[]) => Promise.all(phones.map((e164) => candidates(e164).codes)),
    pick: async (e164: string): Promise<string> => {
      const state = candidates(e164);
      for (;;) {
        const codes = await state.codes;
        const code = codes.shift();
        if (code === undefined) {
          state.block += 1;
          state.codes = hash(`${e164}#${state.block}`).then(codesFromHex);
        } else if (!used.has(code)) {
          used.add(code);
          return code;
        }
      }
    },
  };
}

// Rejection sampling over the hash bytes, as randomFromAlphabet does over random ones.
function codesFromHex(hex: string): string[] {
  const limit = 256 - (256 % INVITE_ALPHABET.length);
  const codes: string[] = [];
  let code = "";
  for (let i = 0; i + 2 <= hex.length; i += 2) {
    const byte = Number.parseInt(hex.slice(i, i + 2), 16);
    if (byte >= limit) continue;
    code += INVITE_ALPHABET[byte % INVITE_ALPHABET.length];
    if (code.length === INVITE_CODE_LENGTH) {
      codes.push(code);
      code = "";
    }
  }
  return codes;
}
