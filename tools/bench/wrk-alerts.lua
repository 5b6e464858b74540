-- wrk script of `npm run bench:gateway -- --api --client wrk` (tools/bench/gateway-probe.ts):
-- POST /api/v2/alerts bodies of PER alerts, the same shape as the stack bench's (alertname
-- <PREFIX><n / 100>, instance host-<n % 100>, job, severity, team, a summary), every alert a
-- fingerprint never sent before: alert n = request * PER + a, each thread counting from its own
-- offset (thread i from i * 10^8). Prints a JSON summary on stderr when done.
local counter = 0
local per = tonumber(os.getenv("PER") or "1")
local startsAt = os.getenv("STARTS_AT")
local prefix = os.getenv("PREFIX") or "Wrk"
local sev = {"critical","warning","info"}
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  counter = tid * 100000000
  wrk.method = "POST"
  wrk.headers["content-type"] = "application/json"
end
function request()
  local items = {}
  for a = 0, per - 1 do
    local n = counter * per + a
    local name = prefix .. math.floor(n / 100)
    local host = "host-" .. (n % 100)
    items[#items + 1] = '{"labels":{"alertname":"' .. name .. '","instance":"' .. host .. '","job":"bench","severity":"' .. sev[(a % 3) + 1] .. '","team":"bench"},"annotations":{"summary":"Benchmark alert ' .. name .. ' on ' .. host .. '"},"startsAt":"' .. startsAt .. '","generatorURL":"http://prometheus.bench:9090/graph"}'
  end
  counter = counter + 1
  return wrk.format(nil, "/api/v2/alerts", nil, "[" .. table.concat(items, ",") .. "]")
end
function done(summary, latency, requests)
  local s = string.format('{"requests":%d,"duration_us":%d,"errors_status":%d,"errors_connect":%d,"errors_timeout":%d,"p50_us":%d,"p99_us":%d}', summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.timeout, latency:percentile(50), latency:percentile(99))
  io.stderr:write(s .. "\n")
end
