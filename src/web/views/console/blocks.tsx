import { type Block, REASON_MAX } from "../../../fraud/blocks";
import type { FormErrors } from "../../forms";
import type { PageContext } from "../../middleware";
import { CsrfField, Field, Notice } from "../fields";
import { formatsOf } from "./format";
import { ConsoleHead, ConsoleLayout } from "./layout";
import { DataTable } from "./table";

export type BlocksView = {
  /** The blocks in force now (their own query, not a filter of `blocks`), each with a lift button. */
  active: Block[];
  /** How many blocks are in force (`active` may hold fewer when there are very many). */
  activeCount: number;
  /** A page of all blocks, newest first; its inactive ones are the recent table. */
  blocks: Block[];
  next: string | null;
  /** FRAUD_BLOCK_SECONDS: the length of a block whose form leaves it empty. */
  defaultSeconds: number;
  notice?: string;
  errors?: FormErrors;
  form?: { target: string; seconds: string; reason: string };
};

/** `/admin/blocks`: active blocks first (each with its lift button), then the block form and the recent ones. */
export function BlocksPage(props: { page: PageContext; view: BlocksView }) {
  const { page, view } = props;
  const b = page.t.console.blocks;
  const f = formatsOf(page.t);
  const active = view.active;
  const recent = view.blocks.filter((block) => !block.active);
  const source = (block: Block) => (block.source === "manual" || block.source === "auto" ? b.sources[block.source] : block.source);
  // Both tables open with what was blocked, why, by whom and when; an automatic block's "why"
  // adds the numbers that tripped it under its reason.
  const described = [b.value, b.scope, b.reason, b.source, b.created];
  const describe = (block: Block) => (
    <>
      <td>
        <code>{block.value}</code>
      </td>
      <td>{b.scopes[block.scope]}</td>
      <td>
        {block.reason ?? "—"}
        {block.tripped ? (
          <span class="meta" data-tripped>
            <br />
            {b.tripped(f.count(block.tripped.sends), f.count(block.tripped.judged), f.count(block.tripped.verified))}
          </span>
        ) : null}
      </td>
      <td>{source(block)}</td>
      <td>{f.dateTime(block.created_at)}</td>
    </>
  );
  return (
    <ConsoleLayout page={page} section="blocks" title={b.title}>
      <ConsoleHead title={b.title} />
      <p class="lead">{b.lead}</p>
      <Notice message={view.notice} />
      <section class="card" aria-labelledby="blocks-active">
        <h2 id="blocks-active">
          {b.active}: {f.count(view.activeCount)}
          {view.activeCount > 0 ? <span class="flag-inline"> ⚠ {page.t.console.alarm}</span> : null}
        </h2>
        <DataTable
          headers={[...described, b.until, b.lift]}
          rows={active}
          empty={<p>{b.noneActive}</p>}
          row={(block) => (
            <tr data-block={block.id}>
              {describe(block)}
              <td>{f.dateTime(block.until)}</td>
              <td>
                <form method="post" action={`/admin/blocks/${encodeURIComponent(block.id)}/lift`}>
                  <CsrfField page={page} />
                  <button type="submit" class="secondary" aria-label={b.liftLabel(block.value)}>
                    {b.lift}
                  </button>
                </form>
              </td>
            </tr>
          )}
        />
      </section>
      <section class="card" aria-labelledby="blocks-add">
        <h2 id="blocks-add">{b.addTitle}</h2>
        <form method="post" action="/admin/blocks" class="console-form">
          <CsrfField page={page} />
          <Field form="block" name="target" label={b.target} hint={b.targetHint} errors={view.errors} value={view.form?.target} required />
          <Field
            form="block"
            name="seconds"
            label={b.seconds}
            hint={b.secondsHint(view.defaultSeconds)}
            optional={page.t.form.optional}
            inputmode="numeric"
            errors={view.errors}
            value={view.form?.seconds}
          />
          <Field
            form="block"
            name="reason"
            label={b.reason}
            optional={page.t.form.optional}
            maxlength={REASON_MAX}
            errors={view.errors}
            value={view.form?.reason}
          />
          <button type="submit" class="danger">
            {b.add}
          </button>
        </form>
      </section>
      <section class="card" aria-labelledby="blocks-recent">
        <h2 id="blocks-recent">{b.recent}</h2>
        <DataTable
          headers={[...described, b.ended]}
          rows={recent}
          empty={<p>{b.noneRecent}</p>}
          row={(block) => (
            <tr>
              {describe(block)}
              <td>{block.lifted_at ? `${b.lifted} ${f.dateTime(block.lifted_at)}` : f.dateTime(block.until)}</td>
            </tr>
          )}
        />
        {view.next ? (
          <p class="pager">
            <a href={`/admin/blocks?${new URLSearchParams({ cursor: view.next })}`} rel="next">
              {b.older}
            </a>
          </p>
        ) : null}
      </section>
    </ConsoleLayout>
  );
}
