-- wrk script: POST the file named by BODY_FILE (environment) as JSON, to PATH_A and PATH_B
-- (environment) in turn on each connection, so that both paths meet the machine in the same
-- state, request after request.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()
local paths = { os.getenv("PATH_A"), os.getenv("PATH_B") }
local headers = { ["Content-Type"] = "application/json",
                  ["Authorization"] = os.getenv("AUTHORIZATION") }
local turn = 0

function init(args)
  turn = math.random(0, 1)
end

function request()
  turn = 1 - turn
  return wrk.format("POST", paths[turn + 1], headers, body)
end
