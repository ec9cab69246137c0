-- One request, repeated: the wrk script of every single-request scenario.
-- bench/run.sh describes the request in the environment:
--   WRK_METHOD      GET (default) or POST
--   WRK_BODY        the request body (optional)
--   WRK_HEADERS     "Name: value" lines, separated by newlines (optional)
--   WRK_USERS       when set to N > 0, every "{i}" in WRK_BODY is replaced per
--                   request by a random integer in [0, N) (scale mode: a
--                   different seeded user on each login)
-- done() prints one line, "WRKJSON {...}", that run.sh parses: requests,
-- duration, latency percentiles (microseconds) and errors. wrk counts an
-- HTTP status of 400 or more as a status error; socket errors are connect,
-- read, write and timeout errors.

wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body and body ~= "" then
   wrk.body = body
end
for line in string.gmatch(os.getenv("WRK_HEADERS") or "", "[^\n]+") do
   local name, value = string.match(line, "^%s*([^:]+):%s*(.-)%s*$")
   if name then
      wrk.headers[name] = value
   end
end

local users = tonumber(os.getenv("WRK_USERS") or "0") or 0
if users > 0 and body and string.find(body, "{i}", 1, true) then
   function init(args)
      math.randomseed(os.time() + math.floor(os.clock() * 1000000))
   end
   function request()
      local b = string.gsub(body, "{i}", tostring(math.random(0, users - 1)))
      return wrk.format(nil, nil, nil, b)
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_socket":%d,"errors_status":%d,' ..
      '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect + e.read + e.write + e.timeout, e.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
