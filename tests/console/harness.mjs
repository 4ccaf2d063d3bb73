// Browser-test harness for the console (/console/): a fresh referrald, a headless Chromium
// from Debian (/usr/bin/chromium) driven by puppeteer-core, axe-core, screenshots, timings.
//
//   import * as h from "./harness.mjs";
//   const server = await h.startServer(binary);          // {port, base, adminKey, pid, stop()}
//   await h.api(server.base, server.adminKey, "POST", "/passthrough-referrers?account_id=a", {...});
//   const browser = await h.launch();                     // close with h.closeBrowser(browser)
//   const info = await h.openPage(browser, `${server.base}/console/`);
//   h.assertNoConsoleErrors(info);
//   h.assertNoSeriousViolations(await h.runAxe(info.page, "console"), "console");
//   await h.screenshot(info.page, "console-home");
//   console.log(h.formatTimings(await h.timeToFirstRender(info.page)));
//
// The Node packages (puppeteer-core, axe-core) come from tools/npm/node_modules, installed by
// `tools/dev test` (npm ci, pinned by tools/npm/package-lock.json); puppeteer-core downloads no
// browser. Everything is time-bounded: the server must listen within 20 s and stop within 10 s
// of SIGTERM, Chromium must start within 30 s, a page waits 15 s at most for a selector,
// function or navigation, and a single DevTools call 30 s.
//
// Environment:
//   CONSOLE_SCREENSHOTS   directory of screenshot() (default <repo>/build/console-screenshots)
//   CONSOLE_NETLOG        a file: Chromium writes its net log there (--log-net-log), to see
//                         every connection it tried, the pages' and its own
//   CONSOLE_BROWSER_LOG   set to 1: Chromium's stderr is shown (puppeteer's dumpio)
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const nodeModules = path.join(repoRoot, "tools/npm/node_modules");
// The ES module lives outside tools/npm, so bare imports would not find its node_modules:
// resolve from there.
const requireTool = createRequire(path.join(repoRoot, "tools/npm/package.json"));
const puppeteer = requireTool("puppeteer-core");
export const axePath = path.join(nodeModules, "axe-core/axe.min.js");

export const chromiumPath = "/usr/bin/chromium";
// The secret the server installs as its admin key (REFERRALD_BOOTSTRAP_KEY).
export const adminKey = "rk_console_test_admin_secret_0123456789";

export const PAGE_TIMEOUT_MS = 15_000;
export const NAVIGATION_TIMEOUT_MS = 15_000;
const LISTEN_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const LAUNCH_TIMEOUT_MS = 30_000;
const PROTOCOL_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 10_000;
const API_TIMEOUT_MS = 15_000;
const SETTLE_TIMEOUT_MS = 5_000;

// settleWithin(promise, ms): the promise's value, or null after ms (the timer is cleared
// either way, so it keeps no process alive).
function settleWithin(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// withTimeout(promise, ms, what): the promise's outcome, or an error after ms.
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Last resort when Node exits without the test's cleanup (an uncaught error, process.exit):
// the processes this harness started are sent SIGKILL, each by its own PID.
const livePids = new Set();
process.on("exit", () => {
  for (const pid of livePids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

// ---------------------------------------------------------------------------------------
// The server.

// startServer(binary, extraArgs): `binary --listen 127.0.0.1:0 --data <temporary dir>
// ...extraArgs` with REFERRALD_BOOTSTRAP_KEY=adminKey; resolves once it printed
// `listening on 127.0.0.1:PORT` (20 s at most). stop() sends SIGTERM to that PID (and only
// to it), waits 10 s at most (then SIGKILL to the same PID, and stop() rejects), and removes
// the directory. output() is what the server printed so far (stdout and stderr).
export async function startServer(binary, extraArgs = []) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "referrald-console-"));
  let child;
  try {
    child = spawn(binary, ["--listen", "127.0.0.1:0", "--data", dataDir, ...extraArgs], {
      env: { ...process.env, REFERRALD_BOOTSTRAP_KEY: adminKey },
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    removeDir(dataDir);
    throw e;
  }
  const pid = child.pid;
  if (pid !== undefined) livePids.add(pid);

  let log = "";
  const keep = (chunk) => {
    log += chunk;
    if (log.length > 200_000) log = log.slice(-100_000); // the pipes are always drained
  };
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let exited = null; // {code, signal} once it has exited
  let stopRequested = false;
  const exitPromise = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      livePids.delete(pid);
      resolve(exited);
    });
  });
  const tail = () => log.split("\n").slice(-30).join("\n");

  const port = await new Promise((resolve, reject) => {
    let stdoutText = "";
    const timer = setTimeout(() => finish(new Error(`no "listening on" line within ${LISTEN_TIMEOUT_MS} ms`)),
      LISTEN_TIMEOUT_MS);
    function finish(err, value) {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value);
    }
    child.on("error", (e) => finish(new Error(`could not start ${binary}: ${e.message}`)));
    child.on("exit", (code, signal) => finish(new Error(`${binary} exited (${signal ?? code}) before listening`)));
    const onData = (chunk) => {
      stdoutText += chunk;
      const m = /^listening on 127\.0\.0\.1:(\d+)$/m.exec(stdoutText);
      if (m) {
        child.stdout.off("data", onData);
        finish(null, Number(m[1]));
      }
    };
    child.stdout.on("data", onData);
  }).catch(async (e) => {
    if (exited === null && pid !== undefined) {
      child.kill("SIGKILL");
      await settleWithin(exitPromise, STOP_TIMEOUT_MS);
    }
    removeDir(dataDir);
    throw new Error(`startServer: ${e.message}\n--- server output ---\n${log}`);
  });

  // stop(): resolves to {code, signal}; rejects (after cleaning up all the same) when the
  // server had exited on its own before, did not stop in time, or exited with a failure.
  let stopping = null;
  const stop = () => {
    stopping ??= (async () => {
      let err = null;
      if (exited !== null) {
        err = new Error(`server (pid ${pid}) had exited on its own (${exited.signal ?? `status ${exited.code}`})`);
      } else {
        stopRequested = true;
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // exited meanwhile
        }
        if ((await settleWithin(exitPromise, STOP_TIMEOUT_MS)) === null) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // exited meanwhile
          }
          await settleWithin(exitPromise, STOP_TIMEOUT_MS);
          err = new Error(`server (pid ${pid}) did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM; killed`);
        } else if (exited.code !== 0) {
          err = new Error(`server (pid ${pid}) exited with ${exited.signal ?? `status ${exited.code}`} on SIGTERM`);
        }
      }
      removeDir(dataDir);
      if (err) throw new Error(`${err.message}\n--- end of its output ---\n${tail()}`);
      return exited;
    })();
    return stopping;
  };

  return {
    port,
    base: `http://127.0.0.1:${port}`,
    adminKey,
    pid,
    dataDir,
    stop,
    output: () => log,
    // null while it runs, {code, signal} once it has exited
    exited: () => exited,
    stopRequested: () => stopRequested,
  };
}

// api(base, key, method, path, body, headers): one HTTP call for seeding data. body (when not
// undefined) is sent as JSON; the answer's JSON is parsed when it has any (json is null
// otherwise, text holds the raw body). key null: no Authorization header.
export async function api(base, key, method, urlPath, body, headers = {}) {
  const h = { Accept: "application/json", ...headers };
  if (key) h.Authorization = `Bearer ${key}`;
  const init = { method, headers: h, signal: AbortSignal.timeout(API_TIMEOUT_MS) };
  if (body !== undefined) {
    h["Content-Type"] ??= "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const res = await fetch(new URL(urlPath, base), init);
  const text = await res.text();
  let json = null;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  return { status: res.status, json, headers: res.headers, text };
}

// ---------------------------------------------------------------------------------------
// The browser.

export const chromiumArgs = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  // Hermetic: no host name resolves, so nothing but 127.0.0.1 is ever contacted (no DNS query
  // leaves the machine either). Chromium still starts a few requests of its own even with the
  // flags above (a Gaia ListAccounts to accounts.google.com, an on-device-model component
  // check to update.googleapis.com); they end at name resolution, inside the browser.
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
  // The network time query to clients2.google.com, not even started (puppeteer merges this
  // with its own --disable-features list).
  "--disable-features=NetworkTimeServiceQuerying",
];

// launch({hosts}): headless Chromium with a fresh temporary profile (removed by closeBrowser or
// browser.close()); default viewport 1280x800. `hosts`: names (such as "shop.example") that
// resolve to 127.0.0.1 as well, so that a test's pages have origins of their own; every other
// name still resolves to nothing.
export async function launch({ hosts = [] } = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "referrald-console-chromium-"));
  const mapped = hosts.map((name) => `MAP ${name} 127.0.0.1, `).join("");
  const args = [
    ...chromiumArgs.map((a) => (a.startsWith("--host-resolver-rules=")
      ? a.replace("--host-resolver-rules=", `--host-resolver-rules=${mapped}`)
      : a)),
    `--user-data-dir=${userDataDir}`,
  ];
  if (process.env.CONSOLE_NETLOG) args.push(`--log-net-log=${process.env.CONSOLE_NETLOG}`);
  let browser;
  try {
    browser = await puppeteer.launch({
      executablePath: chromiumPath,
      // puppeteer's defaults (--disable-extensions, --disable-breakpad, --disable-features=
      // Translate,OptimizationHints,... ) and, for headless, --headless=new (again),
      // --hide-scrollbars and --mute-audio; then args.
      headless: true,
      args,
      defaultViewport: { width: 1280, height: 800 },
      timeout: LAUNCH_TIMEOUT_MS,
      protocolTimeout: PROTOCOL_TIMEOUT_MS,
      // DevTools over a pipe: no debugging port on the machine.
      pipe: true,
      dumpio: process.env.CONSOLE_BROWSER_LOG === "1",
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  } catch (e) {
    removeDir(userDataDir);
    throw new Error(`launch: could not start ${chromiumPath}: ${e.message}`);
  }
  const pid = browser.process()?.pid;
  if (pid !== undefined) livePids.add(pid);

  // close(): closes the browser (10 s at most, then SIGKILL to its PID) and removes the
  // profile. Idempotent.
  const originalClose = browser.close.bind(browser);
  let closing = null;
  browser.close = () => {
    closing ??= (async () => {
      const proc = browser.process();
      try {
        await withTimeout(originalClose(), CLOSE_TIMEOUT_MS, "browser.close");
      } catch {
        if (proc && proc.exitCode === null && proc.signalCode === null) {
          proc.kill("SIGKILL");
          await withTimeout(new Promise((r) => proc.once("exit", r)), CLOSE_TIMEOUT_MS, "chromium exit").catch(() => {});
        }
      }
      if (pid !== undefined) livePids.delete(pid);
      removeDir(userDataDir);
    })();
    return closing;
  };
  browser.userDataDir = userDataDir;
  return browser;
}

export async function closeBrowser(browser) {
  if (browser) await browser.close();
}

export async function chromiumVersion(browser) {
  return browser.version();
}

// ---------------------------------------------------------------------------------------
// Pages.

// openPage(browser, url, {width, height, waitUntil, expectResponses}): a new page with the
// harness's timeouts, recording into the returned object
//   consoleMessages  console messages of type error or warning ({type, text, url})
//   pageErrors       uncaught exceptions in the page ({message, stack})
//   failedRequests   requests that failed ({url, method, resourceType, errorText}), except
//                    aborts of navigations the test started itself
//   badResponses     responses with status >= 400 ({url, method, status, resourceType})
//   requests         every request's URL (for checks such as "nothing but this origin")
// and navigates to url (when given; response: its answer), then settles (see settle). A response with status >= 400
// that the test expects (a 401 before signing in, a 404 it asks for) is declared with
// expectResponse(matcher, status) or the expectResponses option [[matcher, status], ...]:
// matcher is a URL substring, a RegExp or a function(url) -> boolean; status a number or
// undefined for any. assertNoConsoleErrors ignores those responses and Chromium's
// "Failed to load resource" message for them. A page without <link rel="icon"> makes Chromium
// ask for /favicon.ico after the load event: a 404 there is reported like any other.
const pageInfos = new WeakMap(); // page -> openPage's object
export async function openPage(browser, url, options = {}) {
  const { width, height, waitUntil = "load", expectResponses = [] } = options;
  const page = await browser.newPage();
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
  if (width || height) await page.setViewport({ width: width ?? 1280, height: height ?? 800 });

  const info = {
    page,
    response: null,
    consoleMessages: [],
    pageErrors: [],
    failedRequests: [],
    badResponses: [],
    requests: [],
    expected: [],
    expectResponse(matcher, status) {
      info.expected.push({ matcher, status });
      return info;
    },
    // clear(): forgets what was recorded so far (e.g. after an expected failure).
    clear() {
      info.consoleMessages.length = 0;
      info.pageErrors.length = 0;
      info.failedRequests.length = 0;
      info.badResponses.length = 0;
      info.requests.length = 0;
    },
  };
  for (const [matcher, status] of expectResponses) info.expectResponse(matcher, status);
  pageInfos.set(page, info);

  page.on("console", (msg) => {
    const type = msg.type();
    if (type === "error" || type === "warn" || type === "warning") {
      const loc = msg.location();
      info.consoleMessages.push({ type, text: msg.text(), url: loc?.url ?? "" });
    }
  });
  page.on("pageerror", (err) => {
    info.pageErrors.push({ message: err?.message ?? String(err), stack: err?.stack ?? "" });
  });
  page.on("request", (req) => info.requests.push(req.url()));
  page.on("requestfailed", (req) => {
    info.failedRequests.push({
      url: req.url(),
      method: req.method(),
      resourceType: req.resourceType(),
      errorText: req.failure()?.errorText ?? "failed",
    });
  });
  page.on("response", (res) => {
    if (res.status() >= 400) {
      const req = res.request();
      info.badResponses.push({ url: res.url(), method: req.method(), status: res.status(), resourceType: req.resourceType() });
    }
  });

  if (url) {
    info.response = await page.goto(url, { waitUntil, timeout: NAVIGATION_TIMEOUT_MS });
    await settle(info);
  }
  return info;
}

// settle(info, idleMs): waits until the page has had no request in flight for idleMs (250 by
// default; 5 s at most, then goes on without failing), so that what it loads after the load
// event (its fetches, Chromium's /favicon.ico) is recorded before the assertions. Call it
// after an action that makes requests, before assertNoConsoleErrors.
export async function settle(info, idleMs = 250) {
  try {
    await info.page.waitForNetworkIdle({ idleTime: idleMs, timeout: SETTLE_TIMEOUT_MS });
  } catch {
    // still busy (polling): the assertions see what arrived so far
  }
}

function matches(matcher, value) {
  if (typeof matcher === "function") return Boolean(matcher(value));
  if (matcher instanceof RegExp) return matcher.test(value);
  return value.includes(String(matcher));
}

function isExpected(info, url, status) {
  return info.expected.some((e) => matches(e.matcher, url) && (e.status === undefined || e.status === status));
}

// problems(info, allowed): what assertNoConsoleErrors would report, as lines.
export function problems(info, allowed = []) {
  const ok = (text) => allowed.some((a) => matches(a, text));
  const lines = [];
  const expectedUrls = info.badResponses.filter((r) => isExpected(info, r.url, r.status)).map((r) => r.url);
  for (const m of info.consoleMessages) {
    // Chromium logs every answer >= 400 as "Failed to load resource: ... status of N".
    if (/^Failed to load resource/.test(m.text) && expectedUrls.includes(m.url)) continue;
    const line = `console ${m.type}: ${m.text}${m.url ? ` (${m.url})` : ""}`;
    if (!ok(line)) lines.push(line);
  }
  for (const e of info.pageErrors) {
    const line = `page error: ${e.message}`;
    if (!ok(line)) lines.push(e.stack && e.stack !== e.message ? `${line}\n      ${e.stack.split("\n").slice(0, 4).join("\n      ")}` : line);
  }
  for (const r of info.failedRequests) {
    const line = `request failed: ${r.method} ${r.url} (${r.resourceType}): ${r.errorText}`;
    if (!ok(line)) lines.push(line);
  }
  for (const r of info.badResponses) {
    if (isExpected(info, r.url, r.status)) continue;
    const line = `HTTP ${r.status}: ${r.method} ${r.url} (${r.resourceType})`;
    if (!ok(line)) lines.push(line);
  }
  return lines;
}

// assertNoConsoleErrors(info, allowed): throws listing every console error or warning, page
// error, failed request and unexpected answer >= 400 recorded on the page. allowed: strings
// (substrings), RegExps or functions matched against the listed line, e.g.
// "console warning: ..." or "HTTP 404: GET http://...".
export function assertNoConsoleErrors(info, allowed = []) {
  const lines = problems(info, allowed);
  if (lines.length > 0) {
    throw new Error(`${lines.length} console problem(s) on ${info.page.url()}:\n    ${lines.join("\n    ")}`);
  }
}

// assertOnlyOrigin(info, base): every request of the page went to base's origin (or was a
// data: or blob: URL): the console loads nothing from elsewhere.
export function assertOnlyOrigin(info, base) {
  const origin = new URL(base).origin;
  const foreign = info.requests.filter((u) => !/^(data|blob):/.test(u) && new URL(u).origin !== origin);
  if (foreign.length > 0) {
    throw new Error(`${foreign.length} request(s) to another origin than ${origin}:\n    ${[...new Set(foreign)].join("\n    ")}`);
  }
}

// ---------------------------------------------------------------------------------------
// Accessibility.

// runAxe(page, label): axe-core's violations on the page as it is now. axe is injected with a
// script tag (page.addScriptTag). A page under a Content-Security-Policy (a header on the
// answer openPage navigated to, or a <meta http-equiv>) would refuse that inline script, and
// Chromium would log the refusal as a console error that assertNoConsoleErrors then reports:
// there axe is evaluated through DevTools instead, which the CSP does not govern.
export async function runAxe(page, label = page.url()) {
  const hasAxe = () => page.evaluate(() => typeof window.axe === "object" && typeof window.axe.run === "function");
  if (!(await hasAxe())) {
    const info = pageInfos.get(page);
    const sameDocument = (a, b) => a.split("#")[0] === b.split("#")[0];
    const cspHeader = info?.response && sameDocument(info.response.url(), page.url()) &&
      Object.keys(info.response.headers()).some((k) => k.toLowerCase() === "content-security-policy");
    const cspMeta = await page.evaluate(() =>
      [...document.querySelectorAll("meta[http-equiv]")].some((m) => m.httpEquiv.toLowerCase() === "content-security-policy"));
    if (!cspHeader && !cspMeta) {
      try {
        await page.addScriptTag({ path: axePath });
      } catch {
        // refused; evaluated below
      }
    }
    if (!(await hasAxe())) {
      await page.evaluate(fs.readFileSync(axePath, "utf8"));
      if (!(await hasAxe())) throw new Error(`runAxe(${label}): could not load axe-core into the page`);
    }
  }
  return page.evaluate(async () => {
    const results = await window.axe.run(document, { resultTypes: ["violations"] });
    return JSON.parse(JSON.stringify(results.violations));
  });
}

// summarizeViolations(violations): one line per violation (impact, id, help, first 3 targets).
export function summarizeViolations(violations) {
  return violations.map((v) => {
    const targets = v.nodes.map((n) => (Array.isArray(n.target) ? n.target.join(" ") : String(n.target)));
    const more = targets.length > 3 ? ` (+${targets.length - 3} more)` : "";
    return `[${v.impact}] ${v.id}: ${v.help} -- ${targets.slice(0, 3).join(", ")}${more}`;
  });
}

// assertNoSeriousViolations(violations, label): throws for any violation of impact
// "serious" or "critical".
export function assertNoSeriousViolations(violations, label) {
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (serious.length > 0) {
    throw new Error(`${label}: ${serious.length} serious or critical accessibility violation(s):\n    ` +
      summarizeViolations(serious).join("\n    "));
  }
}

// ---------------------------------------------------------------------------------------
// Screenshots and timings.

export function screenshotDir() {
  return process.env.CONSOLE_SCREENSHOTS || path.join(repoRoot, "build/console-screenshots");
}

// screenshot(page, name): the full page as <screenshotDir>/<name>.png; returns the path.
export async function screenshot(page, name) {
  const dir = screenshotDir();
  // Not mkdirSync: a synchronous call that never returns (Node 20's recursive mkdir loops on
  // some paths, e.g. under /proc) would also stop every timeout of the test.
  await fs.promises.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${String(name).replace(/[^A-Za-z0-9._-]+/g, "_")}.png`);
  await page.screenshot({ path: file, fullPage: true, type: "png" });
  return file;
}

// timeToFirstRender(page): the page's paint and transfer figures from the Performance API:
//   firstPaintMs, firstContentfulPaintMs, largestContentfulPaintMs   (null when none)
//   domContentLoadedMs, loadMs          navigation timings (from the navigation's start)
//   navigationTransferBytes             the document's transferred bytes (headers included)
//   resourceCount, resourceTransferBytes, resourceDecodedBytes   everything the page loaded
//   totalTransferBytes                  the document and its resources
export async function timeToFirstRender(page) {
  return page.evaluate(async () => {
    const paint = Object.fromEntries(performance.getEntriesByType("paint").map((e) => [e.name, e.startTime]));
    const lcp = await new Promise((resolve) => {
      let last = null;
      try {
        const observer = new PerformanceObserver((list) => {
          const entries = list.getEntries();
          if (entries.length > 0) last = entries[entries.length - 1].startTime;
        });
        observer.observe({ type: "largest-contentful-paint", buffered: true });
        setTimeout(() => {
          observer.disconnect();
          resolve(last);
        }, 100);
      } catch {
        resolve(null);
      }
    });
    const nav = performance.getEntriesByType("navigation")[0];
    const resources = performance.getEntriesByType("resource");
    const sum = (key) => resources.reduce((total, r) => total + (r[key] || 0), 0);
    const round = (x) => (typeof x === "number" ? Math.round(x * 10) / 10 : null);
    const navigationTransferBytes = nav ? nav.transferSize : 0;
    return {
      url: location.href,
      firstPaintMs: round(paint["first-paint"]),
      firstContentfulPaintMs: round(paint["first-contentful-paint"]),
      largestContentfulPaintMs: round(lcp),
      domContentLoadedMs: nav ? round(nav.domContentLoadedEventEnd) : null,
      loadMs: nav ? round(nav.loadEventEnd) : null,
      navigationTransferBytes,
      resourceCount: resources.length,
      resourceTransferBytes: sum("transferSize"),
      resourceDecodedBytes: sum("decodedBodySize"),
      totalTransferBytes: navigationTransferBytes + sum("transferSize"),
    };
  });
}

// formatTimings(t): timeToFirstRender's figures on one line.
export function formatTimings(t) {
  const ms = (x) => (x === null || x === undefined ? "-" : `${x} ms`);
  return `${t.url}: FP ${ms(t.firstPaintMs)}, FCP ${ms(t.firstContentfulPaintMs)}, ` +
    `LCP ${ms(t.largestContentfulPaintMs)}, DOMContentLoaded ${ms(t.domContentLoadedMs)}, ` +
    `load ${ms(t.loadMs)}, ${t.totalTransferBytes} bytes transferred ` +
    `(document ${t.navigationTransferBytes}, ${t.resourceCount} resources ${t.resourceTransferBytes})`;
}
