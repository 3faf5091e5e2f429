-- wrk script for the HTTP/1.1 benchmarks. Every signed call to the hub needs a nonce of its own,
-- and wrk cannot compute an HMAC, so `loadgen --presign N` writes the requests ahead of time and
-- this script replays them, one line per request, never one twice. It also counts answers that
-- are not HTTP 200 or that carry a JSON-RPC "error", because a run of refusals is fast and would
-- otherwise pass for throughput.
--
-- Usage: wrk -t T -c C -d D -s bench/signed.lua URL -- plain
--        wrk -t T -c C -d D -s bench/signed.lua URL -- signed FILE T
-- "plain" repeats the URL's GET. "signed" POSTs to the URL's path; FILE is loadgen's output:
-- three header lines (app id, ts, body) and then fixed-width lines "<nonce> <signature>\n".
-- T must equal wrk's -t: each thread takes its own contiguous slice of the lines (wrk gives
-- each thread a Lua state of its own, so a shared cursor is impossible).

local NONCE_LEN = 32
local SIG_LEN = 64
local LINE_LEN = NONCE_LEN + 1 + SIG_LEN + 1

local threads = {}
local next_id = 0

-- Runs in the main Lua state once per thread, before that thread's init().
function setup(thread)
    thread:set("id", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end

local mode, file, left, app_id, ts, body, fixed
non200, rpc_errors, exhausted = 0, 0, 0

function init(args)
    mode = args[1] or "plain"
    if mode == "plain" then
        fixed = wrk.format(nil, wrk.path)
        return
    end
    assert(mode == "signed", "mode is plain or signed")
    local nthreads = assert(tonumber(args[3]), "signed mode wants FILE and the thread count")
    file = assert(io.open(args[2], "rb"))
    app_id = file:read("*l")
    ts = file:read("*l")
    body = file:read("*l")
    local data_start = file:seek("cur")
    local lines = math.floor((file:seek("end") - data_start) / LINE_LEN)
    local per_thread = math.floor(lines / nthreads)
    file:seek("set", data_start + id * per_thread * LINE_LEN)
    left = per_thread
end

function request()
    if fixed then
        return fixed
    end
    local line = left > 0 and file:read(LINE_LEN)
    if not line or #line < LINE_LEN then
        -- Out of fresh nonces: stop this thread. The request still has to be sent, and its
        -- replayed nonce will be refused and counted, which is the honest outcome.
        exhausted = 1
        wrk.thread:stop()
        line = string.rep("0", LINE_LEN)
    end
    left = left - 1
    return wrk.format("POST", wrk.path, {
        ["content-type"] = "application/json",
        ["x-app-id"] = app_id,
        ["x-ts"] = ts,
        ["x-nonce"] = line:sub(1, NONCE_LEN),
        ["x-signature"] = line:sub(NONCE_LEN + 2, NONCE_LEN + 1 + SIG_LEN),
    }, body)
end

function response(status, headers, resp_body)
    if status ~= 200 then
        non200 = non200 + 1
    elseif resp_body and resp_body:find('"error"', 1, true) then
        rpc_errors = rpc_errors + 1
    end
end

-- Runs in the main state after the run: one line in loadgen's key=value shape for bench/run.
function done(summary, latency, requests)
    local n200, nrpc, nexh = 0, 0, 0
    for _, t in ipairs(threads) do
        n200 = n200 + (t:get("non200") or 0)
        nrpc = nrpc + (t:get("rpc_errors") or 0)
        nexh = nexh + (t:get("exhausted") or 0)
    end
    local e = summary.errors
    local transport = e.connect + e.read + e.write + e.timeout
    local secs = summary.duration / 1e6
    io.write(string.format(
        "result proto=http1.1 requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f " ..
        "p99_ms=%.3f max_ms=%.3f errors=%d non200=%d rpc_errors=%d transport_errors=%d " ..
        "exhausted_threads=%d\n",
        summary.requests, secs, summary.requests / secs,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000,
        n200 + nrpc + transport, n200, nrpc, transport, nexh))
end
