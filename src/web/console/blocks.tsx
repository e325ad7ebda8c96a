import type { Context } from "hono";
import { Hono } from "hono";
import { decodeCursor } from "../../db/cursor";
import {
  BLOCK_SECONDS,
  type BlockScope,
  blockDestination,
  COUNTRY_PATTERN,
  liftBlock,
  listActiveBlocks,
  listBlocks,
  PREFIX_PATTERN,
  REASON_MAX,
} from "../../fraud/blocks";
import type { WebEnv } from "../context";
import { type FormErrors, fieldErrors, readForm } from "../forms";
import { BlocksPage, type BlocksView } from "../views/console/blocks";
import { consoleRequest, queryText, refusedPage } from "./page";

// `/admin/blocks`: the fraud guard's blocks through the services of /v1/admin/fraud/blocks (the
// same admin check, audit and webhook events). Block and lift are form posts answered with a
// redirect back; a form the page cannot read is shown again with the reason beside its field.
// The active blocks are their own query, not a filter of the recent page (which newer blocks
// would push them off).

const PAGE_SIZE = 50;
const FIELDS = ["target", "seconds", "reason"] as const;

/** What the block form's target names: `+` and 4–14 digits is a prefix, two letters a country (as the API checks them). */
export function blockTarget(text: string): { scope: BlockScope; value: string } | null {
  const compact = text.replace(/[\s().-]/g, "");
  if (PREFIX_PATTERN.test(compact)) return { scope: "prefix", value: compact };
  if (COUNTRY_PATTERN.test(compact)) return { scope: "country", value: compact.toUpperCase() };
  return null;
}

async function render(c: Context<WebEnv>, extra: Pick<BlocksView, "errors" | "form"> = {}, status: 200 | 422 = 200) {
  const { page, services, claims } = consoleRequest(c, "/admin/blocks");
  const cursor = decodeCursor(queryText(c, "cursor", 200));
  const [active, blocks] = await Promise.all([
    listActiveBlocks(services, claims),
    listBlocks(services, claims, { limit: PAGE_SIZE, cursor }),
  ]);
  if ("error" in active) return refusedPage(c, page, active);
  if ("error" in blocks) return refusedPage(c, page, blocks);
  const done = c.req.query("done");
  const t = page.t.console.blocks;
  const notice = done === "blocked" ? t.blocked : done === "lifted" ? t.liftedNote : undefined;
  const view: BlocksView = {
    active: active.items,
    activeCount: active.count,
    blocks: blocks.items,
    next: blocks.next_cursor,
    defaultSeconds: services.config.FRAUD_BLOCK_SECONDS,
    notice,
    ...extra,
  };
  return c.html(<BlocksPage page={page} view={view} />, status);
}

export const blockPages = new Hono<WebEnv>()
  .get("/admin/blocks", (c) => render(c))
  .post("/admin/blocks", async (c) => {
    const field = await readForm(c);
    const form = { target: field("target").trim(), seconds: field("seconds").trim(), reason: field("reason").trim() };
    const t = c.get("t").console.blocks;
    const target = blockTarget(form.target);
    const seconds = form.seconds === "" ? undefined : Number(form.seconds);
    const problems: Record<string, string> = {};
    if (!target) problems.target = t.targetInvalid;
    if (seconds !== undefined && !(Number.isInteger(seconds) && seconds >= BLOCK_SECONDS.min && seconds <= BLOCK_SECONDS.max))
      problems.seconds = t.secondsInvalid;
    if (form.reason.length > REASON_MAX) problems.reason = c.get("t").form.tooLong(REASON_MAX);
    if (!target || Object.keys(problems).length > 0) {
      const errors: FormErrors = fieldErrors(FIELDS, problems);
      return render(c, { errors, form }, 422);
    }
    const { page, services, claims } = consoleRequest(c, "/admin/blocks");
    const block = await blockDestination(services, claims, { ...target, seconds, reason: form.reason || undefined });
    if ("error" in block) return refusedPage(c, page, block);
    return c.redirect("/admin/blocks?done=blocked", 303);
  })
  .post("/admin/blocks/:id/lift", async (c) => {
    const { page, services, claims } = consoleRequest(c, "/admin/blocks");
    const lifted = await liftBlock(services, claims, c.req.param("id").slice(0, 64));
    if (lifted !== "lifted") return refusedPage(c, page, lifted);
    return c.redirect("/admin/blocks?done=lifted", 303);
  });
