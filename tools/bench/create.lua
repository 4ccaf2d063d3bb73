-- wrk script: POST a new passthrough referrer with a unique domain on every request.
-- ACCOUNTS (environment) spreads requests over that many accounts (default 1); PREFIX
-- (default "t") starts every domain, so that two wrk processes never create the same one.
-- ACCOUNT_LIST (comma-separated account ids), when set, replaces ACCOUNT_PREFIX and
-- ACCOUNTS: requests go round those accounts. DOMAIN, when set, is every request's domain
-- instead (tools/bench/create_steps.sh: "" is refused with 400, a domain the accounts hold
-- with 409).
--
-- wrk shares the machine's cores with the server it loads, so a request is made from parts
-- built once per thread (each account's request line and header, the body around the
-- domain): the same bytes wrk.format would make, without its per-request header walk.
local counter = 0
local prefix = os.getenv("PREFIX") or "t"
local account_prefix = os.getenv("ACCOUNT_PREFIX") or "bench"
local accounts = tonumber(os.getenv("ACCOUNTS") or "1")
local domain = os.getenv("DOMAIN")
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

local heads     -- by account: the request line and header, up to Content-Length's value
local rounds    -- how many accounts the requests go round
local body_head -- the header's end and the body up to the domain's number
local after_domain = '","utm_source":"bench","utm_medium":"passthrough",'
    .. '"service_name":"Benchmark Service"}'
local body_tail = ".bench.example" .. after_domain
local fixed     -- the body's length without the domain's number

function init(args)
  -- wrk.format's header (wrk has set Host, and -H's headers, by now), without the length.
  local header = ""
  for name, value in pairs(wrk.headers) do
    if name ~= "Content-Length" then header = header .. name .. ": " .. value .. "\r\n" end
  end
  heads = {}
  if #list > 0 then
    rounds = #list
    for i = 1, #list do heads[i - 1] = list[i] end
  else
    rounds = accounts
    for i = 0, accounts - 1 do heads[i] = account_prefix .. i end
  end
  for i = 0, rounds - 1 do
    heads[i] = "POST /passthrough-referrers?account_id=" .. heads[i] .. " HTTP/1.1\r\n" .. header
        .. "Content-Length: "
  end
  local start = '{"domain":"' .. prefix .. tid .. "-"
  body_head = "\r\n\r\n" .. start
  fixed = #start + #body_tail
  if domain then
    local body = '{"domain":"' .. domain .. after_domain
    for i = 0, rounds - 1 do
      heads[i] = heads[i] .. #body .. "\r\n\r\n" .. body
    end
  end
end

function request()
  counter = counter + 1
  if domain then return heads[counter % rounds] end
  local number = tostring(counter)
  -- With a list, account list[counter % #list + 1]; else account_prefix .. counter % accounts.
  return heads[counter % rounds] .. (fixed + #number) .. body_head .. number .. body_tail
end
