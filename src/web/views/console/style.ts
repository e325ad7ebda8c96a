// The console's rules, appended to the pages' stylesheet on console pages only (the sign-in pages
// stay as light as they were). Chart colours meet 4.5:1 on the cards in both schemes, more than
// the 3:1 WCAG 1.4.11 asks of graphics; alarms are marked in words and with a thick border, never
// by colour alone (test/contrast.test.ts computes every pair).

export const CONSOLE_STYLE = `
:root{--chart-1:#1d4ed8;--chart-2:#0f766e;--chart-3:#9a3412;--chart-4:#6d28d9}
@media (prefers-color-scheme:dark){:root{--chart-1:#8fb0ff;--chart-2:#5eead4;--chart-3:#fdba74;--chart-4:#c4b5fd}}
main,.top{max-width:80rem}
.console-nav{margin:0 0 1.5rem;border-bottom:1px solid var(--line)}
.console-nav ul{display:flex;flex-wrap:wrap;gap:.25rem;list-style:none;margin:0;padding:0}
.console-nav a{display:inline-block;padding:.5rem .85rem;text-decoration:none;border-bottom:3px solid transparent;color:var(--text)}
.console-nav a[aria-current]{border-bottom-color:var(--accent);font-weight:700}
.console-head{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:flex-end;gap:1rem;margin:0 0 1rem}
.console-head h1{margin:0}
.filters{display:flex;flex-wrap:wrap;gap:.5rem .75rem;align-items:flex-end}
.filters label{margin:0 0 .3rem}
select,input[type=number],input[type=search]{font:inherit;padding:.6rem .7rem;border:1.5px solid var(--line);border-radius:10px;background:var(--card);color:var(--text)}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,11rem),1fr));gap:.9rem;margin:0 0 1.25rem}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:1rem 1.1rem;margin:0}
.kpi dt{color:var(--muted);font-size:.9rem;font-weight:600}
.kpi dd{margin:0}
.kpi .value{display:block;font-size:2rem;font-weight:750;line-height:1.2;font-variant-numeric:tabular-nums}
.kpi .note{display:block;color:var(--muted);font-size:.85rem}
.kpi.alarm{border:3px solid var(--error);background:var(--error-soft)}
.kpi.alarm .note{color:var(--text)}
.flag{display:block;color:var(--error);font-weight:700;font-size:.9rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,30rem),1fr));gap:1.25rem}
.charts .card{margin:0}
.chart{margin:0}
.chart figcaption{font-weight:700;margin:0 0 .5rem}
.chart svg{display:block;width:100%;height:auto}
.chart text{fill:var(--muted);font-size:11px}
.chart .axis{stroke:var(--muted)}
.chart .grid{stroke:var(--line)}
.chart .tone-1{stroke:var(--chart-1);fill:var(--chart-1)}
.chart .tone-2{stroke:var(--chart-2);fill:var(--chart-2)}
.chart .tone-3{stroke:var(--chart-3);fill:var(--chart-3)}
.chart .tone-4{stroke:var(--chart-4);fill:var(--chart-4)}
.chart .line{fill:none;stroke-width:2.5}
.chart .threshold{stroke:var(--error);stroke-width:2}
.legend{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:.5rem 0 0;padding:0;font-size:.9rem}
.legend svg{display:inline-block;width:28px;height:12px;vertical-align:middle;margin-right:.35rem}
.chart details{margin:.5rem 0 0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.alarm td{font-weight:700}
.flag-inline{color:var(--error);font-weight:700}
.pager{display:flex;gap:1rem;margin-top:1rem}
td code{word-break:break-word}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1.25rem;margin:0}
.facts dt{color:var(--muted)}
.facts dd{margin:0}
.console-form{max-width:32rem}
`;
