// referrald console: a single page over the documented API (docs/api.md), with no framework
// and no dependency. The API key lives in this tab's sessionStorage only; every call sends
// it as a bearer token. Views are chosen by the location's hash (#/rules/passthrough, ...).

const KEY = "referrald.key";
// asOf: the header's picker (local wall-clock time, to the second); asOfExact: an instant to
// the millisecond chosen from the audit log (the picker then shows it, rounded).
const state = { key: null, me: null, account: "", brand: "", asOf: "", asOfExact: "" };

// -- small DOM helpers ---------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $("#main");

function say(text, kind = "ok") {
  const s = $("#status");
  s.textContent = text;
  s.className = "status " + kind;
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function tableWrap(label, table) {
  return h("div", { class: "scroll", role: "region", "aria-label": label, tabindex: "0" }, table);
}

// -- the API -------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body, etag) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.etag = etag;
  }
  get details() {
    return this.body?.error?.details || [];
  }
}

// Runs an action of a button; what it throws is shown on the status line, never left as an
// unhandled rejection.
function guarded(fn) {
  return (...args) => Promise.resolve().then(() => fn(...args)).catch((err) => say(err.message, "error"));
}

async function api(method, path, { body, query, headers = {}, csv = false, raw = false } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const init = { method, headers: { ...headers } };
  if (state.key) init.headers.Authorization = "Bearer " + state.key;
  if (body !== undefined) {
    init.headers["Content-Type"] = csv ? "text/csv" : "application/json";
    init.body = csv ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, { error: { message: "Cannot reach the server: " + e.message, details: [] } });
  }
  const etag = res.headers.get("ETag");
  if (raw && res.ok) return { text: await res.text(), etag };
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    if (res.status === 401 && state.key && path !== "/api-keys/me") signOut("Your key is no longer accepted: sign in again.");
    throw new ApiError(res.status, json, etag);
  }
  return { data: json && "success" in json ? json.data : json, etag, status: res.status };
}

const can = {
  write: () => state.me && (state.me.role === "editor" || state.me.role === "admin"),
  admin: () => state.me && state.me.role === "admin",
  // Backups cover the whole store: an admin key holding every account and brand.
  backups: () => can.admin() && state.me.accounts.includes("*") && state.me.brands.includes("*"),
};

function holdsAccount(a) {
  return state.me && (state.me.accounts.includes("*") || state.me.accounts.includes(a));
}
function holdsBrand(b) {
  return state.me && (state.me.brands.includes("*") || state.me.brands.includes(Number(b)));
}

function asOfIso() {
  if (state.asOfExact) return state.asOfExact;
  if (!state.asOf) return "";
  const d = new Date(state.asOf);
  return isNaN(d) ? "" : d.toISOString();
}

// -- sign in -------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(KEY);
  state.key = null;
  state.me = null;
  Object.assign(state, { account: "", brand: "", asOf: "", asOfExact: "" });
  $("#nav").hidden = true;
  $("#context").hidden = true;
  location.hash = "#/signin";
  if (message) say(message, "error");
  render();
}

function signInView() {
  const error = h("p", { id: "signin-error", class: "error", role: "alert" });
  const input = h("input", { id: "signin-key", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "signin-help signin-error" });
  const form = h("form", { id: "signin", method: "post", onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    state.key = input.value.trim();
    try {
      await loadMe();
      sessionStorage.setItem(KEY, state.key);
      // The view asked for (a bookmark), else the rules.
      const wanted = SECTIONS.some(([href]) => location.hash.startsWith(href)) ? location.hash : "#/rules/passthrough";
      if (location.hash === wanted) render();
      else location.hash = wanted;
    } catch (err) {
      state.key = null;
      error.textContent = err.status === 401 ? "This key is not accepted (unknown, revoked or expired)." : err.message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  } },
    h("label", { for: "signin-key" }, "API key"), input,
    h("p", { id: "signin-help", class: "help" },
      "The secret of an API key (rk_...). It stays in this browser tab only and is forgotten when the tab closes."),
    error,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Sign in")));
  return [h("h1", {}, "Sign in"), form];
}

async function loadMe() {
  const { data } = await api("GET", "/api-keys/me");
  state.me = data;
  const accounts = data.accounts || [];
  const brands = data.brands || [];
  if (!state.account) state.account = accounts[0] && accounts[0] !== "*" ? accounts[0] : (localStorage.getItem("referrald.account") || "");
  if (!state.brand) state.brand = brands[0] && brands[0] !== "*" ? String(brands[0]) : (localStorage.getItem("referrald.brand") || "");
  $("#ctx-account").value = state.account;
  $("#ctx-brand").value = state.brand;
  $("#whoami").textContent = `${data.name} (${data.role})`;
  buildNav();
  $("#nav").hidden = false;
  $("#context").hidden = false;
}

const SECTIONS = [
  ["#/rules/passthrough", "Passthrough referrers", () => true],
  ["#/rules/mappings", "Referrer mappings", () => true],
  ["#/rules/channels", "Channel rules", () => true],
  ["#/settings", "Settings", () => true],
  ["#/insights", "Insights", () => true],
  ["#/test", "Test a visit", () => true],
  ["#/ai", "AI referrals", () => true],
  ["#/audit", "Audit log", () => can.admin()],
  ["#/keys", "API keys", () => can.admin()],
  ["#/backups", "Backups", () => can.backups()],
];

function buildNav() {
  const nav = $("#nav");
  nav.replaceChildren(...SECTIONS.filter(([, , ok]) => ok()).map(([href, label]) => h("a", { href }, label)));
}

// -- rules ---------------------------------------------------------------------------------

const KINDS = {
  passthrough: {
    path: "/passthrough-referrers", list: "referrers", title: "Passthrough referrers", noun: "passthrough referrer",
    key: "domain",
    fields: [
      { name: "domain", label: "Domain", required: true, help: "A domain or URL; subdomains are covered too" },
      { name: "utm_source", label: "utm_source", required: true },
      { name: "utm_medium", label: "utm_medium", placeholder: "passthrough" },
      { name: "utm_campaign", label: "utm_campaign" },
      { name: "utm_term", label: "utm_term" },
      { name: "service_name", label: "Service name", nullable: true },
      { name: "is_active", label: "Active", type: "checkbox" },
    ],
    columns: ["domain", "utm_source", "utm_medium", "service_name"],
  },
  mappings: {
    path: "/referrer-mappings", list: "mappings", title: "Referrer mappings", noun: "referrer mapping",
    key: "referrer_pattern",
    fields: [
      { name: "referrer_pattern", label: "Referrer pattern", required: true },
      { name: "match_type", label: "Match type", type: "select", options: ["exact", "contains", "starts_with", "ends_with", "regex"] },
      { name: "utm_source", label: "utm_source", required: true },
      { name: "utm_medium", label: "utm_medium", placeholder: "referral" },
      { name: "utm_campaign", label: "utm_campaign" },
      { name: "utm_term", label: "utm_term" },
      { name: "utm_content", label: "utm_content" },
      { name: "label", label: "Label" },
      { name: "description", label: "Description", nullable: true },
      { name: "priority", label: "Priority (0-1000)", type: "number" },
      { name: "is_active", label: "Active", type: "checkbox" },
    ],
    columns: ["referrer_pattern", "match_type", "utm_source", "utm_medium", "priority"],
  },
  channels: {
    path: "/channel-rules", list: "channel_rules", title: "Channel rules", noun: "channel rule",
    key: "name",
    help: "Channel rules are tried by priority (highest first): the first that matches a visit's final answer gives its channel; when none matches, the default channel group does.",
    fields: [
      { name: "name", label: "Name", required: true },
      { name: "channel", label: "Channel", required: true, help: "The channel a match gives, e.g. Partners or Newsletter" },
      { name: "utm_source", label: "utm_source is one of", type: "list", help: "Comma-separated, any case; empty: no condition" },
      { name: "utm_medium", label: "utm_medium is one of", type: "list", help: "Comma-separated, any case; empty: no condition" },
      { name: "utm_campaign", label: "utm_campaign is one of", type: "list", help: "Comma-separated, any case; empty: no condition" },
      { name: "referrer_pattern", label: "Referrer pattern", nullable: true, help: "Matched against the referrer host; empty: no condition" },
      { name: "match_type", label: "Match type", type: "select", options: ["exact", "contains", "starts_with", "ends_with", "regex"] },
      { name: "click_id", label: "Click id", type: "select", options: ["any", "present", "absent"] },
      { name: "landing_path_prefix", label: "Landing path starts with", nullable: true, placeholder: "/pricing" },
      { name: "priority", label: "Priority (0-1000)", type: "number" },
      { name: "description", label: "Description", nullable: true },
      { name: "is_active", label: "Active", type: "checkbox" },
    ],
    columns: ["name", "channel", "priority", ["conditions", conditionSummary]],
  },
};

// A channel rule's conditions in a few words, for its row in the table.
function conditionSummary(r) {
  const parts = [];
  for (const k of ["utm_source", "utm_medium", "utm_campaign"]) if (r[k] && r[k].length) parts.push(`${k} ${r[k].join(" or ")}`);
  if (r.referrer_pattern) parts.push(`referrer ${r.match_type} ${r.referrer_pattern}`);
  if (r.click_id && r.click_id !== "any") parts.push(`click id ${r.click_id}`);
  if (r.landing_path_prefix) parts.push(`landing path starts with ${r.landing_path_prefix}`);
  return parts.join("; ");
}

// A comma-separated input's values: trimmed, none empty.
function listValue(text) {
  return text.split(",").map((x) => x.trim()).filter(Boolean);
}

function needAccount(what = "rules") {
  if (!state.account) return [h("p", { class: "notice" }, `Enter an account id in the header (Account) to see its ${what}.`)];
  if (!holdsAccount(state.account)) {
    return [h("p", { class: "notice" }, `This key holds no access to account ${state.account}; it holds ${state.me.accounts.join(", ") || "no account"}.`)];
  }
  return null;
}

async function rulesView(kindName, params) {
  const kind = KINDS[kindName];
  const out = [h("h1", {}, kind.title)];
  if (kind.help) out.push(h("p", { class: "help", id: "rules-help" }, kind.help));
  const missing = needAccount();
  if (missing) return out.concat(missing);
  const asOf = asOfIso();
  if (asOf) out.push(h("p", { class: "notice", id: "asof-notice" }, `Showing the rules as they stood at ${fmtTime(asOf)} (read only). Choose "Now" to edit.`));
  const q = params.get("q") || "";
  const status = params.get("status") || "active";
  const after = params.get("after") || "";
  const search = h("input", { id: "rules-q", name: "q", type: "search", value: q });
  const filter = h("select", { id: "rules-status", name: "status" },
    ...[["active", "Active"], ["inactive", "Inactive"], ["all", "All"]].map(([v, t]) => h("option", { value: v, selected: v === status }, t)));
  const go = (extra = {}) => {
    const p = new URLSearchParams({ q: search.value, status: filter.value, ...extra });
    for (const [k, v] of [...p]) if (!v) p.delete(k);
    location.hash = `#/rules/${kindName}?${p}`;
  };
  const toolbar = h("form", { class: "toolbar", role: "search", onsubmit: (e) => { e.preventDefault(); go(); } },
    h("label", {}, "Search", search), h("label", {}, "Status", filter), h("button", { type: "submit", class: "secondary" }, "Filter"));
  out.push(toolbar);
  const writable = can.write() && !asOf;
  const actions = h("div", { class: "toolbar" });
  if (writable) actions.append(h("button", { type: "button", id: "rule-new", onclick: guarded(() => ruleDialog(kindName, null)) }, `New ${kind.noun}`));
  if (writable) actions.append(h("button", { type: "button", class: "secondary", id: "rule-import", onclick: () => importDialog(kindName) }, "Import…"));
  if (!asOf) {
    actions.append(h("button", { type: "button", class: "secondary", onclick: () => exportRules(kindName, "csv") }, "Export CSV"));
    actions.append(h("button", { type: "button", class: "secondary", onclick: () => exportRules(kindName, "json") }, "Export JSON"));
  }
  if (writable && kindName === "passthrough") actions.append(h("button", { type: "button", class: "secondary", id: "starter-pack", onclick: guarded(() => starterDialog()) }, "Starter pack…"));
  out.push(actions);

  const query = { account_id: state.account, q: q || undefined, limit: 50, starting_after: after || undefined, as_of: asOf || undefined };
  if (status === "inactive") Object.assign(query, { include_inactive: true, is_active: false });
  else if (status === "all") query.include_inactive = true;
  const { data } = await api("GET", kind.path, { query });
  const rows = data[kind.list];
  const columns = kind.columns.map((c) => (typeof c === "string" ? [c, (r) => r[c]] : c));
  const cell = (v) => (v === null || v === undefined || v === "" ? "—" : String(v));
  const table = h("table", { id: "rules-table" },
    h("caption", {}, `${data.total} ${data.total === 1 ? "rule" : "rules"} in ${state.account} (${data.active_count} active)`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Id"), ...columns.map(([c]) => h("th", { scope: "col" }, c)),
      h("th", { scope: "col" }, "Active"), writable ? h("th", { scope: "col" }, "Actions") : null)),
    h("tbody", {}, rows.length === 0 ? h("tr", {}, h("td", { colspan: columns.length + (writable ? 3 : 2) }, "No rules match.")) : null,
      ...rows.map((r) => h("tr", { "data-id": r.id },
        h("td", {}, String(r.id)),
        ...columns.map(([, value]) => h("td", {}, cell(value(r)))),
        h("td", {}, h("span", { class: "pill " + (r.is_active ? "on" : "off") }, r.is_active ? "active" : "inactive"),
          writable ? h("button", { type: "button", class: "link", "aria-label": `${r.is_active ? "Deactivate" : "Activate"} rule ${r.id}`,
            onclick: guarded(() => toggleRule(kindName, r.id, !r.is_active, r)) }, r.is_active ? "Deactivate" : "Activate") : null),
        writable ? h("td", {},
          h("button", { type: "button", class: "link", "aria-label": `Edit rule ${r.id}`, onclick: guarded(() => ruleDialog(kindName, r.id)) }, "Edit"),
          h("button", { type: "button", class: "link", "aria-label": `Delete rule ${r.id}`, onclick: guarded(() => deleteRule(kindName, r)) }, "Delete")) : null))));
  out.push(tableWrap(kind.title, table));
  const pager = h("div", { class: "actions" });
  if (after) pager.append(h("button", { type: "button", class: "secondary", onclick: () => go() }, "First page"));
  if (data.has_more) pager.append(h("button", { type: "button", class: "secondary", id: "rules-next", onclick: () => go({ after: data.next_starting_after }) }, "Next page"));
  out.push(pager);
  // A link to a rule (from a resolution or the audit log): opened for editing once, then
  // dropped from the address so that a later render does not open it again.
  const edit = params.get("edit");
  if (edit) {
    params.delete("edit");
    history.replaceState(null, "", `#/rules/${kindName}${params.size ? "?" + params : ""}`);
    if (writable) setTimeout(guarded(() => ruleDialog(kindName, Number(edit))), 0);
    else setTimeout(() => document.querySelector(`#rules-table tr[data-id="${Number(edit)}"]`)?.classList.add("decides"), 0);
  }
  return out;
}

// A field of a form: its input has the id prefix + (f.id or f.name) and the name f.name; its
// help and error lines that id + "-help" and "-error". A "list" is a comma-separated input
// of an array of strings.
function fieldInput(f, value, { prefix = "f-", disabled = false } = {}) {
  const id = prefix + (f.id || f.name);
  const common = { id, name: f.name, disabled, "aria-describedby": `${id}-error${f.help ? ` ${id}-help` : ""}` };
  let input;
  if (f.type === "checkbox") input = h("input", { ...common, type: "checkbox", checked: value !== false });
  else if (f.type === "select") input = h("select", common, ...f.options.map((o) => h("option", { value: o, selected: o === (value ?? f.options[0]) }, o)));
  else if (f.type === "list") input = h("input", { ...common, type: "text", value: (value || []).join(", "), placeholder: f.placeholder, spellcheck: "false" });
  else input = h("input", { ...common, type: f.type === "number" ? "number" : "text", value: value ?? "", required: f.required, placeholder: f.placeholder });
  return h("div", { class: f.wide ? "field wide" : "field" },
    h("label", { for: id }, f.label + (f.required ? " (required)" : "")), input,
    f.help ? h("div", { id: `${id}-help`, class: "help" }, f.help) : null,
    h("div", { id: `${id}-error`, class: "field-error" }));
}

// The form's values as a body. For a create, a field left empty is left out, so that it
// takes the API's default (utm_medium "passthrough" or "referral", priority 0...). A list is
// always sent (an empty input: []).
function readForm(form, kind, creating) {
  const body = {};
  for (const f of kind.fields) {
    const el = form.elements[f.name];
    if (f.type === "list") {
      body[f.name] = listValue(el.value);
      continue;
    }
    const empty = f.type !== "checkbox" && el.value.trim() === "";
    if (creating && empty && !f.required) continue;
    if (f.type === "checkbox") body[f.name] = el.checked;
    else if (f.type === "number") body[f.name] = empty ? 0 : Number(el.value);
    else if (f.nullable && empty) body[f.name] = null;
    else body[f.name] = el.value;
  }
  return body;
}

function showFieldErrors(form, err, summary) {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  let first = null;
  const unplaced = [];
  for (const d of err.details) {
    // An item of a list ("own_domains[1]") is shown at its list's field.
    const name = String(d.field).replace(/\[\d+\]$/, "");
    const input = form.elements[name];
    const slot = input && input.id && form.querySelector(`#${CSS.escape(input.id)}-error`);
    if (slot) {
      const message = name === d.field ? d.message : `${d.field}: ${d.message}`;
      slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    } else unplaced.push(`${d.field}: ${d.message}`);
  }
  summary.textContent = unplaced.length ? unplaced.join("; ") : (first ? "Please correct the fields marked below." : err.message);
  if (first) first.focus();
}

// The rule form: an existing rule's (id), or a new one's, with `prefill` (a suggestion's
// request body) in its fields.
async function ruleDialog(kindName, id, prefill = null) {
  const kind = KINDS[kindName];
  let original = null;
  let etag = null;
  if (id) {
    const got = await api("GET", `${kind.path}/${id}`, { query: { account_id: state.account } });
    original = got.data;
    etag = got.etag;
  }
  const summary = h("p", { class: "error", role: "alert", id: "rule-form-error" });
  const conflict = h("div", { id: "rule-conflict" });
  const form = h("form", { id: "rule-form", novalidate: true },
    h("div", { class: "grid" }, ...kind.fields.map((f) => fieldInput(f, original ? original[f.name] : prefill?.[f.name]))),
    summary, conflict,
    h("div", { class: "actions" },
      h("button", { type: "submit" }, id ? "Save changes" : "Create"),
      h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Cancel")));
  const dialog = h("dialog", { "aria-labelledby": "rule-dialog-title" },
    h("h2", { id: "rule-dialog-title" }, id ? `Edit ${kind.noun} ${id}` : `New ${kind.noun}`), form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = readForm(form, kind, !id);
    try {
      if (id) {
        const patch = {};
        for (const f of kind.fields) if (JSON.stringify(body[f.name]) !== JSON.stringify(original[f.name])) patch[f.name] = body[f.name];
        await api("PATCH", `${kind.path}/${id}`, { query: { account_id: state.account }, body: patch, headers: { "If-Match": etag } });
        say(`Saved ${kind.noun} ${id}.`);
      } else {
        const created = await api("POST", kind.path, { query: { account_id: state.account }, body });
        say(`Created ${kind.noun} ${created.data.id}.`);
      }
      dialog.close();
      render();
    } catch (err) {
      if (err.status === 412 && id) {
        let now;
        try {
          now = await api("GET", `${kind.path}/${id}`, { query: { account_id: state.account } });
        } catch (again) {
          summary.textContent = again.message;
          return;
        }
        const changed = kind.fields.filter((f) => JSON.stringify(now.data[f.name]) !== JSON.stringify(original[f.name]));
        summary.textContent = "Someone else changed this rule since you opened it; nothing was saved.";
        conflict.replaceChildren(h("div", { class: "notice" },
          h("p", {}, "Changed meanwhile:"),
          h("ul", { class: "diff" }, ...(changed.length ? changed : [{ name: "updated_at", label: "updated_at" }]).map((f) =>
            h("li", {}, `${f.label} (${f.name}): `, h("del", {}, JSON.stringify(original[f.name])), " → ", h("ins", {}, JSON.stringify(now.data[f.name]))))),
          h("button", { type: "button", class: "secondary", onclick: guarded(() => { dialog.close(); return ruleDialog(kindName, id); }) }, "Load the current version")));
        return;
      }
      showFieldErrors(form, err, summary);
    }
  });
  modal(dialog);
  form.elements[kind.fields[0].name].focus();
}

// The rule as the table showed it is still the current one (else someone changed it
// meanwhile: the table is shown again, and nothing is done).
function unchangedSinceListed(listed, current) {
  if (!listed || listed.updated_at === current.updated_at) return true;
  say(`Rule ${listed.id} was changed meanwhile (at ${fmtTime(current.updated_at)}); the table now shows it as it is. Nothing was done.`, "error");
  render();
  return false;
}

async function toggleRule(kindName, id, active, listed) {
  const kind = KINDS[kindName];
  try {
    const got = await api("GET", `${kind.path}/${id}`, { query: { account_id: state.account } });
    if (!unchangedSinceListed(listed, got.data)) return;
    await api("PATCH", `${kind.path}/${id}`, { query: { account_id: state.account }, body: { is_active: active }, headers: { "If-Match": got.etag } });
    say(`Rule ${id} ${active ? "activated" : "deactivated"}.`);
    render();
  } catch (err) {
    say(err.message, "error");
  }
}

// Shows `dialog` as a modal; when it closes, it is removed and the focus goes back to what
// opened it (or, when a render replaced that, to the main region).
function modal(dialog, onClose) {
  const opener = document.activeElement;
  dialog.addEventListener("close", () => {
    onClose?.();
    dialog.remove();
    setTimeout(() => (opener && opener.isConnected && opener !== document.body ? opener : main()).focus(), 0);
  });
  document.body.append(dialog);
  dialog.showModal();
}

function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" },
      h("h2", { id: "confirm-title" }, title), h("p", { id: "confirm-text" }, text),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "danger", id: "confirm-yes", onclick: () => { resolve(true); dialog.close(); } }, confirmLabel),
        h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Cancel")));
    modal(dialog, () => resolve(false));
    dialog.querySelector("button.secondary").focus(); // Enter does not destroy
  });
}

async function deleteRule(kindName, rule) {
  const kind = KINDS[kindName];
  if (!(await confirmDialog(`Delete ${kind.noun} ${rule.id}?`, `${rule[kind.key]} will be deleted; the audit log keeps its history.`, "Delete"))) return;
  try {
    const got = await api("GET", `${kind.path}/${rule.id}`, { query: { account_id: state.account } });
    if (!unchangedSinceListed(rule, got.data)) return;
    await api("DELETE", `${kind.path}/${rule.id}`, { query: { account_id: state.account }, headers: { "If-Match": got.etag } });
    say(`Deleted ${kind.noun} ${rule.id}.`);
    render();
  } catch (err) {
    say(err.message, "error");
  }
}

async function exportRules(kindName, format) {
  const kind = KINDS[kindName];
  try {
    const { text } = await api("GET", `${kind.path}/export`, { query: { account_id: state.account, format, include_inactive: true }, raw: true });
    download(`${state.account}-${kind.list}.${format}`, text, format === "csv" ? "text/csv" : "application/json");
  } catch (err) {
    say(err.message, "error");
  }
}

function importSummary(d) {
  return `${d.created} to create, ${d.updated} to update, ${d.deleted} to delete, ${d.unchanged} unchanged`;
}

function importDialog(kindName) {
  const kind = KINDS[kindName];
  const text = h("textarea", { id: "import-text", name: "text", rows: 8, cols: 60, "aria-describedby": "import-help" });
  const file = h("input", { id: "import-file", name: "file", type: "file", accept: ".csv,.json,text/csv,application/json" });
  const mode = h("select", { id: "import-mode", name: "mode" }, ...["create", "upsert", "replace"].map((m) => h("option", { value: m, selected: m === "upsert" }, m)));
  const preview = h("div", { id: "import-preview", role: "status" });
  const apply = h("button", { type: "button", id: "import-apply", disabled: true }, "Apply");
  file.addEventListener("change", async () => { if (file.files[0]) text.value = await file.files[0].text(); apply.disabled = true; });
  text.addEventListener("input", () => { apply.disabled = true; });
  mode.addEventListener("change", () => { apply.disabled = true; preview.replaceChildren(); });
  const send = async (validateOnly) => {
    const raw = text.value.trim();
    const isJson = raw.startsWith("{") || raw.startsWith("[");
    let body = raw;
    const query = { account_id: state.account };
    if (isJson) {
      let parsed;
      try { parsed = JSON.parse(raw); } catch (e) { throw new ApiError(400, { error: { message: "The JSON does not parse: " + e.message, details: [] } }); }
      body = Array.isArray(parsed) ? { [kind.list]: parsed } : parsed;
      body = { ...body, mode: mode.value, validate_only: validateOnly };
    } else {
      Object.assign(query, { mode: mode.value, validate_only: validateOnly });
    }
    return api("POST", `${kind.path}/import`, { query, body, csv: !isJson });
  };
  const show = (err) => preview.replaceChildren(h("div", { class: "error" }, h("p", {}, err.message),
    err.details.length ? h("ul", {}, ...err.details.slice(0, 20).map((d) => h("li", {}, `${d.field}: ${d.message}`))) : null));
  const dialog = h("dialog", { "aria-labelledby": "import-title" },
    h("h2", { id: "import-title" }, `Import ${kind.title.toLowerCase()}`),
    h("p", { id: "import-help" }, "CSV with a header row of field names, or JSON (a list of rules, or an export). Preview first: nothing changes until you apply."),
    h("div", { class: "grid" }, h("label", {}, "File", file), h("label", {}, "Mode", mode), h("label", { class: "wide" }, "Or paste it here", text)),
    preview,
    h("div", { class: "actions" },
      h("button", { type: "button", id: "import-preview-button", class: "secondary", onclick: async () => {
        try {
          const { data } = await send(true);
          preview.replaceChildren(h("p", {}, "Preview: " + importSummary(data) + "."));
          apply.disabled = false;
        } catch (err) { show(err); }
      } }, "Preview"),
      apply,
      h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Close")));
  apply.addEventListener("click", async () => {
    try {
      const { data } = await send(false);
      say(`Imported: ${data.created} created, ${data.updated} updated, ${data.deleted} deleted, ${data.unchanged} unchanged.`);
      dialog.close();
      render();
    } catch (err) { show(err); }
  });
  modal(dialog);
  text.focus();
}

async function starterDialog() {
  const { data } = await api("GET", "/passthrough-referrers/starter-pack");
  const preview = h("div", { id: "starter-preview", role: "status" });
  const run = async (validateOnly) => api("POST", "/passthrough-referrers/import", { query: { account_id: state.account, pack: "starter", validate_only: validateOnly } });
  const applyPack = h("button", { type: "button", id: "starter-apply", disabled: true, onclick: async () => {
    try { const { data: d } = await run(false); say("Starter pack applied: " + importSummary(d).replaceAll("to ", "") + "."); dialog.close(); render(); } catch (err) { preview.textContent = err.message; }
  } }, "Apply");
  const dialog = h("dialog", { "aria-labelledby": "starter-title" },
    h("h2", { id: "starter-title" }, `Starter pack (${data.version})`),
    h("p", {}, `${data.entries.length} payment pages, booking engines and other domains that should not take a visit's attribution.`),
    tableWrap("Starter pack", h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Domain"), h("th", { scope: "col" }, "Service"), h("th", { scope: "col" }, "Category"))),
      h("tbody", {}, ...data.entries.slice(0, 200).map((e) => h("tr", {}, h("td", {}, e.domain), h("td", {}, e.service_name), h("td", {}, e.category)))))),
    preview,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: async () => {
        try { preview.textContent = "Preview: " + importSummary((await run(true)).data) + "."; applyPack.disabled = false; } catch (err) { preview.textContent = err.message; }
      } }, "Preview"),
      applyPack,
      h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Close")));
  modal(dialog);
}

// -- settings ------------------------------------------------------------------------------

// The account's settings (one object, PATCH /settings). The Matomo preset is a checkbox of
// campaign_parameter_presets.
const SETTINGS_FIELDS = [
  { name: "own_domains", label: "Own domains", type: "list", wide: true, placeholder: "acme.com, *.acme.com",
    help: "Your own sites, comma-separated: acme.com (that host) or *.acme.com (it and every subdomain). A visit referred by one of them is internal navigation." },
  { name: "campaign_parameter_presets", id: "matomo", label: "Matomo campaign parameters (mtm_*, pk_*)", type: "checkbox",
    help: "Read where the landing URL has no utm_* value of their kind" },
  { name: "source_parameters", label: "Source parameters", type: "list", help: "Query parameters read as utm_source, comma-separated" },
  { name: "medium_parameters", label: "Medium parameters", type: "list", help: "Read as utm_medium" },
  { name: "campaign_parameters", label: "Campaign parameters", type: "list", help: "Read as utm_campaign" },
  { name: "term_parameters", label: "Term parameters", type: "list", help: "Read as utm_term" },
  { name: "content_parameters", label: "Content parameters", type: "list", help: "Read as utm_content" },
  { name: "known_referrers", label: "Known-referrer list", type: "checkbox",
    help: "Search engines, social networks and other known sites give their own source and medium" },
  { name: "default_channel_group", label: "Default channel group", type: "checkbox",
    help: "Gives the channel when no channel rule matches (else the channel is Unassigned)" },
  { name: "insights", label: "Insights", type: "checkbox",
    help: "Count live resolutions by day and keep the referrer hosts that fell through; turning it off deletes what was kept" },
  { name: "insights_dismissed_hosts", label: "Dismissed hosts", type: "list", wide: true,
    help: "Referrer hosts whose Insights suggestion was dismissed, comma-separated; take one out to see its suggestion again" },
  { name: "insights_dismissed_mediums", label: "Dismissed utm_medium values", type: "list", wide: true,
    help: "utm_medium values whose Insights suggestion was dismissed" },
];

function settingsValue(f, s) {
  if (f.id === "matomo") return (s.campaign_parameter_presets || []).includes("matomo");
  return s[f.name];
}

function readSettings(form, original) {
  const body = {};
  for (const f of SETTINGS_FIELDS) {
    const el = form.elements[f.name];
    if (f.id === "matomo") {
      const presets = original.campaign_parameter_presets || [];
      body[f.name] = el.checked ? (presets.includes("matomo") ? presets : [...presets, "matomo"]) : presets.filter((p) => p !== "matomo");
    } else if (f.type === "checkbox") body[f.name] = el.checked;
    else body[f.name] = listValue(el.value);
  }
  return body;
}

async function settingsView() {
  const out = [h("h1", {}, "Settings")];
  const missing = needAccount("settings");
  if (missing) return out.concat(missing);
  const asOf = asOfIso();
  if (asOf) out.push(h("p", { class: "notice", id: "asof-notice" }, `Showing the settings as they stood at ${fmtTime(asOf)} (read only). Choose "Now" to edit.`));
  const { data: original, etag } = await api("GET", "/settings", { query: { account_id: state.account, as_of: asOf || undefined } });
  const writable = can.write() && !asOf;
  out.push(h("p", { class: "help", id: "settings-info" },
    `How the visits of ${state.account} are read. `,
    original.updated_at ? `Last changed ${fmtTime(original.updated_at)}.` : "Never changed: these are the defaults."));
  if (!writable && !asOf) out.push(h("p", { class: "notice" }, "This key can read the settings but not change them."));
  const summary = h("p", { class: "error", role: "alert", id: "settings-error" });
  const conflict = h("div", { id: "settings-conflict" });
  const form = h("form", { id: "settings-form", novalidate: true },
    h("div", { class: "grid" }, ...SETTINGS_FIELDS.map((f) => fieldInput(f, settingsValue(f, original), { prefix: "settings-", disabled: !writable }))),
    summary, conflict,
    writable ? h("div", { class: "actions" }, h("button", { type: "submit", id: "settings-save" }, "Save")) : null);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = readSettings(form, original);
    // Only what changed, so that a change made meanwhile to another setting is not undone.
    const patch = {};
    for (const f of SETTINGS_FIELDS) if (JSON.stringify(body[f.name]) !== JSON.stringify(original[f.name])) patch[f.name] = body[f.name];
    if (Object.keys(patch).length === 0) {
      say("Nothing to save: no setting was changed.");
      return;
    }
    try {
      await api("PATCH", "/settings", { query: { account_id: state.account }, body: patch, headers: etag ? { "If-Match": etag } : {} });
      say(`Saved the settings of ${state.account}.`);
      render();
    } catch (err) {
      if (err.status === 412) {
        let now;
        try {
          now = await api("GET", "/settings", { query: { account_id: state.account } });
        } catch (again) {
          summary.textContent = again.message;
          return;
        }
        const changed = SETTINGS_FIELDS.filter((f) => JSON.stringify(now.data[f.name]) !== JSON.stringify(original[f.name]));
        summary.textContent = "Someone else changed the settings since you opened them; nothing was saved.";
        conflict.replaceChildren(h("div", { class: "notice" },
          h("p", {}, "Changed meanwhile:"),
          h("ul", { class: "diff" }, ...(changed.length ? changed : [{ name: "updated_at", label: "updated_at" }]).map((f) =>
            h("li", {}, `${f.label} (${f.name}): `, h("del", {}, JSON.stringify(original[f.name])), " → ", h("ins", {}, JSON.stringify(now.data[f.name]))))),
          h("button", { type: "button", class: "secondary", onclick: () => render() }, "Load the current version")));
        return;
      }
      showFieldErrors(form, err, summary);
    }
  });
  out.push(form);
  return out;
}

// -- test a visit --------------------------------------------------------------------------

function testView(params) {
  const out = [h("h1", {}, "Test a visit")];
  const missing = needAccount();
  if (missing) return out.concat(missing);
  const asOf = asOfIso();
  if (asOf) out.push(h("p", { class: "notice" }, `Resolving against the rules as they stood at ${fmtTime(asOf)}.`));
  const field = (name, label, value = "") => h("label", { class: name === "referrer" || name === "landing_url" ? "wide" : "" }, label,
    h("input", { id: "visit-" + name, name, value, type: "text", spellcheck: "false" }));
  const result = h("section", { id: "visit-result", "aria-live": "polite", class: "result" });
  const form = h("form", { id: "visit-form", onsubmit: async (e) => {
    e.preventDefault();
    const els = form.elements;
    const session = {};
    for (const k of ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"]) if (els["s_" + k].value) session[k] = els["s_" + k].value;
    const body = { referrer: els.referrer.value || null, landing_url: els.landing_url.value };
    if (Object.keys(session).length) body.session = session;
    try {
      const { data } = await api("POST", "/attribution/resolve", { query: { account_id: state.account, explain: true, as_of: asOf || undefined }, body });
      result.replaceChildren(...explainResult(data).filter(Boolean));
      result.querySelector("h2").focus();
    } catch (err) {
      result.replaceChildren(h("p", { class: "error", role: "alert" }, err.message + (err.details.length ? ": " + err.details.map((d) => `${d.field} ${d.message}`).join("; ") : "")));
    }
  } },
    h("div", { class: "grid" },
      field("referrer", "Referrer (document.referrer)", params.get("referrer") || ""),
      field("landing_url", "Landing URL", params.get("landing_url") || "")),
    h("details", {}, h("summary", {}, "Session UTMs (optional)"),
      h("div", { class: "grid" }, ...["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"].map((k) =>
        h("label", {}, k, h("input", { id: "visit-s-" + k, name: "s_" + k, type: "text" }))))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Resolve")));
  return out.concat([form, result]);
}

function explainResult(r) {
  const ruleLink = r.rule
    ? h("a", { href: `#/rules/${r.rule.type === "passthrough" ? "passthrough" : "mappings"}?edit=${r.rule.id}&status=all` }, `${r.rule.type} ${r.rule.id}`)
    : "none";
  const out = [h("h2", { tabindex: "-1" }, "Resolution"),
    h("dl", {},
      h("dt", {}, "Reason"), h("dd", { id: "visit-reason" }, r.reason),
      h("dt", {}, "Winning rule"), h("dd", { id: "visit-rule" }, ruleLink),
      ...["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"].flatMap((k) => [h("dt", {}, k), h("dd", {}, r[k] || "—")]),
      h("dt", {}, "Referrer host"), h("dd", {}, r.referrer_host || "—"),
      h("dt", {}, "AI platform"), h("dd", {}, r.ai_platform || "—"),
      h("dt", {}, "Known referrer"), h("dd", { id: "visit-known" }, r.known_referrer ? `${r.known_referrer.name} (${r.known_referrer.category})` : "—"),
      h("dt", {}, "Click id"), h("dd", {}, r.click_id || "—"),
      h("dt", {}, "Channel"), h("dd", { id: "visit-channel" }, r.channel),
      h("dt", {}, "Channel rule"), h("dd", { id: "visit-channel-rule" }, r.channel_rule
        ? h("a", { href: `#/rules/channels?edit=${r.channel_rule.id}&status=all` }, `${r.channel_rule.name} (channel rule ${r.channel_rule.id})`)
        : "—")),
    r.warnings.length ? h("div", { class: "notice" }, h("p", {}, "Warnings"), h("ul", {}, ...r.warnings.map((w) => h("li", {}, w)))) : null,
    h("h2", {}, "Precedence"),
  ];
  const steps = r.explain || [];
  // The rules a step lists, on their pages: passthrough referrers, channel rules, else mappings.
  const page = (step) => (step === "passthrough" ? "passthrough" : step === "channel" ? "channels" : "mappings");
  const what = (step, x) => (step === "channel" ? `${x.name} (${x.channel}, priority ${x.priority})` : x.domain || x.referrer_pattern);
  out.push(tableWrap("Precedence", h("table", { id: "precedence" },
    h("caption", {}, "Each rank in order; the first that applies decides. The channel follows from the answer."),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Rank"), h("th", { scope: "col" }, "Step"), h("th", { scope: "col" }, "Applies"), h("th", { scope: "col" }, "Why"))),
    h("tbody", {}, ...steps.map((s, i) => h("tr", { class: s.decides ? "decides" : "", "aria-current": s.decides ? "true" : false },
      h("td", {}, String(i + 1)), h("td", {}, s.step + (s.decides ? " (decides)" : "")), h("td", {}, s.applies ? "yes" : "no"),
      h("td", {}, s.why, s.rules && s.rules.length ? h("ul", {}, ...s.rules.filter((x) => x.matched).map((x) =>
        h("li", {}, h("a", { href: `#/rules/${page(s.step)}?edit=${x.id}&status=all` }, `rule ${x.id}`), ` ${what(s.step, x)}: ${x.note}`))) : null)))))));
  return out;
}

// -- AI referrals --------------------------------------------------------------------------

const PALETTE = ["#0a55b8", "#c4391d", "#1d7a3f", "#7a3fb5", "#b07800", "#00788a", "#a3176b", "#4f5d6b"];

function isoDay(d) { return d.toISOString().slice(0, 10); }
// The local calendar day of a time (the report's default range ends today, where the user is).
function localDay(d) { return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10); }

async function aiView(params) {
  const out = [h("h1", {}, "AI referrals")];
  if (!/^[1-9][0-9]{0,17}$/.test(state.brand)) return out.concat([h("p", { class: "notice" }, "Enter a brand id (a positive number) in the header (Brand) to see its AI referrals.")]);
  if (!holdsBrand(state.brand)) return out.concat([h("p", { class: "notice" }, `This key holds no access to brand ${state.brand}.`)]);
  const brand = state.brand;
  const { data: conns } = await api("GET", `/${brand}/ai-referrals/connections`, { query: { limit: 100 } });
  let lastPush = new Map();
  if (can.admin()) {
    try {
      const { data } = await api("GET", "/audit-log", { query: { scope: "brand", brand_id: brand, limit: 1000 } });
      for (const e of data.entries) if (e.type === "push") lastPush.set(e.connection_id, e);
    } catch { lastPush = new Map(); }
  }
  out.push(h("h2", {}, "Connections"));
  out.push(tableWrap("Connections", h("table", { id: "connections" },
    h("caption", {}, `${conns.total} connections of brand ${brand}`),
    h("thead", {}, h("tr", {}, ...["Name", "Source tool", "Created", "Last push", "Id"].map((t) => h("th", { scope: "col" }, t)), can.write() ? h("th", { scope: "col" }, "Actions") : null)),
    h("tbody", {}, ...conns.connections.map((c) => h("tr", {},
      h("td", {}, c.name), h("td", {}, c.source_tool), h("td", {}, fmtTime(c.created_at)),
      h("td", {}, lastPush.has(c.id) ? `${fmtTime(lastPush.get(c.id).at)} (${lastPush.get(c.id).accepted} rows)` : (can.admin() ? "never" : "—")),
      h("td", {}, h("code", {}, c.id)),
      can.write() ? h("td", {}, h("button", { type: "button", class: "link", "aria-label": `Delete connection ${c.name}`, onclick: async () => {
        if (!(await confirmDialog(`Delete connection ${c.name}?`, "Pushes to it will be refused; its rows stay in reports.", "Delete"))) return;
        try { await api("DELETE", `/${brand}/ai-referrals/connections/${c.id}`); say(`Deleted connection ${c.name}.`); render(); } catch (err) { say(err.message, "error"); }
      } }, "Delete")) : null))))));
  if (can.write()) {
    const err = h("p", { class: "error", role: "alert" });
    out.push(h("form", { id: "connection-form", class: "toolbar", onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target.elements;
      try { await api("POST", `/${brand}/ai-referrals/connections`, { body: { name: f.name.value, source_tool: f.source_tool.value } }); say("Connection created."); render(); }
      catch (x) { err.textContent = x.details.map((d) => `${d.field}: ${d.message}`).join("; ") || x.message; }
    } },
      h("label", {}, "New connection name", h("input", { name: "name", id: "connection-name", required: true })),
      h("label", {}, "Source tool", h("select", { name: "source_tool", id: "connection-tool" }, ...["ga4", "adobe", "other"].map((t) => h("option", { value: t }, t)))),
      h("button", { type: "submit" }, "Create connection"), err));
  }

  const today = new Date();
  const from = params.get("from") || localDay(new Date(today.getTime() - 29 * 86400000));
  const to = params.get("to") || localDay(today);
  const conn = params.get("connection") || "";
  const metric = params.get("metric") || "sessions";
  out.push(h("h2", {}, "Report"));
  const form = h("form", { class: "toolbar", id: "report-form", onsubmit: (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const p = new URLSearchParams({ from: f.from.value, to: f.to.value, metric: f.metric.value });
    if (f.connection.value) p.set("connection", f.connection.value);
    location.hash = "#/ai?" + p;
  } },
    h("label", {}, "From", h("input", { type: "date", name: "from", id: "report-from", value: from })),
    h("label", {}, "To", h("input", { type: "date", name: "to", id: "report-to", value: to })),
    h("label", {}, "Connection", h("select", { name: "connection", id: "report-connection" }, h("option", { value: "" }, "All"),
      ...conns.connections.map((c) => h("option", { value: c.id, selected: c.id === conn }, c.name)))),
    h("label", {}, "Measure", h("select", { name: "metric", id: "report-metric" }, ...["sessions", "pageviews", "transactions", "purchase_revenue"].map((m) => h("option", { value: m, selected: m === metric }, m)))),
    h("button", { type: "submit", class: "secondary" }, "Show"));
  out.push(form);
  const base = { from, to, connection_id: conn || undefined, limit: 1000 };
  // Every page of groups, up to 20,000 groups (then a notice says the rest is left out).
  const MAX_PAGES = 20;
  let cut = false;
  const allGroups = async (groupBy) => {
    let data = null;
    const groups = [];
    let after;
    for (let n = 0; n < MAX_PAGES; ++n) {
      data = (await api("GET", `/${brand}/ai-referrals/report`, { query: { ...base, group_by: groupBy, starting_after: after } })).data;
      groups.push(...data.groups);
      if (!data.has_more) return { ...data, groups };
      after = data.next_starting_after;
    }
    cut = true;
    return { ...data, groups };
  };
  let series, pages;
  try {
    series = await allGroups("date,platform");
    pages = await allGroups("page");
  } catch (err) {
    return out.concat([h("p", { class: "error", role: "alert" }, err.message)]);
  }
  if (cut) out.push(h("p", { class: "notice" }, "This range has more than 20,000 groups: the chart and tables show the first 20,000 (the totals cover everything). Choose a shorter range."));
  out.push(h("p", { id: "report-totals" }, `Totals ${from} to ${to}: ${series.totals.sessions ?? "—"} sessions, ${series.totals.pageviews ?? "—"} pageviews, ${series.totals.rows} rows.`));
  out.push(stackedChart(series.groups, metric, from, to));
  const top = [...pages.groups].sort((a, b) => (b[metric] ?? 0) - (a[metric] ?? 0)).slice(0, 10);
  out.push(h("h2", {}, "Top pages"));
  out.push(tableWrap("Top pages", h("table", { id: "top-pages" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Page"), h("th", { scope: "col", class: "num" }, metric))),
    h("tbody", {}, ...top.map((g) => h("tr", {}, h("td", {}, g.page), h("td", { class: "num" }, String(g[metric] ?? "—"))))))));
  out.push(h("h2", {}, "By day and platform"));
  const columns = ["date", "platform", "rows", "sessions", "pageviews", "transactions", "purchase_revenue"];
  out.push(h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", id: "report-csv", onclick: () => {
    // A cell a spreadsheet would run as a formula (pushed pages are anyone's text) gets a
    // leading apostrophe; quotes, commas and line breaks are quoted (RFC 4180).
    const esc = (v) => {
      if (v === null || v === undefined) return "";
      let t = String(v);
      if (typeof v === "string" && /^[=+\-@\t\r]/.test(t)) t = "'" + t;
      return /[",\n\r]/.test(t) ? `"${t.replaceAll('"', '""')}"` : t;
    };
    download(`brand-${brand}-${from}-${to}.csv`, [columns.join(","), ...series.groups.map((g) => columns.map((c) => esc(g[c])).join(","))].join("\n") + "\n", "text/csv");
  } }, "Download CSV")));
  out.push(tableWrap("By day and platform", h("table", { id: "report-table" }, h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col", class: c === "date" || c === "platform" ? "" : "num" }, c)))),
    h("tbody", {}, ...series.groups.map((g) => h("tr", {}, ...columns.map((c) => h("td", { class: c === "date" || c === "platform" ? "" : "num" }, g[c] === null ? "—" : String(g[c])))))))));
  return out;
}

// A stacked bar per day, one colour per platform (or per `by` of the groups), drawn as SVG
// (with a title and a description for screen readers; a table holds the same numbers).
function stackedChart(groups, metric, from, to, { by = "platform", id = "ai-chart" } = {}) {
  const days = [];
  const MAX_DAYS = 400;
  for (let d = new Date(from + "T00:00:00Z"); isoDay(d) <= to && days.length < MAX_DAYS; d = new Date(d.getTime() + 86400000)) days.push(isoDay(d));
  const shortened = days.length === MAX_DAYS && days[days.length - 1] < to;
  const platforms = [...new Set(groups.map((g) => g[by]))].sort();
  const value = new Map(groups.map((g) => [`${g.date} ${g[by]}`, g[metric] ?? 0]));
  const totals = days.map((d) => platforms.reduce((s, p) => s + (value.get(`${d} ${p}`) || 0), 0));
  const max = Math.max(1, ...totals);
  const W = 800, H = 260, left = 48, bottom = 24, top = 8;
  const bw = (W - left) / Math.max(1, days.length);
  const ns = "http://www.w3.org/2000/svg";
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${id}-title ${id}-desc`, id });
  svg.append(el("title", { id: `${id}-title` }, `${metric} by ${by} per day`));
  svg.append(el("desc", { id: `${id}-desc` }, `${platforms.length} ${by}s over ${days.length} days; the largest day has ${max} ${metric}. The table below has every number.`));
  for (const f of [0, 0.5, 1]) {
    const y = top + (H - top - bottom) * (1 - f);
    svg.append(el("line", { x1: left, x2: W, y1: y, y2: y, stroke: "#c9d1da" }));
    svg.append(el("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#4d5866" }, String(Math.round(max * f))));
  }
  days.forEach((d, i) => {
    let y = H - bottom;
    platforms.forEach((p, j) => {
      const v = value.get(`${d} ${p}`) || 0;
      if (!v) return;
      const hgt = (H - top - bottom) * (v / max);
      y -= hgt;
      const r = el("rect", { x: left + i * bw + 1, y, width: Math.max(1, bw - 2), height: hgt, fill: PALETTE[j % PALETTE.length] });
      r.append(el("title", {}, `${d} ${p}: ${v}`));
      svg.append(r);
    });
    if (days.length <= 31 ? i % 7 === 0 : i % 30 === 0) svg.append(el("text", { x: left + i * bw, y: H - 6, "font-size": 11, fill: "#4d5866" }, d.slice(5)));
  });
  const legend = h("ul", { class: "legend", "aria-label": `${by[0].toUpperCase()}${by.slice(1)}s` }, ...platforms.map((p, j) => {
    const sw = h("span", { class: "swatch", "aria-hidden": "true" });
    sw.style.background = PALETTE[j % PALETTE.length];
    return h("li", {}, sw, p);
  }));
  return h("figure", { class: "chart", tabindex: "0", "aria-label": `Chart of ${metric} by ${by} per day` }, svg, legend,
    shortened ? h("figcaption", {}, `The chart shows the first ${MAX_DAYS} days; the table has them all.`) : null, platforms.length ? null : h("figcaption", {}, "No rows in this range."));
}

// -- insights ------------------------------------------------------------------------------

// The rules page of a suggestion's POST path.
const SUGGESTED_KINDS = { "/passthrough-referrers": "passthrough", "/referrer-mappings": "mappings", "/channel-rules": "channels" };

// What falls through and the rule that would catch it (docs/insights.md): channels by day as
// a chart, then the fall-through hosts and unknown mediums, each suggestion one button from
// its prefilled rule form (or, for own domains, from a confirmed settings change), and one
// from being dismissed.
async function insightsView(params) {
  const out = [h("h1", {}, "Insights")];
  const missing = needAccount("insights");
  if (missing) return out.concat(missing);
  out.push(h("p", { class: "help", id: "insights-help" },
    `What the live resolutions of ${state.account} said, by day (UTC), and the referrer hosts that fell through — a plain referral, or the channel Unassigned — with the rule that would catch each. Counts are kept whatever the time travel (As of) shows.`));
  const from = params.get("from") || "";
  const to = params.get("to") || "";
  const after = params.get("after") || "";
  const fromIn = h("input", { id: "insights-from", name: "from", type: "date", value: from });
  const toIn = h("input", { id: "insights-to", name: "to", type: "date", value: to });
  const go = (extra = {}) => {
    const p = new URLSearchParams({ from: fromIn.value, to: toIn.value, ...extra });
    for (const [k, v] of [...p]) if (!v) p.delete(k);
    location.hash = `#/insights${p.size ? "?" + p : ""}`;
  };
  out.push(h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); go(); } },
    h("label", {}, "From", fromIn), h("label", {}, "To", toIn), h("button", { type: "submit", class: "secondary" }, "Show")));
  const query = { account_id: state.account, from: from || undefined, to: to || undefined };
  const [{ data }, { data: refs }] = await Promise.all([
    api("GET", "/insights", { query }),
    api("GET", "/insights/referrers", { query: { ...query, limit: 50, starting_after: after || undefined } }),
  ]);
  const missingNodes = [...new Set([...data.nodes_missing, ...refs.nodes_missing])];
  if (missingNodes.length) {
    out.push(h("p", { class: "notice", id: "insights-partial" }, `Partial: the counts of ${missingNodes.join(", ")} are missing (no answer in time); the numbers below are what the other nodes counted.`));
  }
  const t = data.totals;
  const fell = (t.by_reason.referral || 0);
  out.push(h("p", { id: "insights-totals" }, `${t.resolutions} ${t.resolutions === 1 ? "resolution" : "resolutions"} from ${data.from} to ${data.to}; ${fell} plain ${fell === 1 ? "referral" : "referrals"}, ${t.by_channel.Unassigned || 0} Unassigned.`));
  out.push(h("h2", {}, "Channels by day"));
  const groups = data.days.flatMap((d) => Object.entries(d.by_channel).map(([channel, n]) => ({ date: d.date, channel, resolutions: n })));
  out.push(stackedChart(groups, "resolutions", data.from, data.to, { by: "channel", id: "insights-chart" }));
  const channels = Object.entries(t.by_channel).sort((a, b) => b[1] - a[1]);
  out.push(tableWrap("Resolutions by channel", h("table", { id: "insights-channels" },
    h("caption", {}, "Resolutions by channel over the range"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Channel"), h("th", { scope: "col", class: "num" }, "Resolutions"))),
    h("tbody", {}, channels.length ? null : h("tr", {}, h("td", { colspan: 2 }, "Nothing counted in this range.")),
      ...channels.map(([c, n]) => h("tr", {}, h("td", {}, c), h("td", { class: "num" }, String(n))))))));

  const writable = can.write();
  const actions = (subject, s) => {
    if (!writable) return null;
    const cell = h("td", {});
    const req = s.request;
    if (req && req.method === "POST" && SUGGESTED_KINDS[req.path]) {
      cell.append(h("button", { type: "button", class: "link", "aria-label": `Create rule… suggested for ${subject}`,
        onclick: guarded(() => ruleDialog(SUGGESTED_KINDS[req.path], null, req.body)) }, "Create rule…"));
    } else if (req && req.method === "PATCH") {
      cell.append(h("button", { type: "button", class: "link", "aria-label": `Apply… the settings suggested for ${subject}`,
        onclick: guarded(async () => {
          const yes = await confirmDialog("Change the settings?", `${s.reason}. The settings get: ${JSON.stringify(req.body)}`, "Apply");
          if (!yes) return;
          await api("PATCH", req.path, { query: { account_id: state.account }, body: req.body });
          say(`Saved the settings of ${state.account}.`);
          render();
        }) }, "Apply…"));
    }
    if (s.dismiss) {
      cell.append(h("button", { type: "button", class: "link", "aria-label": `Dismiss the suggestion for ${subject}`,
        onclick: guarded(async () => {
          await api("PATCH", s.dismiss.path, { query: { account_id: state.account }, body: s.dismiss.body });
          say(`Dismissed the suggestion for ${subject}: it is not shown again.`);
          render();
        }) }, "Dismiss"));
    }
    return cell;
  };
  const suggestionText = (s) => h("span", {}, h("span", { class: "pill" }, s.kind.replace("_", " ")), " ", s.reason);
  out.push(h("h2", {}, "What fell through"));
  out.push(h("p", { class: "help" }, refs.hosts_forgotten
    ? `Every host with more than ${refs.unlisted_at_most} visits is listed; ${refs.hosts_forgotten} rarer hosts were not kept (docs/insights.md, "Bounded memory").`
    : "Every host that fell through is listed, with its exact visits."));
  out.push(tableWrap("Fall-through hosts", h("table", { id: "insights-hosts" },
    h("caption", {}, "Referrer hosts that fell through, most visits first"),
    h("thead", {}, h("tr", {}, ...["Host", "Visits", "With a session", "Landing hosts", "Suggestion"].map((c, i) => h("th", { scope: "col", class: i === 1 || i === 2 ? "num" : "" }, c)),
      writable ? h("th", { scope: "col" }, "Actions") : null)),
    h("tbody", {}, refs.referrers.length ? null : h("tr", {}, h("td", { colspan: writable ? 6 : 5 }, "Nothing fell through in this range.")),
      ...refs.referrers.map((r) => h("tr", { "data-host": r.host },
        h("td", {}, r.host), h("td", { class: "num" }, r.visits_overcount ? `${r.visits} (at most ${r.visits_overcount} over)` : String(r.visits)),
        h("td", { class: "num" }, String(r.visits_with_session)),
        h("td", {}, r.landing_hosts.join(", ") + (r.more_landing_hosts ? ", …" : "")),
        h("td", {}, suggestionText(r.suggestion)), actions(r.host, r.suggestion)))))));
  if (after || refs.has_more) {
    const pager = h("div", { class: "actions" });
    if (after) pager.append(h("button", { type: "button", class: "secondary", onclick: () => go() }, "First page"));
    if (refs.has_more) pager.append(h("button", { type: "button", class: "secondary", id: "insights-next", onclick: () => go({ after: refs.next_starting_after }) }, "Next page"));
    out.push(pager);
  }
  out.push(h("h2", {}, "Unknown utm_medium values"));
  out.push(tableWrap("Unknown utm_medium values", h("table", { id: "insights-mediums" },
    h("caption", {}, "utm_medium values the default channel group did not know"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "utm_medium"), h("th", { scope: "col", class: "num" }, "Visits"), h("th", { scope: "col" }, "Suggestion"),
      writable ? h("th", { scope: "col" }, "Actions") : null)),
    h("tbody", {}, refs.unknown_mediums.length ? null : h("tr", {}, h("td", { colspan: writable ? 4 : 3 }, "None in this range.")),
      ...refs.unknown_mediums.map((m) => h("tr", {}, h("td", {}, m.utm_medium), h("td", { class: "num" }, String(m.visits)),
        h("td", {}, suggestionText(m.suggestion)), actions(`utm_medium ${m.utm_medium}`, m.suggestion)))))));
  return out;
}

// -- audit ---------------------------------------------------------------------------------

async function auditView(params) {
  const out = [h("h1", {}, "Audit log")];
  const missing = needAccount();
  if (missing) return out.concat(missing);
  // The newest page unless an older one is asked for: the log is read forwards from a sequence.
  const PAGE = 100;
  let after = params.get("after");
  if (after === null) {
    const head = (await api("GET", "/audit-log", { query: { account_id: state.account, limit: 1 } })).data.head_seq;
    after = String(Math.max(0, head - PAGE));
  }
  const { data } = await api("GET", "/audit-log", { query: { account_id: state.account, after_seq: after, limit: PAGE } });
  // Who: the key's name where this key may list keys.
  const names = new Map();
  try {
    for (const active of [true, false])
      for (const k of (await api("GET", "/api-keys", { query: { limit: 1000, is_active: active } })).data.keys) names.set(k.id, k.name);
  } catch { /* ids only */ }
  const first = data.events.length ? data.events[0].seq : data.head_seq + 1;
  out.push(h("p", {}, `Account ${data.account_id}: ${data.head_seq} events; events ${first} to ${first + data.events.length - 1} below, newest first.`));
  // The value each entity had before each event, from the events on this page.
  const before = new Map();
  const seen = new Map();
  for (const e of data.events) {
    const k = `${e.entity} ${e.entity_id}`;
    before.set(e.seq, seen.get(k) || null);
    seen.set(k, e.object);
  }
  const items = [...data.events].reverse().map((e) => {
    const prev = before.get(e.seq);
    const changes = (e.changed || []).map((f) => h("li", {}, `${f}: `,
      prev ? h("del", {}, JSON.stringify(prev[f])) : null, prev ? " → " : "", h("ins", {}, JSON.stringify(e.object ? e.object[f] : null))));
    // The account's settings are one object, on their own page; every rule kind has its page.
    const settings = e.entity === "account_settings";
    const kind = { passthrough_referrer: "passthrough", channel_rule: "channels" }[e.entity] || "mappings";
    const label = e.object ? e.object.domain || e.object.referrer_pattern || e.object.name || "" : "";
    const what = settings ? "settings" : "rules";
    return h("li", { "data-seq": e.seq },
      h("div", { class: "when" }, `#${e.seq} · ${fmtTime(e.timestamp)} · by ${e.key_id === null ? "—" : names.has(e.key_id) ? `${names.get(e.key_id)} (key ${e.key_id})` : `key ${e.key_id}`}`),
      h("div", {}, h("strong", {}, e.type), " ",
        settings ? h("a", { href: "#/settings" }, e.entity) : h("a", { href: `#/rules/${kind}?edit=${e.entity_id}&status=all` }, `${e.entity} ${e.entity_id}`),
        label ? ` (${label})` : ""),
      changes.length ? h("ul", { class: "diff" }, ...changes) : null,
      h("button", { type: "button", class: "link", "aria-label": `Show the ${what} at this moment (event ${e.seq})`, onclick: () => {
        setAsOf(new Date(e.timestamp));
        location.hash = settings ? "#/settings" : `#/rules/${kind}?status=all`;
      } }, `Show the ${what} at this moment`));
  });
  out.push(h("ol", { class: "timeline", id: "audit-timeline", reversed: true }, ...items));
  const pager = h("div", { class: "actions" });
  if (first > 1) pager.append(h("a", { href: `#/audit?after=${Math.max(0, first - 1 - PAGE)}` }, "Older events"));
  if (data.next_after_seq) pager.append(h("a", { href: `#/audit?after=${data.next_after_seq}` }, "Newer events"));
  out.push(pager);
  return out;
}

function setAsOf(date) {
  state.asOfExact = date ? date.toISOString() : "";
  if (!date) {
    state.asOf = "";
    $("#ctx-asof").value = "";
    return;
  }
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  state.asOf = local;
  $("#ctx-asof").value = local;
}

// -- keys and backups (admin) --------------------------------------------------------------

async function keysView() {
  const out = [h("h1", {}, "API keys")];
  const { data } = await api("GET", "/api-keys", { query: { limit: 1000 } });
  out.push(tableWrap("API keys", h("table", { id: "keys" },
    h("thead", {}, h("tr", {}, ...["Id", "Name", "Role", "Accounts", "Brands", "Origins", "Last used", "Expires", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...data.keys.map((k) => h("tr", {},
      h("td", {}, String(k.id)), h("td", {}, k.name), h("td", {}, k.role), h("td", {}, k.accounts.join(", ") || "—"), h("td", {}, k.brands.join(", ") || "—"),
      h("td", {}, (k.allowed_origins || []).join(", ") || "—"),
      h("td", {}, fmtTime(k.last_used_at)), h("td", {}, k.expires_at ? fmtTime(k.expires_at) : "never"),
      h("td", {}, k.id === state.me.id ? "this key" : h("button", { type: "button", class: "link", "aria-label": `Revoke key ${k.name}`, onclick: async () => {
        if (!(await confirmDialog(`Revoke key ${k.name}?`, "Requests with it will be refused at once.", "Revoke"))) return;
        try { await api("DELETE", `/api-keys/${k.id}`); say(`Revoked key ${k.name}.`); render(); } catch (err) { say(err.message, "error"); }
      } }, "Revoke"))))))));
  const secret = h("div", { id: "new-key", role: "status" });
  out.push(h("h2", {}, "New key"), h("form", { class: "toolbar", onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const list = (v, num) => v.split(",").map((x) => x.trim()).filter(Boolean).map((x) => (num && x !== "*" ? Number(x) : x));
    try {
      const body = { name: f.name.value, role: f.role.value, accounts: list(f.accounts.value), brands: list(f.brands.value, true) };
      // A publishable key (for web pages) lists its origins; no other key has any.
      if (f.origins.value.trim()) body.allowed_origins = list(f.origins.value);
      const { data: k } = await api("POST", "/api-keys", { body });
      secret.replaceChildren(h("p", {}, `Key ${k.id} created. Its secret is shown only now:`), h("p", { class: "secret" }, k.secret));
    } catch (err) { secret.replaceChildren(h("p", { class: "error" }, err.details.map((d) => `${d.field}: ${d.message}`).join("; ") || err.message)); }
  } },
    h("label", {}, "Name", h("input", { name: "name", required: true })),
    h("label", {}, "Role", h("select", { name: "role" }, ...["viewer", "editor", "admin", "publishable"].map((r) => h("option", { value: r }, r)))),
    h("label", {}, "Accounts (comma-separated, * for all)", h("input", { name: "accounts" })),
    h("label", {}, "Brands (comma-separated, * for all)", h("input", { name: "brands" })),
    h("label", {}, "Web origins (publishable keys, comma-separated)", h("input", { name: "origins", placeholder: "https://shop.example" })),
    h("button", { type: "submit" }, "Create key")), secret);
  return out;
}

async function backupsView() {
  const out = [h("h1", {}, "Backups")];
  const { data } = await api("GET", "/admin/snapshots", { query: { limit: 1000 } });
  out.push(h("div", { class: "actions" }, h("button", { type: "button", onclick: async () => {
    try { const { data: b } = await api("POST", "/admin/snapshots"); say(`Backup ${b.name} made (${b.size_bytes} bytes).`); render(); } catch (err) { say(err.message, "error"); }
  } }, "Make a backup now")));
  out.push(tableWrap("Backups", h("table", { id: "backups" },
    h("thead", {}, h("tr", {}, ...["Name", "Made", "Size (bytes)", "Accounts"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...data.snapshots.map((b) => h("tr", {}, h("td", {}, b.name), h("td", {}, fmtTime(b.created_at)), h("td", { class: "num" }, String(b.size_bytes)),
      h("td", {}, Object.keys(b.accounts).length + " accounts")))))));
  return out;
}

// -- routing -------------------------------------------------------------------------------

// Each render reads what its page shows from the API; a render started later (a click on
// the navigation while the page before it is still loading) owns the page, and an earlier
// one that answers after it is dropped.
let renderSeq = 0;

async function render() {
  const seq = ++renderSeq;
  const [path, query = ""] = location.hash.slice(1).split("?");
  const params = new URLSearchParams(query);
  const target = main();
  if (!state.key) {
    target.replaceChildren(...signInView());
    document.title = "Sign in · referrald console";
    $("#signin-key").focus();
    return;
  }
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === "#" + path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  let view;
  try {
    if (path.startsWith("/rules/") && Object.hasOwn(KINDS, path.slice(7))) view = await rulesView(path.slice(7), params);
    else if (path === "/settings") view = await settingsView();
    else if (path === "/insights") view = await insightsView(params);
    else if (path === "/test") view = testView(params);
    else if (path === "/ai") view = await aiView(params);
    else if (path === "/audit" && can.admin()) view = await auditView(params);
    else if (path === "/keys" && can.admin()) view = await keysView();
    else if (path === "/backups" && can.backups()) view = await backupsView();
    else {
      location.hash = "#/rules/passthrough";
      return;
    }
  } catch (err) {
    view = [h("h1", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, err.message)];
  }
  if (seq !== renderSeq) return;
  target.replaceChildren(...view.filter(Boolean));
  const h1 = target.querySelector("h1");
  document.title = `${h1 ? h1.textContent : "referrald"} · referrald console`;
}

function start() {
  state.key = sessionStorage.getItem(KEY);
  $("#signout").addEventListener("click", () => signOut("Signed out."));
  $("#ctx-account").addEventListener("change", (e) => {
    state.account = e.target.value.trim();
    localStorage.setItem("referrald.account", state.account);
    // A page cursor belongs to the account it was read from.
    const [path, query = ""] = location.hash.split("?");
    const params = new URLSearchParams(query);
    if (params.has("after")) {
      params.delete("after");
      location.hash = path + (params.size ? "?" + params : "");
    } else {
      render();
    }
  });
  $("#ctx-brand").addEventListener("change", (e) => { state.brand = e.target.value.trim(); localStorage.setItem("referrald.brand", state.brand); render(); });
  $("#ctx-asof").addEventListener("change", (e) => { state.asOf = e.target.value; state.asOfExact = ""; render(); });
  $(".skip").addEventListener("click", (e) => { e.preventDefault(); main().focus(); });
  $("#ctx-now").addEventListener("click", () => { setAsOf(null); render(); });
  window.addEventListener("hashchange", () => {
    say("");
    render().then(() => main().focus());
  });
  if (state.key) {
    loadMe().then(render, () => signOut("Sign in again."));
  } else {
    render();
  }
}

start();
