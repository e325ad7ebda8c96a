import type { Context } from "hono";
import { Hono } from "hono";
import { getUser, listUsers, updateUser } from "../../admin/service";
import { decodeCursor } from "../../db/cursor";
import { type Failure, fail } from "../../http/problem";
import type { WebEnv } from "../context";
import { formErrors, pageStatus, readForm } from "../forms";
import { UserPage, UsersPage } from "../views/console/users";
import { consoleRequest, queryText, refusedPage } from "./page";

// `/admin/users`: search and detail through the services of /v1/admin/users (each look at full
// phones is recorded as `admin_viewed` by them). Deactivate, reactivate and role changes are form
// posts answered with a redirect back to the detail; a refusal the operator can act on (trying to
// lock themselves out) is shown on the detail page itself.

const PAGE_SIZE = 25;
const ID_MAX = 64;
/** A form whose value is none of its own buttons' (a forged or broken post): nothing changes. */
const unreadable = fail("validation_failed", { detail: "The form's value is not one of its choices." });

async function showUser(c: Context<WebEnv>, id: string, refusal?: Failure) {
  const { page, services, claims } = consoleRequest(c, "/admin/users");
  const user = await getUser(services, claims, id.slice(0, ID_MAX));
  if ("error" in user) return refusedPage(c, page, user);
  // getUser records who looked (admin_viewed): keep the bookmark of that write.
  c.set("wrote", true);
  const errors = refusal ? formErrors(c, refusal, []) : undefined;
  const notice = c.req.query("saved") ? page.t.console.users.saved : undefined;
  return c.html(<UserPage page={page} user={user} errors={errors} notice={notice} />, refusal ? pageStatus(c, refusal) : 200);
}

/** Applies one change from a detail page's form; the page again (with the refusal) or a redirect back. */
async function changeUser(c: Context<WebEnv>, change: { is_active?: boolean; role?: "user" | "admin" }) {
  const { page, services, claims } = consoleRequest(c, "/admin/users");
  const id = c.req.param("id") ?? "";
  // The page the redirect shows reads the user (and records that view) once.
  const changed = await updateUser(services, claims, id.slice(0, ID_MAX), change, false);
  if (changed && "error" in changed) return changed.error === "self_lockout" ? showUser(c, id, changed) : refusedPage(c, page, changed);
  return c.redirect(`/admin/users/${encodeURIComponent(id)}?saved=1`, 303);
}

export const userPages = new Hono<WebEnv>()
  .get("/admin/users", async (c) => {
    const { page, services, claims } = consoleRequest(c, "/admin/users");
    const q = queryText(c, "q");
    // A cursor this site did not issue starts from the top rather than failing the page.
    const cursor = decodeCursor(queryText(c, "cursor", 200));
    const users = await listUsers(services, claims, { q: q || undefined, limit: PAGE_SIZE, cursor });
    if ("error" in users) return refusedPage(c, page, users);
    c.set("wrote", true);
    return c.html(<UsersPage page={page} q={q} users={users.items} next={users.next_cursor} />);
  })
  .get("/admin/users/:id", (c) => showUser(c, c.req.param("id")))
  .post("/admin/users/:id/active", async (c) => {
    const value = (await readForm(c))("is_active");
    if (value !== "0" && value !== "1") return showUser(c, c.req.param("id"), unreadable);
    return changeUser(c, { is_active: value === "1" });
  })
  .post("/admin/users/:id/role", async (c) => {
    const value = (await readForm(c))("role");
    if (value !== "user" && value !== "admin") return showUser(c, c.req.param("id"), unreadable);
    return changeUser(c, { role: value });
  });
