// The console (/console/) in a headless Chromium against a fresh referrald.
//
//   node tests/console/console_test.mjs REFERRALD_BINARY
//
// Run by console_test.sh (ctest console_browser). The test is a list of named steps run in
// order, each with the shared context ctx:
//   ctx.binary     the server binary
//   ctx.server     startServer's {port, base, adminKey, pid, stop()} (after "start server")
//   ctx.browser    the puppeteer Browser (after "launch chromium")
//   ctx.timings    [timeToFirstRender(...)], printed at the end
// A step passes unless it throws; every step runs even after one failed (a step needing the
// server or the browser then fails with "needs ..."), and the browser and the server are
// always stopped at the end, also on SIGINT or SIGTERM. Exit status 1 when any step failed.
//
// Add a console flow with
//   steps.push(["sign in", async (ctx) => {
//     const info = await h.openPage(need(ctx, "browser"), `${need(ctx, "server").base}/console/`);
//     try { ...; h.assertNoConsoleErrors(info); } finally { await info.page.close(); }
//   }]);
import * as h from "./harness.mjs";

const STEP_TIMEOUT_MS = 120_000;

const binary = process.argv[2];
if (!binary) {
  console.error("usage: node console_test.mjs REFERRALD_BINARY");
  process.exit(2);
}

const steps = [];

// need(ctx, "server" | "browser"): the context's server or browser, or an error naming the
// step that should have made it.
function need(ctx, what) {
  if (!ctx[what]) throw new Error(`needs the ${what} (its step failed)`);
  return ctx[what];
}

// ---------------------------------------------------------------------------------------
// Setup.

steps.push(["start server", async (ctx) => {
  ctx.server = await h.startServer(ctx.binary);
  console.log(`# referrald pid ${ctx.server.pid} on ${ctx.server.base}`);
}]);

steps.push(["launch chromium", async (ctx) => {
  ctx.browser = await h.launch();
  ctx.chromiumVersion = await ctx.browser.version();
  console.log(`# ${ctx.chromiumVersion} (${h.chromiumPath}, pid ${ctx.browser.process()?.pid})`);
}]);

// ---------------------------------------------------------------------------------------
// Smoke checks of the harness itself (the console's own flows go after these).

steps.push(["seed through the API", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const created = await h.api(base, adminKey, "POST", "/passthrough-referrers?account_id=console-test",
    { domain: "https://pay.example.com", utm_source: "pay", service_name: "Payments" },
    { "Idempotency-Key": "console-test-seed-1" });
  if (created.status !== 201) throw new Error(`create answered ${created.status}: ${created.text}`);
  const listed = await h.api(base, adminKey, "GET", "/passthrough-referrers?account_id=console-test");
  if (listed.status !== 200 || listed.json?.data?.total !== 1) {
    throw new Error(`list answered ${listed.status}: ${listed.text}`);
  }
  const anonymous = await h.api(base, null, "GET", "/passthrough-referrers?account_id=console-test");
  if (anonymous.status !== 401) throw new Error(`without a key: ${anonymous.status}, not 401`);
}]);

steps.push(["axe on a trivial page", async (ctx) => {
  const info = await h.openPage(need(ctx, "browser"), null);
  try {
    await info.page.setContent('<!doctype html><html lang="en"><title>t</title><main><h1>x</h1></main></html>');
    const violations = await h.runAxe(info.page, "trivial page");
    h.assertNoSeriousViolations(violations, "trivial page");
    if (violations.length > 0) console.log(`# axe (minor): ${h.summarizeViolations(violations).join("; ")}`);
    // The check itself must bite: an image without alt text is a critical violation.
    await info.page.setContent('<!doctype html><html lang="en"><title>t</title><main><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main></html>');
    const bad = await h.runAxe(info.page, "image without alt");
    let threw = false;
    try {
      h.assertNoSeriousViolations(bad, "image without alt");
    } catch {
      threw = true;
    }
    if (!threw) throw new Error(`an image without alt text passed axe (${h.summarizeViolations(bad).join("; ") || "no violations"})`);
    h.assertNoConsoleErrors(info);
  } finally {
    await info.page.close();
  }
}]);

// ---------------------------------------------------------------------------------------
// The console's flows, in one signed-in tab (ctx.tab), each checked with axe and for
// console errors, with a screenshot of each page in build/console-screenshots/.

const ACCOUNT = "console-test";

async function setValue(page, selector, value) {
  await page.$eval(selector, (el, v) => {
    el.value = v;
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }, value);
}

async function waitText(page, selector, text) {
  await page.waitForFunction((sel, t) => {
    const el = document.querySelector(sel);
    return el && el.textContent.includes(t);
  }, {}, selector, text);
}

async function checkPage(info, label, { screenshot = label, allowed = [] } = {}) {
  await h.settle(info);
  const violations = await h.runAxe(info.page, label);
  h.assertNoSeriousViolations(violations, label);
  if (violations.length > 0) console.log(`# axe (minor) on ${label}: ${h.summarizeViolations(violations).join("; ")}`);
  if (screenshot) await h.screenshot(info.page, screenshot);
  h.assertNoConsoleErrors(info, allowed);
}

async function signIn(page, key) {
  await page.waitForSelector("#signin-key");
  await page.focus("#signin-key");
  await page.keyboard.type(key);
  await page.keyboard.press("Enter"); // the form is usable from the keyboard
  await page.waitForSelector("#nav a");
}

steps.push(["the sign-in page: renders, refuses a wrong key at the field", async (ctx) => {
  const { base } = need(ctx, "server");
  const info = await h.openPage(need(ctx, "browser"), `${base}/console/`);
  ctx.tab = info;
  const page = info.page;
  ctx.timings.push(await h.timeToFirstRender(page));
  await page.waitForSelector("#signin-key");
  // Before anyone signed in, only the sign-in form applies: no sections, no account, brand
  // or as-of fields, no "Sign out" (a stylesheet's display once overrode their hidden).
  const shown = await page.evaluate(() =>
    ["#nav", "#context", "#signout", "#ctx-account", "#ctx-brand", "#ctx-asof", "#ctx-now"]
      .filter((sel) => {
        const el = document.querySelector(sel);
        return el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
      }));
  if (shown.length) throw new Error(`shown on the sign-in page: ${shown.join(", ")}`);
  await checkPage(info, "sign-in");
  h.assertOnlyOrigin(info, base);
  info.expectResponse("/api-keys/me", 401);
  await page.type("#signin-key", "rk_not_a_key_of_this_server_0123456789");
  await page.click("#signin button[type=submit]");
  await waitText(page, "#signin-error", "not accepted");
  const invalid = await page.$eval("#signin-key", (el) => el.getAttribute("aria-invalid"));
  if (invalid !== "true") throw new Error("the key field is not marked invalid");
  await page.$eval("#signin-key", (el) => { el.value = ""; });
  h.assertNoConsoleErrors(info);
}]);

steps.push(["sign in and list the account's rules", async (ctx) => {
  const info = need(ctx, "tab");
  const page = info.page;
  await signIn(page, need(ctx, "server").adminKey);
  const visible = await page.evaluate(() =>
    ["#nav", "#signout", "#ctx-account"].every((sel) => document.querySelector(sel).getClientRects().length > 0));
  if (!visible) throw new Error("the sections, the account field or Sign out are not shown once signed in");
  await setValue(page, "#ctx-account", ACCOUNT);
  await waitText(page, "#rules-table caption", "1 rule in console-test");
  const rows = await page.$$eval("#rules-table tbody tr", (trs) => trs.map((tr) => tr.innerText));
  if (!rows[0].includes("pay.example.com")) throw new Error(`rows: ${JSON.stringify(rows)}`);
  const key = await page.evaluate(() => sessionStorage.getItem("referrald.key"));
  if (!key) throw new Error("the key is not in sessionStorage");
  const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => localStorage.getItem(k).startsWith("rk_")));
  if (stored.length) throw new Error("a key was written to localStorage");
  await checkPage(info, "rules");
}]);

steps.push(["create a rule: the API's validation message at the field, then created", async (ctx) => {
  const info = need(ctx, "tab");
  const page = info.page;
  info.expectResponse(/\/passthrough-referrers\?account_id=/, 400);
  await page.click("#rule-new");
  await page.waitForSelector("dialog[open] #rule-form");
  await page.type("#f-domain", "https://News.Example.org/path");
  await page.click("#rule-form button[type=submit]");
  await waitText(page, "#f-utm_source-error", "must not be empty");
  const invalid = await page.$eval("#f-utm_source", (el) => el.getAttribute("aria-invalid"));
  if (invalid !== "true") throw new Error("utm_source is not marked invalid");
  const focused = await page.evaluate(() => document.activeElement?.id);
  if (focused !== "f-utm_source") throw new Error(`focus is on ${focused}, not the field in error`);
  await checkPage(info, "rule-form-error");
  await page.type("#f-utm_source", "news");
  await page.click("#rule-form button[type=submit]");
  await page.waitForFunction(() => !document.querySelector("dialog[open]"));
  await waitText(page, "#rules-table", "news.example.org");
  await waitText(page, "#status", "Created");
  h.assertNoConsoleErrors(info);
}]);

steps.push(["a stale edit gets 412 and shows what changed meanwhile", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const info = need(ctx, "tab");
  const page = info.page;
  const listed = await h.api(base, adminKey, "GET", `/passthrough-referrers?account_id=${ACCOUNT}&q=news`);
  const id = listed.json.data.referrers[0].id;
  ctx.newsId = id;
  if (listed.json.data.referrers[0].utm_medium !== "passthrough") {
    throw new Error(`a field left empty did not take its default: ${JSON.stringify(listed.json.data.referrers[0])}`);
  }
  await page.click(`button[aria-label="Edit rule ${id}"]`);
  await page.waitForSelector("dialog[open] #rule-form");
  // Another editor changes the rule meanwhile.
  const other = await h.api(base, adminKey, "PATCH", `/passthrough-referrers/${id}?account_id=${ACCOUNT}`, { service_name: "Newsroom" });
  if (other.status !== 200) throw new Error(`the other edit answered ${other.status}`);
  info.expectResponse(new RegExp(`/passthrough-referrers/${id}\\?`), 412);
  await setValue(page, "#f-utm_medium", "referral");
  await page.click("#rule-form button[type=submit]");
  await waitText(page, "#rule-conflict", "service_name");
  await waitText(page, "#rule-conflict", "Newsroom");
  await checkPage(info, "stale-edit");
  const after = await h.api(base, adminKey, "GET", `/passthrough-referrers/${id}?account_id=${ACCOUNT}`);
  if (after.json.data.utm_medium !== "passthrough") throw new Error("the stale edit was written");
  // Load the current version, and save the change on it.
  await page.click("#rule-conflict button");
  await page.waitForFunction(() => document.querySelector("#f-service_name")?.value === "Newsroom");
  await setValue(page, "#f-utm_medium", "referral");
  await page.click("#rule-form button[type=submit]");
  await page.waitForFunction(() => !document.querySelector("dialog[open]"));
  const saved = await h.api(base, adminKey, "GET", `/passthrough-referrers/${id}?account_id=${ACCOUNT}`);
  if (saved.json.data.utm_medium !== "referral" || saved.json.data.service_name !== "Newsroom") {
    throw new Error(`saved: ${JSON.stringify(saved.json.data)}`);
  }
  h.assertNoConsoleErrors(info);
}]);

steps.push(["deactivate, then delete with a confirmation", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const info = need(ctx, "tab");
  const page = info.page;
  const id = need(ctx, "newsId");
  // The table drawn after the last step's save, whose row carries the saved version's tag: a
  // click on the drawing from before it sends the old tag, and is refused (412, "changed
  // meanwhile").
  await page.waitForFunction((rid) =>
    document.querySelector(`#rules-table tr[data-id="${rid}"]`)?.textContent.includes("referral"), {}, id);
  // Found and clicked in one step in the page: a drawing in between would detach a handle.
  await page.waitForSelector(`button[aria-label="Deactivate rule ${id}"]`);
  await page.evaluate((rid) => document.querySelector(`button[aria-label="Deactivate rule ${rid}"]`).click(), id);
  await waitText(page, "#status", "deactivated");
  // The table is drawn again after the message: wait for that drawing (of active rules, so
  // without this one) before using its form, or the new drawing would undo the change.
  await page.waitForFunction((rid) => document.querySelector("#rules-table") &&
    !document.querySelector(`#rules-table tr[data-id="${rid}"]`), {}, id);
  const got = await h.api(base, adminKey, "GET", `/passthrough-referrers/${id}?account_id=${ACCOUNT}`);
  if (got.json.data.is_active !== false) throw new Error("not deactivated");
  await setValue(page, "#rules-status", "all");
  await page.evaluate(() => document.querySelector("form[role=search] button[type=submit]").click());
  // The table shown for status=all (it is drawn again: click the button of that drawing).
  await page.waitForFunction((rid) => location.hash.includes("status=all") &&
    document.querySelector(`#rules-table tr[data-id="${rid}"] .pill.off`), {}, id);
  await page.evaluate((rid) => document.querySelector(`button[aria-label="Delete rule ${rid}"]`).click(), id);
  await page.waitForSelector("dialog[open] #confirm-yes");
  await checkPage(info, "delete-confirm");
  await page.evaluate(() => document.querySelector("dialog[open] #confirm-yes").click());
  await waitText(page, "#status", "Deleted");
  const gone = await h.api(base, adminKey, "GET", `/passthrough-referrers/${id}?account_id=${ACCOUNT}`);
  if (gone.status !== 404) throw new Error(`after delete: ${gone.status}`);
  h.assertNoConsoleErrors(info);
}]);

steps.push(["import a CSV of mappings: preview, then apply", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const info = need(ctx, "tab");
  const page = info.page;
  await page.click('#nav a[href="#/rules/mappings"]');
  await waitText(page, "#rules-table caption", "0 rules");
  await page.click("#rule-import");
  await page.waitForSelector("dialog[open] #import-text");
  await setValue(page, "#import-text",
    "referrer_pattern,match_type,utm_source,priority\npartner1.com,ends_with,partner,10\n^portal[0-9]+\\.vendor\\.com$,regex,vendor,5\n");
  await page.click("#import-preview-button");
  await waitText(page, "#import-preview", "2 to create");
  const before = await h.api(base, adminKey, "GET", `/referrer-mappings?account_id=${ACCOUNT}`);
  if (before.json.data.total !== 0) throw new Error("the preview wrote rules");
  await checkPage(info, "import-preview");
  await page.click("#import-apply");
  await waitText(page, "#rules-table caption", "2 rules");
  ctx.importedAt = Date.now();
  h.assertNoConsoleErrors(info);
}]);

steps.push(["test a visit: the explanation and the deciding row of the precedence", async (ctx) => {
  const info = need(ctx, "tab");
  const page = info.page;
  await page.click('#nav a[href="#/test"]');
  await page.waitForSelector("#visit-form");
  await setValue(page, "#visit-referrer", "https://www.partner1.com/offers");
  await setValue(page, "#visit-landing_url", "https://hotel.example/rooms");
  await page.click("#visit-form button[type=submit]");
  await waitText(page, "#visit-reason", "mapping");
  await waitText(page, "#visit-rule", "mapping 1");
  const decides = await page.$$eval("#precedence tr.decides", (trs) => trs.map((tr) => tr.innerText));
  if (decides.length !== 1 || !decides[0].includes("mapping")) throw new Error(`deciding rows: ${JSON.stringify(decides)}`);
  const current = await page.$eval("#precedence tr.decides", (tr) => tr.getAttribute("aria-current"));
  if (current !== "true") throw new Error("the deciding row is not marked aria-current");
  await waitText(page, "#visit-channel", "Referral");
  const rows = await page.$$eval("#precedence tbody tr", (trs) => trs.map((tr) => tr.cells[1].innerText));
  if (!rows.includes("known_referrer") || rows[rows.length - 1] !== "channel") throw new Error(`precedence rows: ${JSON.stringify(rows)}`);
  await checkPage(info, "test-a-visit");
  // The winning rule's link opens it for editing, once.
  await page.click("#visit-rule a");
  await waitText(page, "dialog[open] h2", "Edit referrer mapping 1");
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => !document.querySelector("dialog[open]"));
  await new Promise((r) => setTimeout(r, 400));
  if (await page.$("dialog[open]")) throw new Error("the rule's dialog opened again");
  // A Google search: a known referrer, Organic Search.
  await page.click('#nav a[href="#/test"]');
  await page.waitForSelector("#visit-form");
  await setValue(page, "#visit-referrer", "https://www.google.de/");
  await setValue(page, "#visit-landing_url", "https://hotel.example/rooms");
  await page.click("#visit-form button[type=submit]");
  await waitText(page, "#visit-reason", "known_referrer");
  await waitText(page, "#visit-known", "Google (search)");
  await waitText(page, "#visit-channel", "Organic Search");
  h.assertNoConsoleErrors(info);
}]);

steps.push(["channel rules: the condition check at the field, then created, listed and edited", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const info = need(ctx, "tab");
  const page = info.page;
  await page.click('#nav a[href="#/rules/channels"]');
  await waitText(page, "#rules-table caption", "0 rules");
  await waitText(page, "#rules-help", "priority");
  // Without a condition the API refuses the rule, naming the field "channel".
  info.expectResponse(/\/channel-rules\?account_id=/, 400);
  await page.click("#rule-new");
  await page.waitForSelector("dialog[open] #rule-form");
  await page.type("#f-name", "Newsletter");
  await page.type("#f-channel", "Newsletter");
  await page.click("#rule-form button[type=submit]");
  await waitText(page, "#f-channel-error", "condition");
  const invalid = await page.$eval("#f-channel", (el) => el.getAttribute("aria-invalid"));
  if (invalid !== "true") throw new Error("channel is not marked invalid");
  // A list field: comma-separated values, sent as an array.
  await page.type("#f-utm_medium", "email, newsletter");
  await page.click("#rule-form button[type=submit]");
  await page.waitForFunction(() => !document.querySelector("dialog[open]"));
  await waitText(page, "#status", "Created channel rule");
  await waitText(page, "#rules-table", "Newsletter");
  const listed = await h.api(base, adminKey, "GET", `/channel-rules?account_id=${ACCOUNT}`);
  const rule = listed.json?.data?.channel_rules?.[0];
  if (listed.json?.data?.total !== 1 || JSON.stringify(rule.utm_medium) !== '["email","newsletter"]' ||
      JSON.stringify(rule.utm_source) !== "[]" || rule.channel !== "Newsletter") {
    throw new Error(`listed: ${listed.status} ${listed.text}`);
  }
  ctx.channelRuleId = rule.id;
  const row = await page.$eval(`#rules-table tr[data-id="${rule.id}"]`, (tr) => tr.innerText);
  if (!row.includes("Newsletter") || !row.includes("email or newsletter")) throw new Error(`row: ${row}`);
  await checkPage(info, "channel-rules");
  // Edit: the lists are shown joined by ", "; what changed is saved.
  await page.click(`button[aria-label="Edit rule ${rule.id}"]`);
  await page.waitForSelector("dialog[open] #rule-form");
  const shown = await page.$eval("#f-utm_medium", (el) => el.value);
  if (shown !== "email, newsletter") throw new Error(`utm_medium shown as ${JSON.stringify(shown)}`);
  await checkPage(info, "channel-rule-form");
  await setValue(page, "#f-priority", "10");
  await setValue(page, "#f-utm_source", " news, Mailchimp ,, ");
  await page.click("#rule-form button[type=submit]");
  await page.waitForFunction(() => !document.querySelector("dialog[open]"));
  await waitText(page, "#status", `Saved channel rule ${rule.id}`);
  const saved = await h.api(base, adminKey, "GET", `/channel-rules/${rule.id}?account_id=${ACCOUNT}`);
  const d = saved.json?.data;
  if (d?.priority !== 10 || JSON.stringify(d.utm_source) !== '["news","mailchimp"]' || JSON.stringify(d.utm_medium) !== '["email","newsletter"]') {
    throw new Error(`saved: ${saved.status} ${saved.text}`);
  }
  h.assertNoConsoleErrors(info);
}]);

steps.push(["settings: an own domain saved (only what changed, with If-Match), kept after a reload", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const info = need(ctx, "tab");
  const page = info.page;
  // A page still loading when the next one is chosen does not cover it when its answer comes:
  // the channel rules are answered a second late, the settings are chosen meanwhile.
  await page.click('#nav a[href="#/test"]');
  await page.waitForSelector("#visit-form");
  await page.evaluate(() => {
    const plain = window.fetch;
    window.plainFetch = plain;
    window.fetch = (url, init) => (String(url).includes("/channel-rules?") ? new Promise((r) => setTimeout(r, 1000)).then(() => plain(url, init)) : plain(url, init));
  });
  await page.click('#nav a[href="#/rules/channels"]');
  await page.click('#nav a[href="#/settings"]');
  await page.waitForSelector("#settings-own_domains");
  await new Promise((r) => setTimeout(r, 1500));
  await page.evaluate(() => { window.fetch = window.plainFetch; });
  if (!(await page.$("#settings-own_domains"))) {
    throw new Error(`the channel rules, answered late, covered the settings: ${await page.$eval("h1", (e) => e.textContent)}`);
  }
  const initial = await page.evaluate(() => ({
    domains: document.querySelector("#settings-own_domains").value,
    matomo: document.querySelector("#settings-matomo").checked,
    known: document.querySelector("#settings-known_referrers").checked,
    group: document.querySelector("#settings-default_channel_group").checked,
    lists: ["source", "medium", "campaign", "term", "content"].every((k) => document.querySelector(`#settings-${k}_parameters`)?.value === ""),
  }));
  if (initial.domains !== "" || initial.matomo || !initial.known || !initial.group || !initial.lists) {
    throw new Error(`the defaults shown: ${JSON.stringify(initial)}`);
  }
  await checkPage(info, "settings");
  const sent = [];
  const onRequest = (req) => {
    if (req.method() === "PATCH" && req.url().includes("/settings?")) sent.push({ body: req.postData(), ifMatch: req.headers()["if-match"] });
  };
  page.on("request", onRequest);
  try {
    await setValue(page, "#settings-own_domains", "shop.example.com");
    await page.click("#settings-save");
    await waitText(page, "#status", "Saved the settings");
  } finally {
    page.off("request", onRequest);
  }
  if (sent.length !== 1 || sent[0].body !== '{"own_domains":["shop.example.com"]}' || !sent[0].ifMatch) {
    throw new Error(`the PATCH sent: ${JSON.stringify(sent)}`);
  }
  const got = await h.api(base, adminKey, "GET", `/settings?account_id=${ACCOUNT}`);
  if (JSON.stringify(got.json?.data?.own_domains) !== '["shop.example.com"]' || got.json.data.known_referrers !== true) {
    throw new Error(`settings: ${got.status} ${got.text}`);
  }
  // Kept: read again after a reload of the page.
  await page.reload();
  await page.waitForFunction(() => document.querySelector("#settings-own_domains")?.value === "shop.example.com");
  await waitText(page, "#settings-info", "Last changed");
  h.assertNoConsoleErrors(info);
}]);

steps.push(["test a visit: a channel rule gives the channel, an own domain makes a visit internal", async (ctx) => {
  const info = need(ctx, "tab");
  const page = info.page;
  const id = need(ctx, "channelRuleId");
  const href = `#/rules/channels?edit=${id}&status=all`;
  await page.click('#nav a[href="#/test"]');
  await page.waitForSelector("#visit-form");
  await setValue(page, "#visit-referrer", "");
  await setValue(page, "#visit-landing_url", "https://example.com/?utm_source=news&utm_medium=newsletter");
  await page.click("#visit-form button[type=submit]");
  await waitText(page, "#visit-reason", "utm");
  await waitText(page, "#visit-channel", "Newsletter");
  await waitText(page, "#visit-channel-rule", "Newsletter");
  const link = await page.$eval("#visit-channel-rule a", (a) => a.getAttribute("href"));
  if (link !== href) throw new Error(`the channel rule links to ${link}`);
  // The precedence's channel row names the rule, linked to the channel rules page.
  const last = await page.$$eval("#precedence tbody tr", (trs) => {
    const tr = trs[trs.length - 1];
    return { step: tr.cells[1].innerText, why: tr.cells[3].innerText, links: [...tr.querySelectorAll("a")].map((a) => a.getAttribute("href")) };
  });
  if (last.step !== "channel" || !last.links.includes(href) || !last.why.includes("Newsletter")) {
    throw new Error(`the channel row: ${JSON.stringify(last)}`);
  }
  await checkPage(info, "test-a-visit-channel-rule");
  // A referrer on one of the account's own domains (settings): internal navigation.
  await setValue(page, "#visit-referrer", "https://shop.example.com/cart");
  await setValue(page, "#visit-landing_url", "https://blog.example.org/");
  await page.click("#visit-form button[type=submit]");
  await waitText(page, "#visit-reason", "internal");
  await waitText(page, "#visit-channel-rule", "—");
  const decides = await page.$$eval("#precedence tr.decides", (trs) => trs.map((tr) => tr.innerText));
  if (decides.length !== 1 || !decides[0].includes("internal")) throw new Error(`deciding rows: ${JSON.stringify(decides)}`);
  h.assertNoConsoleErrors(info);
}]);

steps.push(["AI referrals: connections and a stacked chart of pushed rows", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const info = need(ctx, "tab");
  const page = info.page;
  const conn = await h.api(base, adminKey, "POST", "/42/ai-referrals/connections", { name: "GA4 export", source_tool: "ga4" });
  if (conn.status !== 201) throw new Error(`connection: ${conn.status}`);
  const day = (n) => new Date(Date.now() - n * 86400000).toISOString().slice(0, 10);
  const rows = [];
  for (let n = 1; n <= 6; ++n) {
    rows.push({ date: day(n), raw_referrer_value: "chatgpt.com", raw_page_value: `/rooms/${n % 3}`, sessions: 10 + n, pageviews: 20 + n });
    rows.push({ date: day(n), raw_referrer_value: "perplexity.ai", raw_page_value: "/offers", sessions: n, pageviews: 2 * n });
  }
  const pushed = await h.api(base, adminKey, "POST", `/42/ai-referrals/connections/${conn.json.data.id}/events`, rows);
  if (pushed.json?.accepted !== rows.length) throw new Error(`push: ${pushed.text}`);
  await setValue(page, "#ctx-brand", "42");
  await page.click('#nav a[href="#/ai"]');
  await page.waitForSelector("#ai-chart rect");
  const bars = await page.$$eval("#ai-chart rect", (r) => r.length);
  if (bars !== rows.length) throw new Error(`${bars} bars for ${rows.length} day-platform groups`);
  const legend = await page.$eval(".legend", (el) => el.innerText);
  if (!legend.includes("chatgpt") || !legend.includes("perplexity")) throw new Error(`legend: ${legend}`);
  await waitText(page, "#report-totals", `${rows.reduce((s, r) => s + r.sessions, 0)} sessions`);
  await waitText(page, "#connections", "GA4 export");
  await waitText(page, "#connections", "12 rows"); // the last push, from the brand's audit stream
  const top = await page.$$eval("#top-pages tbody tr", (trs) => trs.map((tr) => tr.innerText.split("\t")[0]));
  if (top.length !== 4) throw new Error(`top pages: ${JSON.stringify(top)}`);
  await checkPage(info, "ai-referrals");
}]);

steps.push(["insights: traffic sent, its suggestion shown, accepted, and the next resolution changes", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const info = need(ctx, "tab");
  const page = info.page;
  const account = "console-insights";
  const partner = { referrer: "https://blog.partner.example/post", landing_url: "https://shop.example/" };
  const visits = Array.from({ length: 6 }, () => partner);
  visits.push({ referrer: "https://www.paypal.com/checkoutnow", landing_url: "https://shop.example/thanks", session: { utm_source: "newsletter", utm_medium: "email" } });
  visits.push({ referrer: null, landing_url: "https://shop.example/?utm_source=shop&utm_medium=weekly-newsletter" });
  const sent = await h.api(base, adminKey, "POST", `/attribution/resolve-batch?account_id=${account}`, { visits });
  if (sent.status !== 200) throw new Error(`batch: ${sent.status} ${sent.text}`);
  await setValue(page, "#ctx-account", account);
  try {
    await insightsLoop(base, adminKey, info, account, partner);
  } finally {
    await setValue(page, "#ctx-account", ACCOUNT);
  }
}]);

// The loop of the insights step, on `account`.
async function insightsLoop(base, adminKey, info, account, partner) {
  const page = info.page;
  await page.click('#nav a[href="#/insights"]');
  await page.waitForSelector('#insights-hosts tr[data-host="blog.partner.example"]');
  await waitText(page, "#insights-totals", "8 resolutions");
  const bars = await page.$$eval("#insights-chart rect", (r) => r.length);
  if (bars < 2) throw new Error(`${bars} bars for today's channels`);
  const legend = await page.$eval("#insights-chart + .legend", (el) => el.innerText);
  if (!legend.includes("Referral") || !legend.includes("Unassigned")) throw new Error(`legend: ${legend}`);
  const row = await page.$eval('#insights-hosts tr[data-host="blog.partner.example"]', (tr) => tr.innerText);
  if (!row.includes("mapping") || !row.includes("6")) throw new Error(`row: ${row}`);
  const paypal = await page.$eval('#insights-hosts tr[data-host="paypal.com"]', (tr) => tr.innerText);
  if (!paypal.includes("passthrough")) throw new Error(`row: ${paypal}`);
  await checkPage(info, "insights");
  // One click: the rule form, filled from the suggestion; created as any rule is.
  await page.click('button[aria-label="Create rule… suggested for blog.partner.example"]');
  await page.waitForSelector("dialog[open] #rule-form");
  const filled = await page.evaluate(() => ["referrer_pattern", "match_type", "utm_source"].map((n) => document.querySelector(`#f-${n}`).value));
  if (JSON.stringify(filled) !== '["partner.example","ends_with","partner"]') throw new Error(`form: ${JSON.stringify(filled)}`);
  await checkPage(info, "insights-rule-form");
  await page.click("#rule-form button[type=submit]");
  await page.waitForFunction(() => !document.querySelector("dialog[open]"));
  await waitText(page, "#status", "Created referrer mapping");
  const after = await h.api(base, adminKey, "POST", `/attribution/resolve?account_id=${account}`, partner);
  if (after.json?.data?.reason !== "mapping" || after.json.data.utm_source !== "partner") {
    throw new Error(`the next resolution: ${after.status} ${after.text}`);
  }
  // Dismissed: an audited settings change, and the suggestion is not offered again.
  await page.waitForSelector('button[aria-label="Dismiss the suggestion for utm_medium weekly-newsletter"]');
  await page.click('button[aria-label="Dismiss the suggestion for utm_medium weekly-newsletter"]');
  await waitText(page, "#status", "Dismissed");
  await waitText(page, "#insights-mediums", "dismissed");
  const settings = await h.api(base, adminKey, "GET", `/settings?account_id=${account}`);
  if (JSON.stringify(settings.json?.data?.insights_dismissed_mediums) !== '["weekly-newsletter"]') {
    throw new Error(`settings: ${settings.text}`);
  }
  h.assertNoConsoleErrors(info);
}

steps.push(["travel back: the rules as they stood before a deletion", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const info = need(ctx, "tab");
  const page = info.page;
  const importedAt = need(ctx, "importedAt");
  // One second later, mapping 1 is deleted; as of the import it still existed.
  await new Promise((r) => setTimeout(r, Math.max(0, importedAt + 1100 - Date.now())));
  const del = await h.api(base, adminKey, "DELETE", `/referrer-mappings/1?account_id=${ACCOUNT}`);
  if (del.status !== 204) throw new Error(`delete: ${del.status}`);
  await page.click('#nav a[href="#/audit"]');
  await page.waitForSelector("#audit-timeline li");
  await waitText(page, "#audit-timeline", "referrer_mapping.deleted");
  await checkPage(info, "audit-log");
  // The timeline's "Show the rules at this moment" of the first mapping's creation.
  const clicked = await page.evaluate(() => {
    const item = [...document.querySelectorAll("#audit-timeline li")]
      .find((li) => li.innerText.includes("referrer_mapping.created") && li.innerText.includes("referrer_mapping 1"));
    item?.querySelector("button").click();
    return Boolean(item);
  });
  if (!clicked) throw new Error("no creation of mapping 1 in the timeline");
  await page.waitForSelector("#asof-notice");
  await waitText(page, "#rules-table", "partner1.com");
  if (await page.$("#rule-new")) throw new Error("the past is editable");
  await checkPage(info, "rules-as-of");
  // Now: mapping 1 is gone.
  await page.click("#ctx-now");
  await page.waitForFunction(() => !document.querySelector("#asof-notice"));
  await page.waitForFunction(() => !document.querySelector("#rules-table").innerText.includes("partner1.com"));
  h.assertNoConsoleErrors(info);
}]);

steps.push(["the audit log: channel rules and the settings on their pages, the settings as they stood", async (ctx) => {
  const info = need(ctx, "tab");
  const page = info.page;
  const id = need(ctx, "channelRuleId");
  await page.click('#nav a[href="#/audit"]');
  await page.waitForSelector(`#audit-timeline a[href="#/rules/channels?edit=${id}&status=all"]`);
  await page.waitForSelector('#audit-timeline a[href="#/settings"]');
  // The settings event's "Show the settings at this moment".
  const clicked = await page.evaluate(() => {
    const item = [...document.querySelectorAll("#audit-timeline > li")].find((li) => li.querySelector('a[href="#/settings"]'));
    item?.querySelector("button").click();
    return Boolean(item);
  });
  if (!clicked) throw new Error("no settings event in the timeline");
  await page.waitForSelector("#asof-notice");
  await page.waitForFunction(() => document.querySelector("#settings-own_domains")?.value === "shop.example.com");
  const editable = await page.evaluate(() => Boolean(document.querySelector("#settings-save")) || !document.querySelector("#settings-own_domains").disabled);
  if (editable) throw new Error("the past settings are editable");
  await checkPage(info, "settings-as-of");
  // Now: editable again.
  await page.click("#ctx-now");
  await page.waitForSelector("#settings-save");
  if (await page.$("#asof-notice")) throw new Error("the as-of notice stays after Now");
  h.assertNoConsoleErrors(info);
}]);

steps.push(["the starter pack: previewed before it can be applied", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const info = need(ctx, "tab");
  const page = info.page;
  await page.click('#nav a[href="#/rules/passthrough"]');
  await page.waitForSelector("#starter-pack");
  await page.click("#starter-pack");
  await page.waitForSelector("dialog[open] #starter-apply");
  if (!(await page.$eval("#starter-apply", (b) => b.disabled))) throw new Error("Apply is offered before a preview");
  await page.click("dialog[open] .actions button.secondary"); // Preview
  await waitText(page, "#starter-preview", "to create");
  await checkPage(info, "starter-pack");
  await page.click("#starter-apply");
  await waitText(page, "#status", "Starter pack applied");
  const listed = await h.api(base, adminKey, "GET", `/passthrough-referrers?account_id=${ACCOUNT}&limit=1`);
  if (listed.json.data.total < 50) throw new Error(`after the pack: ${listed.json.data.total} rules`);
  h.assertNoConsoleErrors(info);
}]);

steps.push(["a publishable key for web pages: made on the keys page, its origins listed", async (ctx) => {
  const info = need(ctx, "tab");
  const page = info.page;
  await page.evaluate(() => { location.hash = "#/keys"; });
  await page.waitForSelector("#keys");
  await setValue(page, 'input[name="name"]', "shop pages");
  await page.select('select[name="role"]', "publishable");
  await setValue(page, 'input[name="accounts"]', ACCOUNT);
  await setValue(page, 'input[name="brands"]', "");
  await setValue(page, 'input[name="origins"]', "https://Shop.example/, http://localhost:8081");
  await page.evaluate(() => [...document.querySelectorAll("button[type=submit]")].find((b) => b.textContent === "Create key").click());
  await waitText(page, "#new-key", "pk_");
  await page.evaluate(() => { location.hash = "#/rules/passthrough"; });
  await page.waitForSelector("#rules-table");
  await page.evaluate(() => { location.hash = "#/keys"; });
  await waitText(page, "#keys", "https://shop.example");
  const row = await page.$$eval("#keys tbody tr", (trs) => trs.map((tr) => tr.innerText).find((t) => t.includes("shop pages")));
  if (!row || !row.includes("publishable") || !row.includes("http://localhost:8081")) throw new Error(`the key's row: ${row}`);
  await checkPage(info, "keys-publishable");
}]);

steps.push(["a viewer reads and is offered no change", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const made = await h.api(base, adminKey, "POST", "/api-keys", { name: "reader", role: "viewer", accounts: [ACCOUNT], brands: [42] });
  if (made.status !== 201) throw new Error(`viewer key: ${made.status}`);
  const info = await h.openPage(need(ctx, "browser"), `${base}/console/`);
  try {
    const page = info.page;
    await signIn(page, made.json.data.secret);
    await waitText(page, "#rules-table caption", "rules in console-test");
    const nav = await page.$eval("#nav", (n) => n.innerText);
    if (nav.includes("Audit") || nav.includes("API keys")) throw new Error(`a viewer's navigation: ${nav}`);
    for (const sel of ["#rule-new", "#rule-import", "button[aria-label^=Delete]"]) {
      if (await page.$(sel)) throw new Error(`a viewer is offered ${sel}`);
    }
    await checkPage(info, "viewer");
    // The settings: shown, not offered for change.
    await page.click('#nav a[href="#/settings"]');
    await page.waitForFunction(() => document.querySelector("#settings-own_domains")?.value === "shop.example.com");
    if (await page.$("#settings-save")) throw new Error("a viewer is offered #settings-save");
    if (!(await page.$eval("#settings-own_domains", (el) => el.disabled))) throw new Error("a viewer can edit the settings");
    await checkPage(info, "settings-viewer");
  } finally {
    await info.page.close();
  }
}]);

steps.push(["usable at 360 px: no sideways scrolling", async (ctx) => {
  const { base, adminKey } = need(ctx, "server");
  const info = await h.openPage(need(ctx, "browser"), `${base}/console/`, { width: 360, height: 740 });
  try {
    const page = info.page;
    await signIn(page, adminKey);
    await waitText(page, "#rules-table caption", "rules in console-test");
    for (const [hash, sel, name] of [["#/rules/passthrough", "#rules-table", "rules-360"], ["#/test", "#visit-form", "test-360"], ["#/ai", "#ai-chart", "ai-360"],
      ["#/settings", "#settings-own_domains", "settings-360"]]) {
      await page.evaluate((x) => { location.hash = x; }, hash);
      await page.waitForSelector(sel);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      if (wide > 362) throw new Error(`${hash} is ${wide} px wide at 360`);
      await checkPage(info, name);
    }
  } finally {
    await info.page.close();
  }
}]);

steps.push(["the console's page weight", async (ctx) => {
  const info = need(ctx, "tab");
  h.assertNoConsoleErrors(info);
  await info.page.close();
  ctx.tab = null;
}]);
// ---------------------------------------------------------------------------------------
// The runner.

const ctx = { binary, server: null, browser: null, timings: [] };
let failures = 0;

async function runStep(name, fn) {
  const started = performance.now();
  try {
    await h.withTimeout(Promise.resolve().then(() => fn(ctx)), STEP_TIMEOUT_MS, name);
    console.log(`ok - ${name} (${Math.round(performance.now() - started)} ms)`);
  } catch (e) {
    failures++;
    const reason = (e?.message ?? String(e)).replace(/\n/g, "\n    ");
    console.log(`FAILED - ${name}: ${reason}`);
    // What the console showed when the step failed, for whoever reads the log.
    if (ctx.tab?.page) {
      try {
        const file = await h.screenshot(ctx.tab.page, "FAILED-" + name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60));
        console.log(`#   the page then: ${file}`);
        await ctx.tab.page.keyboard.press("Escape"); // a dialog left open would block the next steps
      } catch {
        // the page is gone
      }
    }
  }
}

let cleaning = null;
function teardown() {
  cleaning ??= (async () => {
    await runStep("close chromium", async (c) => {
      const browser = c.browser;
      c.browser = null;
      await h.closeBrowser(browser);
    });
    await runStep("stop server", async (c) => {
      const server = c.server;
      c.server = null;
      if (server) await server.stop();
    });
  })();
  return cleaning;
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    console.log(`FAILED - interrupted by ${signal}`);
    failures++;
    // Bounded: the browser closes within 10 s (then SIGKILL), the server stops within 10 s.
    teardown().finally(() => process.exit(1));
  });
}

const started = performance.now();
try {
  for (const [name, fn] of steps) await runStep(name, fn);
} finally {
  await teardown();
}

if (ctx.timings.length > 0) {
  console.log("# timings:");
  for (const t of ctx.timings) console.log(`#   ${h.formatTimings(t)}`);
}
const total = Math.round(performance.now() - started);
const count = steps.length + 2;
console.log(failures === 0
  ? `# all ${count} steps passed in ${total} ms`
  : `# ${failures} of ${count} steps FAILED (${total} ms)`);
process.exit(failures === 0 ? 0 : 1);
