-- wrk script: POST /appointments with a fixed start body (the one loadgen.c
-- sends), for both the bare civetweb ceiling and the appointment service.
-- done() prints one line "BENCH {json}" that bench.py reads.
wrk.method = "POST"
wrk.path = "/appointments"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"physician_id":"2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a",'
  .. '"patient_id":"7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a",'
  .. '"start_date":"2024-05-01T14:00:00Z"}'

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,'
      .. '"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
