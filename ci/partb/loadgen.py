"""The load generator: wrk, one thread, a given number of connections for
a few seconds, with a Lua `done` hook that prints its totals and latency
percentiles as one JSON line, read back by parse()."""

import json

MARK = "PARTB-WRK "

# wrk's latency figures are in microseconds.
SCRIPT = """-- ci/partb: print wrk's totals as one JSON line.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'MARK{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
""".replace("MARK", MARK, 1)


def argv(wrk, script, url, connections, seconds, timeout_s):
    """wrk's command line: one thread (the client has one CPU), at least
    one connection."""
    return [
        wrk,
        "-t1",
        f"-c{max(1, connections)}",
        f"-d{seconds}s",
        f"--timeout={timeout_s}s",
        "-s",
        script,
        url,
    ]


def parse(output):
    """One load level's figures from wrk's output: requests/s, latency
    percentiles in milliseconds, and the error count. Raises ValueError
    when the JSON line is missing."""
    for line in output.splitlines():
        if line.startswith(MARK):
            raw = json.loads(line[len(MARK) :])
            break
    else:
        raise ValueError("wrk printed no result line")
    seconds = raw["duration_us"] / 1e6
    latency = {k: v / 1000 for k, v in raw["latency_us"].items()}
    return {
        "requests": raw["requests"],
        "duration_s": seconds,
        "rps": raw["requests"] / seconds if seconds > 0 else 0.0,
        "errors": sum(raw["errors"].values()),
        "error_kinds": raw["errors"],
        "latency_ms": latency,
    }
