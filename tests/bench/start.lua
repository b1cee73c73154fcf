-- wrk script: POST /appointments with a fixed start body (the one loadgen.c
-- sends), for both the bare civetweb ceiling and the appointment service.
-- done() prints one line "BENCH {json}" that bench.py reads.
--
-- With BENCH_START_PEOPLE set to a file of "physician_id<TAB>patient_id"
-- lines (the sample registry's, for a service with REGISTRY_CHECK=on), each
-- request takes the next line's pair instead, each thread from a place of
-- its own, so the starts spread over every physician and patient of the file.
wrk.method = "POST"
wrk.path = "/appointments"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"physician_id":"2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a",'
  .. '"patient_id":"7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a",'
  .. '"start_date":"2024-05-01T14:00:00Z"}'

local people_file = os.getenv("BENCH_START_PEOPLE")
if people_file and people_file ~= "" then
  local people = {}
  for line in io.lines(people_file) do
    local ph, pt = line:match("^(%S+)\t(%S+)$")
    if ph then
      people[#people + 1] = { ph, pt }
    end
  end
  assert(#people > 0, "BENCH_START_PEOPLE: no physician_id<TAB>patient_id line")

  -- setup() runs in the main Lua state, once per thread: each thread starts
  -- at its own offset (a global of the thread's state).
  local threads = 0
  function setup(thread)
    thread:set("offset", threads * 7919)
    threads = threads + 1
  end

  -- The requests are formatted once (their bodies all have the same length),
  -- on the first call, when wrk.headers has its Host.
  local reqs, i
  function request()
    if not reqs then
      reqs = {}
      for k, p in ipairs(people) do
        local body = '{"physician_id":"' .. p[1] .. '","patient_id":"' .. p[2]
          .. '","start_date":"2024-05-01T14:00:00Z"}'
        reqs[k] = wrk.format(nil, nil, nil, body)
      end
      i = (offset or 0) % #reqs
    end
    i = i % #reqs + 1
    return reqs[i]
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,'
      .. '"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
