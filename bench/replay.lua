-- Replays pre-rendered requests (bench/requests_file.py) in order.
-- wrk -s bench/replay.lua URL -- <file> [start] [threads]
-- Each wrk thread starts at `start` plus an equal share of the file, so two
-- threads do not send the same record (pass wrk's -t as `threads`: wrk runs
-- setup() and init() of one thread before creating the next). After the last record a thread wraps to
-- the first and counts it in `wraps`; done() prints one BENCHJSON line.

local records = {}
local count = 0
local pos = 0
sent = 0
wraps = 0
tid = 0

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  count = tonumber(f:read("*l"))
  for i = 1, count do
    local len = tonumber(f:read("*l"))
    records[i] = f:read(len)
  end
  f:close()
  local start = tonumber(args[2] or "0")
  local nthreads = tonumber(args[3] or "1")
  pos = (start + math.floor(count * tid / nthreads)) % count
end

function request()
  if pos >= count then
    pos = 0
    wraps = wraps + 1
  end
  pos = pos + 1
  sent = sent + 1
  return records[pos]
end

function done(summary, latency, requests)
  local total_sent, total_wraps = 0, 0
  for _, t in ipairs(threads) do
    total_sent = total_sent + t:get("sent")
    total_wraps = total_wraps + t:get("wraps")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"sent":%d,"wraps":%d,'
      .. '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, total_sent, total_wraps,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
