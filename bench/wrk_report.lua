-- wrk_report.lua: appended to every wrk script of bench/rest.sh. Prints one line
-- "WRK_JSON {...}" with the rate, latency percentiles (ms) and errors, for the script to pick up.
done = function(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_s":%.2f,"rps":%.0f,"bytes_per_response":%.0f,' ..
    '"latency_ms":{"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f,"mean":%.3f},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, s, summary.requests / s, summary.bytes / math.max(summary.requests, 1),
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, latency.mean / 1e3,
    e.connect, e.read, e.write, e.status, e.timeout))
end
