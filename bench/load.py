"""The load generator, in its own process so it does not share the server's interpreter.

    python -m bench.load < spec.json > result.json

The spec names a port, a list of requests (method, path, headers, JSON body), how many connections
send at once, and the bounds: at most `seconds` and at most `len(requests)` requests, each sent once.
The answer is the count, the elapsed time, every latency in milliseconds and the statuses seen.
"""

import http.client
import json
import sys
import threading
import time
from collections import Counter


def send(port: int, item: dict) -> int | str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = item.get("body")
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(item.get("headers") or {})
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn.request(item["method"], item["path"], body=data, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError as err:
        return type(err).__name__
    finally:
        conn.close()


def run(spec: dict) -> dict:
    items = spec["requests"]
    deadline = time.monotonic() + spec["seconds"]
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter = Counter()
    cursor = iter(range(len(items)))

    def worker():
        while time.monotonic() < deadline:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            started = time.perf_counter()
            status = send(spec["port"], items[index])
            took = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(took)
                statuses[str(status)] += 1

    threads = [threading.Thread(target=worker) for _ in range(spec["connections"])]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "count": len(latencies),
        "seconds": time.perf_counter() - started,
        "latencies_ms": sorted(latencies),
        "statuses": dict(statuses),
    }


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
