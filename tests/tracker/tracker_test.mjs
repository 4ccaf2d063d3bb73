// The tracker snippet (GET /js/referrald.js) in a headless Chromium, on pages of their own
// origins: a test site served here on 127.0.0.1 under the names shop.example (the customer's
// site), pay.example (its payment page, a passthrough domain), partner.example (a mapped
// referrer) and other.example (a site the publishable key does not list), which Chromium
// resolves to 127.0.0.1 and nothing else.
//
//   node tests/tracker/tracker_test.mjs REFERRALD_BINARY
//
// Run by tracker_test.sh (ctest tracker_browser). The steps run in order; a step passes
// unless it throws. The browser, the site and the server are always stopped at the end.
// Exit status 1 when any step failed.
import http from "node:http";
import zlib from "node:zlib";
import * as h from "../console/harness.mjs";

const STEP_TIMEOUT_MS = 60_000;
const SIZE_LIMIT = 6 * 1024; // gzipped bytes
const ACCOUNT = "shop";

const binary = process.argv[2];
if (!binary) {
  console.error("usage: node tracker_test.mjs REFERRALD_BINARY");
  process.exit(2);
}

const ctx = { binary };
const steps = [];

function need(what) {
  if (!ctx[what]) throw new Error(`needs the ${what} (its step failed)`);
  return ctx[what];
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

// ---------------------------------------------------------------------------------------
// The test site: one server, told apart by the Host header's name.

function shopPage({ title, scriptSrc, endpoint = "", timeout = "" }) {
  const api = need("server").base;
  const extra = (endpoint ? ` data-endpoint="${endpoint}"` : "") + (timeout ? ` data-session-timeout="${timeout}"` : "");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${title}</title><script src="/page.js"></script></head>
<body>
<main><h1>${title}</h1>
<form action="/thanks"><input type="hidden" name="referrald_utm_source"><input type="hidden" name="referrald_channel">
<input type="hidden" name="referrald_first_utm_source"><button>Book</button></form>
<a id="pay" href="http://pay.example:${ctx.sitePort}/pay">Pay</a>
</main>
<script src="${scriptSrc ?? `${api}/js/referrald.js`}" data-key="${ctx.publishable}" data-account="${ACCOUNT}" data-fill-forms${extra} async></script>
</body>
</html>`;
}

function linkPage(title, href) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><main><h1>${title}</h1><a id="back" href="${href}">Back to the shop</a></main></body></html>`;
}

function startSite() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const host = (req.headers.host ?? "").split(":")[0];
    const api = ctx.server?.base ?? "";
    const send = (status, type, body, headers = {}) => {
      res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store", ...headers });
      res.end(body);
    };
    // The customer's pages run under a strict policy: scripts from this site and referrald
    // only, no inline code, no eval, connections to referrald only.
    const policy = `default-src 'none'; script-src 'self' ${api}; connect-src ${api}; style-src 'none'; base-uri 'none'; form-action 'self'`;
    if (url.pathname === "/favicon.ico") return send(204, "image/x-icon", "");
    if (url.pathname === "/page.js") {
      return send(200, "text/javascript", 'window.dataLayer = window.dataLayer || [];\ndocument.documentElement.dataset.page = "ran";\n');
    }
    if (url.pathname === "/copy/referrald.js") return send(200, "text/javascript", ctx.snippet ?? "");
    if (host === "pay.example" && url.pathname === "/pay") {
      return send(200, "text/html; charset=utf-8", linkPage("Payment", `http://shop.example:${ctx.sitePort}/return`));
    }
    if (host === "partner.example" && url.pathname === "/partner") {
      return send(200, "text/html; charset=utf-8", linkPage("Partner", `http://shop.example:${ctx.sitePort}/rooms`));
    }
    if (host === "shop.example" || host === "other.example") {
      const offline = url.pathname === "/offline";
      const page = shopPage({
        title: `Shop ${url.pathname}`,
        scriptSrc: offline ? "/copy/referrald.js" : undefined,
        endpoint: offline ? api : "",
        timeout: "30",
      });
      return send(200, "text/html; charset=utf-8", page, { "Content-Security-Policy": policy });
    }
    send(404, "text/plain", "no such page");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

// The page's attribution: window.referrald.ready's value (it never rejects).
async function attribution(page) {
  await page.waitForFunction(() => window.referrald && window.referrald.ready, { timeout: 15_000 });
  return page.evaluate(() => window.referrald.ready);
}

async function open(context, url) {
  const info = await h.openPage(context, url);
  return info;
}

async function follow(info, selector) {
  await Promise.all([
    info.page.waitForNavigation({ waitUntil: "load" }),
    info.page.click(selector),
  ]);
  await h.settle(info);
}

// ---------------------------------------------------------------------------------------

steps.push(["start server and site", async () => {
  ctx.server = await h.startServer(ctx.binary);
  ctx.site = await startSite();
  ctx.sitePort = ctx.site.address().port;
  ctx.shop = `http://shop.example:${ctx.sitePort}`;
  const { base, adminKey } = ctx.server;
  const key = await h.api(base, adminKey, "POST", "/api-keys", {
    name: "shop pages",
    role: "publishable",
    accounts: [ACCOUNT],
    brands: [],
    allowed_origins: [ctx.shop],
  });
  expect(key.status === 201, `publishable key: ${key.status} ${key.text}`);
  ctx.publishable = key.json.data.secret;
  expect(ctx.publishable.startsWith("pk_"), `the secret is ${ctx.publishable}`);
  const pass = await h.api(base, adminKey, "POST", `/passthrough-referrers?account_id=${ACCOUNT}`,
    { domain: "pay.example", utm_source: "pay", utm_medium: "payment" });
  expect(pass.status === 201, `passthrough: ${pass.status} ${pass.text}`);
  const mapping = await h.api(base, adminKey, "POST", `/referrer-mappings?account_id=${ACCOUNT}`,
    { referrer_pattern: "partner.example", match_type: "exact", utm_source: "partner", utm_medium: "affiliate" });
  expect(mapping.status === 201, `mapping: ${mapping.status} ${mapping.text}`);
  console.log(`# referrald pid ${ctx.server.pid} on ${base}; site on port ${ctx.sitePort}`);
}]);

steps.push(["the snippet is small", async () => {
  const res = await fetch(`${need("server").base}/js/referrald.js`);
  expect(res.status === 200, `GET /js/referrald.js: ${res.status}`);
  ctx.snippet = await res.text();
  const gzipped = zlib.gzipSync(Buffer.from(ctx.snippet), { level: 9 }).length;
  console.log(`# referrald.js: ${ctx.snippet.length} bytes, ${gzipped} gzipped`);
  expect(gzipped <= SIZE_LIMIT, `${gzipped} bytes gzipped, more than ${SIZE_LIMIT}`);
  expect(!/\beval\s*\(|new Function/.test(ctx.snippet), "the snippet evaluates code");
}]);

steps.push(["launch chromium", async () => {
  ctx.browser = await h.launch({ hosts: ["shop.example", "pay.example", "partner.example", "other.example"] });
  console.log(`# ${await ctx.browser.version()}`);
}]);

steps.push(["a campaign survives the payment page", async () => {
  ctx.visitor = await need("browser").createBrowserContext();
  const info = await open(ctx.visitor, `${ctx.shop}/landing?utm_source=newsletter&utm_medium=email&utm_campaign=spring`);
  try {
    const first = await attribution(info.page);
    expect(first.reason === "utm" && first.utm_source === "newsletter", `landing: ${JSON.stringify(first)}`);
    expect(first.error === undefined, `landing error: ${first.error}`);
    expect(first.first_touch?.utm_source === "newsletter", `first touch: ${JSON.stringify(first.first_touch)}`);
    // Google Tag Manager's dataLayer, and the form's hidden fields.
    const pushed = await info.page.evaluate(() => window.dataLayer.filter((e) => e.event === "referrald.attribution"));
    expect(pushed.length === 1 && pushed[0].referrald.utm_source === "newsletter", `dataLayer: ${JSON.stringify(pushed)}`);
    const fields = await info.page.evaluate(() => ({
      source: document.querySelector('[name="referrald_utm_source"]').value,
      channel: document.querySelector('[name="referrald_channel"]').value,
      first: document.querySelector('[name="referrald_first_utm_source"]').value,
    }));
    expect(fields.source === "newsletter" && fields.first === "newsletter" && fields.channel === first.channel,
      `form fields: ${JSON.stringify(fields)}`);

    // To the payment page (a passthrough domain) and back.
    await follow(info, "#pay");
    expect(info.page.url().startsWith(`http://pay.example:${ctx.sitePort}/`), `at ${info.page.url()}`);
    await follow(info, "#back");
    const back = await attribution(info.page);
    expect(await info.page.evaluate(() => document.referrer.includes("pay.example")), "no referrer from the payment page");
    expect(back.reason === "passthrough_session", `the return: ${JSON.stringify(back)}`);
    expect(back.utm_source === "newsletter" && back.utm_campaign === "spring", `the return's campaign: ${JSON.stringify(back)}`);
    expect(back.first_touch?.utm_source === "newsletter", "the first touch changed");
    h.assertNoConsoleErrors(info);
  } finally {
    await info.page.close();
  }
}]);

steps.push(["a mapped referrer", async () => {
  const context = await need("browser").createBrowserContext();
  try {
    const info = await open(context, `http://partner.example:${ctx.sitePort}/partner`);
    await follow(info, "#back");
    const a = await attribution(info.page);
    expect(a.reason === "mapping" && a.utm_source === "partner" && a.utm_medium === "affiliate",
      `from the partner: ${JSON.stringify(a)}`);
    expect(a.first_touch?.utm_source === "partner", `first touch: ${JSON.stringify(a.first_touch)}`);
    h.assertNoConsoleErrors(info);
  } finally {
    await context.close();
  }
}]);

steps.push(["a session that timed out", async () => {
  const info = await open(need("visitor"), `${ctx.shop}/rooms`);
  try {
    await attribution(info.page);
    // Thirty-one minutes without a page view.
    await info.page.evaluate((account) => {
      const name = `referrald:${account}`;
      const state = JSON.parse(localStorage.getItem(name));
      state.last -= 31 * 60 * 1000;
      localStorage.setItem(name, JSON.stringify(state));
    }, ACCOUNT);
    await follow(info, "#pay");
    await follow(info, "#back");
    const a = await attribution(info.page);
    expect(a.reason === "passthrough_fallback" && a.utm_source === "pay", `after the timeout: ${JSON.stringify(a)}`);
    expect(a.first_touch?.utm_source === "newsletter", `the first touch is kept: ${JSON.stringify(a.first_touch)}`);
    h.assertNoConsoleErrors(info);
  } finally {
    await info.page.close();
  }
}]);

steps.push(["blocked storage", async () => {
  const context = await need("browser").createBrowserContext();
  try {
    const page = await context.newPage();
    await page.evaluateOnNewDocument(() => {
      Object.defineProperty(window, "localStorage", {
        get() {
          throw new DOMException("storage is blocked", "SecurityError");
        },
      });
    });
    await page.goto(`${ctx.shop}/landing?utm_source=newsletter`, { waitUntil: "load" });
    const a = await attribution(page);
    expect(a.utm_source === "newsletter", `with blocked storage: ${JSON.stringify(a)}`);
    expect(typeof a.error === "string" && a.error.includes("storage"), `no storage error: ${JSON.stringify(a)}`);
    expect(await page.evaluate(() => document.documentElement.dataset.page) === "ran", "the page's own script did not run");
  } finally {
    await context.close();
  }
}]);

steps.push(["a landing URL with a large token", async () => {
  // A sign-in redirect's token takes the page's URL past 8 KiB: the snippet sends what
  // resolution reads, and the campaign is kept.
  const context = await need("browser").createBrowserContext();
  try {
    const page = await context.newPage();
    const sent = [];
    page.on("request", (r) => {
      if (r.url().includes("/attribution/resolve")) sent.push(r.postData() ?? "");
    });
    const token = "T".repeat(12000);
    await page.goto(`${ctx.shop}/landing?id_token=${token}&utm_source=sso&utm_medium=email#frag`, { waitUntil: "load" });
    const a = await attribution(page);
    expect(a.reason === "utm" && a.utm_source === "sso", `with a large token: ${JSON.stringify(a)}`);
    expect(Array.isArray(a.warnings) && a.warnings.length === 0, `warnings: ${JSON.stringify(a.warnings)}`);
    const visit = JSON.parse(sent.find((b) => b.includes("landing_url")) ?? "{}");
    expect(typeof visit.landing_url === "string" && visit.landing_url.length <= 8192 &&
      visit.landing_url.endsWith("/landing?utm_source=sso&utm_medium=email"), `sent: ${String(visit.landing_url).slice(0, 200)}`);
  } finally {
    await context.close();
  }
}]);

steps.push(["the key is refused elsewhere", async () => {
  const { base } = need("server");
  // From a site the key does not list: the browser refuses the answer; the page goes on.
  const context = await need("browser").createBrowserContext();
  try {
    const info = await open(context, `http://other.example:${ctx.sitePort}/landing?utm_source=x`);
    const a = await attribution(info.page);
    expect(typeof a.error === "string" && a.utm_source === undefined, `from another origin: ${JSON.stringify(a)}`);
    expect(await info.page.evaluate(() => document.documentElement.dataset.page) === "ran", "the page's own script did not run");
    expect(info.pageErrors.length === 0, `page errors: ${JSON.stringify(info.pageErrors)}`);
  } finally {
    await context.close();
  }
  // What the browser hides, asked directly: 403 for the origin, and for every other route.
  const headers = { Origin: "http://other.example:1" };
  const visit = { landing_url: "https://shop.example/" };
  const other = await h.api(base, ctx.publishable, "POST", `/attribution/resolve?account_id=${ACCOUNT}`, visit, headers);
  expect(other.status === 403, `another origin: ${other.status}`);
  const shopOrigin = { Origin: ctx.shop };
  for (const [method, path, body] of [["GET", "/api-keys/me"], ["GET", `/passthrough-referrers?account_id=${ACCOUNT}`],
    ["POST", `/attribution/resolve-batch?account_id=${ACCOUNT}`, { visits: [visit] }],
    ["POST", `/attribution/resolve?account_id=${ACCOUNT}&explain=true`, visit]]) {
    const r = await h.api(base, ctx.publishable, method, path, body, shopOrigin);
    expect(r.status === 403, `${method} ${path}: ${r.status} ${r.text}`);
  }
}]);

steps.push(["the server is down", async () => {
  await need("server").stop();
  ctx.server = { ...ctx.server, stopped: true };
  const info = await open(need("visitor"), `${ctx.shop}/offline`);
  try {
    const a = await attribution(info.page);
    expect(typeof a.error === "string", `no error while the server is down: ${JSON.stringify(a)}`);
    // What is known: the session's attribution (the last visit's), and the first touch.
    expect(a.utm_source === "pay" && a.first_touch?.utm_source === "newsletter", `what is known: ${JSON.stringify(a)}`);
    expect(await info.page.evaluate(() => document.documentElement.dataset.page) === "ran", "the page's own script did not run");
    expect(info.pageErrors.length === 0, `page errors: ${JSON.stringify(info.pageErrors)}`);
  } finally {
    await info.page.close();
  }
}]);

// ---------------------------------------------------------------------------------------

async function cleanup() {
  await h.closeBrowser(ctx.browser).catch(() => {});
  if (ctx.site) await new Promise((r) => ctx.site.close(r));
  if (ctx.server && !ctx.server.stopped) await ctx.server.stop().catch((e) => console.error(e.message));
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    await cleanup();
    process.exit(1);
  });
}

let failed = 0;
for (const [name, fn] of steps) {
  const started = Date.now();
  try {
    await h.withTimeout(fn(), STEP_TIMEOUT_MS, name);
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - ${name}\n  ${String(e.stack ?? e).split("\n").join("\n  ")}`);
  }
}
await cleanup();
console.log(failed === 0 ? "# all steps passed" : `# ${failed} step(s) failed`);
process.exit(failed === 0 ? 0 : 1);
