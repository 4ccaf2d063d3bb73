// A client generated from docs/openapi.json (openapi-typescript types, openapi-fetch calls),
// compiled with tsc --strict and run against a real server: every call below type-checks
// against the document, and the server answers what the document says.
//
//   node client.mjs BASE_URL ADMIN_SECRET
import createClient from "openapi-fetch";
import type { paths, components } from "./api.js";

const [baseUrl, secret] = process.argv.slice(2);
if (!baseUrl || !secret) throw new Error("usage: client.mjs BASE_URL ADMIN_SECRET");
const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${secret}` } });

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`client test: ${what}`);
}

const account_id = "ts-client";

// Create a passthrough referrer (typed body), then read it back by id.
const created = await api.POST("/passthrough-referrers", {
  params: { query: { account_id }, header: { "Idempotency-Key": "ts-client-1" } },
  body: { domain: "https://Pay.Example.com", utm_source: "pay", service_name: "Payments" },
});
check(created.response.status === 201, `create answered ${created.response.status}`);
check(created.data !== undefined, "create has no data");
const rule: components["schemas"]["PassthroughReferrer"] = created.data.data;
check(rule.domain === "pay.example.com", `normalized domain ${rule.domain}`);
check(created.response.headers.get("Location") === `/passthrough-referrers/${rule.id}?account_id=${account_id}`,
  "Location of the created rule");

const got = await api.GET("/passthrough-referrers/{id}", {
  params: { path: { id: rule.id }, query: { account_id } },
});
check(got.data?.data.id === rule.id, "get by id");
const etag = got.response.headers.get("ETag");
check(etag !== null, "ETag on a single-object GET");

// A conditional patch with the ETag, then a stale one: 412 with the error envelope.
const patched = await api.PATCH("/passthrough-referrers/{id}", {
  params: { path: { id: rule.id }, query: { account_id }, header: { "If-Match": etag } },
  body: { is_active: false },
});
check(patched.data?.data.is_active === false, "patch with If-Match");
const stale = await api.PATCH("/passthrough-referrers/{id}", {
  params: { path: { id: rule.id }, query: { account_id }, header: { "If-Match": etag } },
  body: { is_active: true },
});
check(stale.response.status === 412, `stale patch answered ${stale.response.status}`);
const code: components["schemas"]["ErrorCode"] | undefined = stale.error?.error.code;
check(code === "precondition_failed", `stale patch error ${code}`);

// A paged list.
const list = await api.GET("/passthrough-referrers", {
  params: { query: { account_id, include_inactive: true, limit: 10 } },
});
check(list.data?.data.total === 1 && list.data.data.referrers.length === 1, "list");
check(list.data.data.has_more === false, "one page");

// Resolve a visit, with the explanation.
const resolved = await api.POST("/attribution/resolve", {
  params: { query: { account_id, explain: true } },
  body: { referrer: "https://chatgpt.com/", landing_url: "https://hotel.example/rooms" },
});
check(resolved.data?.data.reason === "ai_platform", `reason ${resolved.data?.data.reason}`);
check((resolved.data.data.explain ?? []).length > 0, "explain steps");

// AI referrals: a connection, a push (not enveloped), a grouped report.
const conn = await api.POST("/{brand_id}/ai-referrals/connections", {
  params: { path: { brand_id: 42 } },
  body: { name: "GA4 export", source_tool: "ga4" },
});
check(conn.response.status === 201 && conn.data !== undefined, "connection created");
const pushed = await api.POST("/{brand_id}/ai-referrals/connections/{connection_id}/events", {
  params: { path: { brand_id: 42, connection_id: conn.data.data.id } },
  body: [{ date: "2026-11-20", raw_referrer_value: "chatgpt.com", raw_page_value: "/rooms", sessions: 3 }],
});
check(pushed.data?.accepted === 1 && pushed.data.rejected === 0, "push accepted");
const report = await api.GET("/{brand_id}/ai-referrals/report", {
  params: { path: { brand_id: 42 }, query: { from: "2026-11-01", to: "2026-11-30", group_by: "platform" } },
});
check(report.data?.data.totals.sessions === 3, "report totals");
check((report.data.data.groups ?? []).length === 1, "one platform group");

// An error of the contract: an unknown rule is a 404 with the envelope.
const missing = await api.GET("/referrer-mappings/{id}", {
  params: { path: { id: 999 }, query: { account_id } },
});
check(missing.response.status === 404 && missing.error?.error.code === "not_found", "404 envelope");

// Anonymous: the health answers and the document itself.
const anonymous = createClient<paths>({ baseUrl });
const ready = await anonymous.GET("/readyz");
check(ready.data?.status === "ready", "readyz");
const denied = await anonymous.GET("/api-keys");
check(denied.response.status === 401 && denied.error?.error.code === "unauthorized", "401 without a key");

console.log("client test: 14 typed calls answered as the document says");
