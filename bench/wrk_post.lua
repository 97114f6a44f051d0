-- wrk_post.lua: POST one small JSON row per request (bench/rest.sh appends wrk_report.lua).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"payload":"wrk-post-0123456789abcdef0123456789abcdef","t":1764204000123.456}'
