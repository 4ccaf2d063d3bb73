-- wrk script: POST a new referrer mapping on every request into the account ACCOUNT
-- (environment), cycling through exact, contains, ends_with and starts_with patterns
-- that no other request uses (RUN, in the environment, keeps runs into one account apart).
local counter = 0
local account = os.getenv("ACCOUNT") or "bench"
local run = os.getenv("RUN") or "0"
local next_id = 0
local types = {"exact", "contains", "ends_with", "starts_with"}

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
end

wrk.headers["Content-Type"] = "application/json"

function request()
  counter = counter + 1
  local kind = types[(counter % 4) + 1]
  local stem = "w" .. run .. "-" .. tid .. "-" .. counter
  local pattern = stem .. ".bench.example"
  if kind == "starts_with" then pattern = stem .. "." end
  if kind == "contains" then pattern = stem .. "y" end
  local body = '{"referrer_pattern":"' .. pattern .. '","match_type":"' .. kind ..
      '","utm_source":"bench","priority":' .. (counter % 1000) .. '}'
  return wrk.format("POST", "/referrer-mappings?account_id=" .. account, nil, body)
end
