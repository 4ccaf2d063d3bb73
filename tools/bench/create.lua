-- wrk script: POST a new passthrough referrer with a unique domain on every request.
-- ACCOUNTS (environment) spreads requests over that many accounts (default 1); PREFIX
-- (default "t") starts every domain, so that two wrk processes never create the same one.
-- ACCOUNT_LIST (comma-separated account ids), when set, replaces ACCOUNT_PREFIX and
-- ACCOUNTS: requests go round those accounts.
local counter = 0
local prefix = os.getenv("PREFIX") or "t"
local account_prefix = os.getenv("ACCOUNT_PREFIX") or "bench"
local accounts = tonumber(os.getenv("ACCOUNTS") or "1")
local next_id = 0
local list = {}
for id in string.gmatch(os.getenv("ACCOUNT_LIST") or "", "[^,]+") do
  list[#list + 1] = id
end

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
end

wrk.headers["Content-Type"] = "application/json"

function request()
  counter = counter + 1
  local account = account_prefix .. (counter % accounts)
  if #list > 0 then account = list[counter % #list + 1] end
  local body = '{"domain":"' .. prefix .. tid .. '-' .. counter .. '.bench.example","utm_source":"bench",'
      .. '"utm_medium":"passthrough","service_name":"Benchmark Service"}'
  -- wrk.format uses wrk.headers (with -H Authorization) when given no header table.
  return wrk.format("POST", "/passthrough-referrers?account_id=" .. account, nil, body)
end
