import type { Child } from "hono/jsx";
import type { PeriodKey } from "../../console/period";
import type { PageContext } from "../../middleware";
import { Layout } from "../layout";
import { CONSOLE_STYLE } from "./style";

export type ConsoleSection = "overview" | "traffic" | "blocks" | "users" | "audit" | "webhooks";

const SECTIONS: [ConsoleSection, string][] = [
  ["overview", "/admin"],
  ["traffic", "/admin/traffic"],
  ["blocks", "/admin/blocks"],
  ["users", "/admin/users"],
  ["audit", "/admin/audit"],
  ["webhooks", "/admin/webhooks"],
];

/** Every console page: the pages' layout with the console's rules and its section nav. */
export function ConsoleLayout(props: { page: PageContext; section: ConsoleSection; title: string; children: Child }) {
  const { page } = props;
  const t = page.t.console;
  return (
    <Layout page={page} title={`${props.title} · ${t.title}`} style={CONSOLE_STYLE}>
      <nav class="console-nav" aria-label={t.nav.label}>
        <ul>
          {SECTIONS.map(([section, href]) => (
            <li>
              <a href={href} aria-current={section === props.section ? "page" : undefined}>
                {t.nav[section]}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {props.children}
    </Layout>
  );
}

/** A heading with the page's filter form beside it. */
export function ConsoleHead(props: { title: string; children?: Child }) {
  return (
    <div class="console-head">
      <h1>{props.title}</h1>
      {props.children}
    </div>
  );
}

/** The period choice of a GET filter form (last 24 hours, 7 days, 30 days). */
export function PeriodSelect(props: { page: PageContext; selected: PeriodKey }) {
  const p = props.page.t.console.period;
  return (
    <div>
      <label for="console-period">{p.label}</label>
      <select id="console-period" name="period">
        {(Object.keys(p.options) as PeriodKey[]).map((key) => (
          <option value={key} selected={key === props.selected}>
            {p.options[key]}
          </option>
        ))}
      </select>
    </div>
  );
}
