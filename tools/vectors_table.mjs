#!/usr/bin/env node
// Renders the golden attribution vectors as the Markdown table of docs/attribution.md,
// section "Golden vectors" (the notation is explained in the paragraph above the table):
//
//   node tools/vectors_table.mjs tests/vectors/attribution.json                 # print it
//   node tools/vectors_table.mjs tests/vectors/attribution.json --check docs/attribution.md
//   node tools/vectors_table.mjs tests/vectors/attribution.json --write docs/attribution.md
//
// The table is the lines from its header ("| # | case | ...") to the last line starting with
// "|" after it; --write replaces exactly those lines and keeps the rest of the file byte for
// byte, --check exits 1 if they differ from this script's output. The JSON file is the
// authority; tests/vectors/docs_table_test.sh runs the --check.
import { readFileSync, writeFileSync } from "node:fs";

const [file, mode, doc] = process.argv.slice(2);
if (!file || (mode !== undefined && !((mode === "--check" || mode === "--write") && doc))) {
  console.error("usage: vectors_table.mjs ATTRIBUTION.json [--check|--write DOC.md]");
  process.exit(2);
}
const { cases } = JSON.parse(readFileSync(file, "utf8"));
const out = [];
const line = (s = "") => out.push(s);
const cell = (s) => String(s ?? "").replace(/\|/g, "\\|").replace(/\n+/g, " ");
const none = "—";
// A code span that survives backticks in its text.
const code = (s) => {
  const runs = String(s).match(/`+/g) ?? [];
  const fence = "`".repeat(Math.max(0, ...runs.map((r) => r.length)) + 1);
  return runs.length ? `${fence} ${s} ${fence}` : `${fence}${s}${fence}`;
};
const json = (v) => JSON.stringify(v);

// Create-body members after the domain / match type and pattern, in the order given.
const short = {
  utm_source: "src",
  utm_medium: "med",
  utm_campaign: "camp",
  utm_term: "term",
  utm_content: "cont",
  priority: "prio",
  is_active: "active",
};
const members = (body, skip) =>
  Object.entries(body)
    .filter(([k]) => !skip.includes(k))
    .map(([k, v]) => `${short[k] ?? k}=${json(v)}`);

function rules(c) {
  const pts = (c.passthrough ?? []).map((p, i) =>
    [`pt#${i + 1}`, json(p.domain), ...members(p, ["domain"])].join(" "),
  );
  // match_type is shown even when the body leaves it to its default, exact.
  const maps = (c.mappings ?? []).map((m, i) =>
    [`map#${i + 1}`, m.match_type ?? "exact", json(m.referrer_pattern), ...members(m, ["referrer_pattern", "match_type"])].join(" "),
  );
  const all = [...pts, ...maps].map(code);
  return all.length ? all.join("<br>") : none;
}

function visit(v) {
  const parts = [`ref: ${"referrer" in v ? code(json(v.referrer)) : "(absent)"}`, `landing: ${code(json(v.landing_url))}`];
  if ("session" in v) {
    const s = v.session;
    const shown = s && typeof s === "object" && Object.keys(s).length ? members(s, []).join(" ") : json(s);
    parts.push(`session: ${code(shown)}`);
  }
  return parts.join("<br>");
}

line("| # | case | rules | visit | reason | utm_source / utm_medium | rule | ai_platform | known_referrer | click_id | channel | warnings |");
line("|---|---|---|---|---|---|---|---|---|---|---|---|");
cases.forEach((c, i) => {
  const e = c.expected;
  const row = [
    i + 1,
    c.name,
    rules(c),
    visit(c.visit),
    code(e.reason),
    `${code(json(e.utm_source))} / ${code(json(e.utm_medium))}`,
    e.rule ? `${e.rule.type} ${e.rule.id}` : none,
    e.ai_platform == null ? none : code(e.ai_platform),
    e.known_referrer == null ? none : `${e.known_referrer.name} (${e.known_referrer.category})`,
    e.click_id == null ? none : code(e.click_id),
    e.channel,
    e.warnings.length,
  ];
  line(`| ${row.map(cell).join(" | ")} |`);
});
const table = out.join("\n") + "\n";

if (!mode) {
  process.stdout.write(table);
  process.exit(0);
}

const text = readFileSync(doc, "utf8");
const lines = text.split("\n");
const start = lines.findIndex((l) => l.startsWith("| # | case |"));
if (start < 0) {
  console.error(`${doc}: no golden-vector table (a line starting with "| # | case |")`);
  process.exit(2);
}
let end = start;
while (end < lines.length && lines[end].startsWith("|")) end++;
const current = lines.slice(start, end).join("\n") + "\n";

if (mode === "--check") {
  if (current !== table) {
    const have = lines.slice(start, end);
    const want = table.slice(0, -1).split("\n");
    let at = 0;
    while (at < have.length && at < want.length && have[at] === want[at]) at++;
    console.error(
      `${doc}'s golden-vector table is stale: run node tools/vectors_table.mjs ${file} --write ${doc}\n` +
        `(first difference at line ${start + at + 1} of ${doc}; the table has ${have.length - 2} rows, ${file} has ${cases.length} cases)`,
    );
    process.exit(1);
  }
  process.exit(0);
}

const updated = [...lines.slice(0, start), ...table.slice(0, -1).split("\n"), ...lines.slice(end)].join("\n");
if (updated !== text) writeFileSync(doc, updated);
