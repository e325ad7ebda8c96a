import { describe, expect, it } from "vitest";
import { STYLE } from "../src/web/assets";
import { CONSOLE_STYLE } from "../src/web/views/console/style";

// WCAG 2.2 AA (1.4.3): text needs a contrast ratio of at least 4.5:1 against what it is drawn on,
// in the light scheme and in the dark one. The pairs come from the pages' stylesheet itself:
// - a rule that sets both `color` and a background is one pair;
// - a rule that sets only `color` can sit on any surface: the page's background, and any
//   background a rule sets without choosing the text colour (cards, alerts, the sandbox box…).
// The console's pages add their own rules (src/web/views/console/style.ts) to the same sheet, and
// their SVG charts are drawn on the cards: chart text (`fill`) is held to 4.5:1 there, and the
// marks (lines, bars, markers, the threshold) to 3:1 (1.4.11, non-text contrast).

type Rule = { selector: string; declarations: Map<string, string> };

function rulesOf(css: string): { rules: Rule[]; light: Map<string, string>; dark: Map<string, string> } {
  // Every dark-scheme block (the pages' sheet and the console's each have one), in order.
  const darkBlocks = /@media \(prefers-color-scheme:dark\)\{(.*?\})\}/gs;
  const dark = [...css.matchAll(darkBlocks)].map((match) => match[1] ?? "").join("");
  const rules: Rule[] = [];
  // Other @media blocks only resize things: their rules are read like the rest.
  const flat = css.replace(darkBlocks, "").replace(/@media[^{]*\{/g, "");
  for (const [, selector = "", body = ""] of flat.matchAll(/([^{}]+)\{([^{}]*)\}/g)) {
    const declarations = new Map<string, string>();
    for (const declaration of body.split(";")) {
      const colon = declaration.indexOf(":");
      if (colon > 0) declarations.set(declaration.slice(0, colon).trim(), declaration.slice(colon + 1).trim());
    }
    rules.push({ selector: selector.trim(), declarations });
  }
  const variables = (block: string) =>
    new Map([...block.matchAll(/--([\w-]+):([^;}]+)/g)].map(([, name = "", value = ""]) => [name, value]));
  const roots = rules.filter((rule) => rule.selector === ":root").flatMap((rule) => [...rule.declarations]);
  const light = variables(roots.map(([name, value]) => `${name}:${value}`).join(";"));
  return { rules, light, dark: new Map([...light, ...variables(dark)]) };
}

/** A plain colour (hex, or a custom property holding one) in `scheme`; null for gradients, `transparent`, … */
function resolve(value: string | undefined, scheme: Map<string, string>): string | null {
  const variable = /^var\(--([\w-]+)\)$/.exec(value ?? "")?.[1];
  const colour = variable ? scheme.get(variable) : value;
  return colour && /^#([0-9a-f]{3}){1,2}$/i.test(colour) ? colour : null;
}

/** Relative luminance and contrast ratio, WCAG 2.2 definitions. */
function luminance(hex: string): number {
  const digits = hex.length === 4 ? [...hex.slice(1)].map((d) => d + d).join("") : hex.slice(1);
  const [r = 0, g = 0, b = 0] = [0, 2, 4].map((i) => {
    const channel = Number.parseInt(digits.slice(i, i + 2), 16) / 255;
    return channel <= 0.04045 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

const background = (rule: Rule) => rule.declarations.get("background-color") ?? rule.declarations.get("background");

describe.each([
  { sheet: "the pages' colours", css: STYLE },
  { sheet: "the console's colours (with the pages')", css: STYLE + CONSOLE_STYLE },
])("$sheet", ({ css }) => {
  const { rules, light, dark } = rulesOf(css);

  it("computes contrast as WCAG does", () => {
    expect(contrast("#000", "#fff")).toBeCloseTo(21, 5);
    expect(contrast("#fff", "#ff9b8f")).toBeCloseTo(2.03, 2);
    expect(contrast("#777", "#fff")).toBeCloseTo(4.48, 2);
  });

  it.each([
    ["light", light],
    ["dark", dark],
  ])("meet AA (4.5:1) for every text colour on what it is drawn on, %s scheme", (_, scheme) => {
    const pairs: { what: string; text: string; on: string }[] = [];
    const surfaces = new Set<string>();
    for (const rule of rules) {
      const on = resolve(background(rule), scheme);
      if (on && (!rule.declarations.has("color") || rule.selector === "body")) surfaces.add(on);
    }
    expect(surfaces.size).toBeGreaterThanOrEqual(5);
    for (const rule of rules) {
      const text = resolve(rule.declarations.get("color"), scheme);
      if (!text) continue;
      const on = resolve(background(rule), scheme);
      if (on) pairs.push({ what: rule.selector, text, on });
      else for (const surface of surfaces) pairs.push({ what: `${rule.selector} on ${surface}`, text, on: surface });
    }
    expect(pairs.map((pair) => pair.what)).toEqual(expect.arrayContaining(["button.danger", "button", ".badge"]));
    const failing = pairs
      .map((pair) => ({ ...pair, ratio: Math.round(contrast(pair.text, pair.on) * 100) / 100 }))
      .filter((pair) => pair.ratio < 4.5);
    expect(failing).toEqual([]);
  });

  it.each([
    ["light", light],
    ["dark", dark],
  ])("chart text meets 4.5:1 and chart marks 3:1 on the cards they are drawn on, %s scheme", (_, scheme) => {
    const card = resolve("var(--card)", scheme) as string;
    const pairs: { what: string; colour: string; needs: number }[] = [];
    for (const rule of rules) {
      // Gridlines are decoration (the axis values are text); 1.4.11 asks nothing of them.
      if (!rule.selector.startsWith(".chart") || rule.selector.endsWith(".grid")) continue;
      for (const property of ["fill", "stroke"]) {
        const colour = resolve(rule.declarations.get(property), scheme);
        if (colour) pairs.push({ what: `${rule.selector} ${property}`, colour, needs: rule.selector.endsWith(" text") ? 4.5 : 3 });
      }
    }
    if (css === STYLE) return expect(pairs).toEqual([]);
    expect(pairs.map((pair) => pair.what)).toEqual(
      expect.arrayContaining([".chart text fill", ".chart .tone-1 stroke", ".chart .threshold stroke"]),
    );
    const failing = pairs
      .map((pair) => ({ ...pair, ratio: Math.round(contrast(pair.colour, card) * 100) / 100 }))
      .filter((pair) => pair.ratio < pair.needs);
    expect(failing).toEqual([]);
  });
});
