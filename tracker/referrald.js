/*! referrald tracker snippet (docs/tracker.md): keeps a visit's attribution across payment
 * and booking redirects.
 *
 *   <script src="https://referrald.example/js/referrald.js" data-key="pk_..."
 *           data-account="acme" async></script>
 *
 * On every page load it sends the visit (document.referrer and the page's URL, without
 * their fragments and, past 8 KiB, their longest parameters; the session's campaign) to
 * POST /attribution/resolve with the publishable key, and keeps the answer in this site's localStorage: the session's attribution (until
 * data-session-timeout minutes without a page view, 30 by default) and the first touch.
 * window.referrald.ready is a Promise of {...the answer's data, first_touch[, error]}; it
 * never rejects. No cookie, no identifier, nothing sent but the visit.
 */
(function (window, document) {
  "use strict";
  var script = document.currentScript;
  if (!script || window.referrald) return; // loaded twice: the first one stays

  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
  var KEPT = UTM.concat(["channel", "reason"]);
  var TIMEOUT_MS = 5000;
  var URL_MAX = 8192;

  // What resolution reads of a URL: without its fragment, and, over URL_MAX, without its
  // longest query parameters (a sign-in or ad redirect's tokens) until it fits; the server
  // reads a longer one the same way.
  function trimUrl(url) {
    url = String(url || "").split("#")[0];
    var q = url.indexOf("?");
    if (url.length <= URL_MAX || q < 0) return url;
    var params = url.slice(q + 1).split("&");
    var order = params.map(function (p, i) { return i; });
    order.sort(function (a, b) { return params[b].length - params[a].length || a - b; });
    var size = url.length;
    for (var k = 0; k < order.length && size > URL_MAX; k++) {
      size -= params[order[k]].length + 1;
      params[order[k]] = null;
    }
    var kept = params.filter(function (p) { return p !== null; });
    return url.slice(0, q) + (kept.length ? "?" + kept.join("&") : "");
  }

  function attribute(name) {
    var v = script.getAttribute(name);
    return v === null ? "" : String(v).trim();
  }

  var key = attribute("data-key");
  var account = attribute("data-account");
  var minutes = Number(attribute("data-session-timeout") || "30");
  if (!(minutes > 0 && minutes <= 1440)) minutes = 30;
  var endpoint = attribute("data-endpoint");
  try {
    endpoint = endpoint || new URL(script.src, window.location.href).origin;
  } catch (e) {
    endpoint = "";
  }
  var storeName = "referrald:" + account;
  var problems = [];

  function readState() {
    try {
      var text = window.localStorage.getItem(storeName);
      var state = text ? JSON.parse(text) : null;
      return state && typeof state === "object" && state.v === 1 ? state : { v: 1 };
    } catch (e) {
      problems.push("storage is not available (" + e.name + "): the attribution is kept for this page only");
      return { v: 1 };
    }
  }

  function writeState(state) {
    try {
      window.localStorage.setItem(storeName, JSON.stringify(state));
    } catch (e) {
      if (problems.length === 0) {
        problems.push("storage is not available (" + e.name + "): the attribution is kept for this page only");
      }
    }
  }

  function pick(data, names) {
    var out = {};
    for (var i = 0; i < names.length; i++) {
      var v = data[names[i]];
      out[names[i]] = typeof v === "string" ? v : "";
    }
    return out;
  }

  function copy(target, source) {
    for (var name in source) {
      if (Object.prototype.hasOwnProperty.call(source, name)) target[name] = source[name];
    }
    return target;
  }

  function ask(visit) {
    if (!key || !account) {
      return Promise.reject(new Error("the script tag needs data-key and data-account"));
    }
    if (typeof window.fetch !== "function" || !endpoint) {
      return Promise.reject(new Error("this browser cannot call referrald (no fetch)"));
    }
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller
      ? setTimeout(function () {
          controller.abort();
        }, TIMEOUT_MS)
      : 0;
    var done = function () {
      if (timer) clearTimeout(timer);
    };
    return window
      .fetch(endpoint + "/attribution/resolve?account_id=" + encodeURIComponent(account), {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        cache: "no-store",
        referrerPolicy: "no-referrer",
        headers: { Authorization: "Bearer " + key, "Content-Type": "application/json" },
        body: JSON.stringify(visit),
        signal: controller ? controller.signal : undefined,
      })
      .then(function (res) {
        return res
          .json()
          .catch(function () {
            return null;
          })
          .then(function (body) {
            done();
            if (res.ok && body && body.success && body.data) return body.data;
            var why = body && body.error && body.error.message ? body.error.message : "no JSON answer";
            throw new Error("referrald answered " + res.status + ": " + why);
          });
      })
      .then(null, function (e) {
        done();
        throw e && e.name === "AbortError" ? new Error("referrald did not answer within " + TIMEOUT_MS + " ms") : e;
      });
  }

  function fillForms(result) {
    var inputs = document.querySelectorAll('input[name^="referrald_"]');
    for (var i = 0; i < inputs.length; i++) {
      var name = inputs[i].name.slice("referrald_".length);
      var from = result;
      if (name.indexOf("first_") === 0 && name !== "first_touch") {
        from = result.first_touch || {};
        name = name.slice("first_".length);
      }
      var v = from[name];
      if (v !== undefined && v !== null && typeof v !== "object") inputs[i].value = String(v);
    }
  }

  function publish(result) {
    try {
      if (window.dataLayer && typeof window.dataLayer.push === "function") {
        window.dataLayer.push({ event: "referrald.attribution", referrald: result });
      }
      if (script.hasAttribute("data-fill-forms")) {
        if (document.readyState === "loading") {
          document.addEventListener("DOMContentLoaded", function () {
            fillForms(result);
          });
        } else {
          fillForms(result);
        }
      }
    } catch (e) {
      // the page's own dataLayer or forms: never the page's problem
    }
    return result;
  }

  function start() {
    var state = readState();
    var now = Date.now();
    var active =
      state.session && typeof state.last === "number" && now >= state.last && now - state.last < minutes * 60000;
    var visit = {
      referrer: trimUrl(document.referrer) || null,
      landing_url: trimUrl(window.location.href),
      session: active ? pick(state.session, UTM) : null,
    };
    return ask(visit).then(
      function (data) {
        state.session = pick(data, KEPT);
        state.last = now;
        if (!state.first_touch) state.first_touch = copy(pick(data, KEPT), { at: new Date(now).toISOString() });
        writeState(state);
        var result = copy(copy({}, data), { first_touch: state.first_touch });
        if (problems.length > 0) result.error = problems.join("; ");
        return publish(result);
      },
      function (e) {
        // What is known: the session's attribution while it lasts, and the first touch.
        if (active) {
          state.last = now;
          writeState(state);
        }
        var result = copy(active ? copy({}, state.session) : {}, { first_touch: state.first_touch || null });
        result.error = problems.concat([String((e && e.message) || e)]).join("; ");
        return publish(result);
      }
    );
  }

  var ready;
  try {
    ready = start();
  } catch (e) {
    ready = Promise.resolve({ first_touch: null, error: String((e && e.message) || e) });
  }
  window.referrald = { ready: ready, version: "1" };
})(window, document);
