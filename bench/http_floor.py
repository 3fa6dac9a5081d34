"""What HTTP itself costs a request here: the portal's gunicorn and load generator, a bare app.

    .venv/bin/python -m bench.http_floor [--quick]

A full login is four HTTP requests, each served by a gunicorn sync worker and sent by
bench.client.Browser. This serves a WSGI app that only answers "ok", the same way, one request
after the other, and measures the CPU per request of the worker (from /proc) and of the client
(its own process time). Four times their sum is the floor under a login's overhead beside the
password hash in bench.login_throughput, whatever the portal does.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench import harness, push_seed
from bench.client import Browser


def app(environ, start_response):
    """The bare WSGI app: a 200 with two bytes."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def measure(url: str, master: int, requests: int) -> dict:
    browser = Browser(url)
    for _ in range(50):  # connections, imports and caches warm
        browser.expect("GET", "/", 200)
    worker = push_seed.CpuMeter(lambda: push_seed.gunicorn_processes(master))
    worker.start()
    client, started = time.process_time(), time.perf_counter()
    for _ in range(requests):
        browser.expect("GET", "/", 200)
    elapsed, client = time.perf_counter() - started, time.process_time() - client
    worker_seconds = worker.stop()
    browser.close()
    return {
        "requests": requests,
        "per_s": round(requests / elapsed),
        "worker_cpu_ms": round(worker_seconds / requests * 1000, 3),
        "client_cpu_ms": round(client / requests * 1000, 3),
        "wall_ms": round(elapsed / requests * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for CI (under a minute)")
    args = parser.parse_args()
    rounds, requests = (2, 500) if args.quick else (5, 3000)
    env = harness.server_env("postgres")  # the app asks no database; the report names the server
    with harness.gunicorn(env, workers=1, app=f"{__spec__.name}:app") as url:
        master, _ = push_seed.gunicorn_workers(url)
        table = [measure(url, master, requests) for _ in range(rounds)]
    worker = statistics.median(row["worker_cpu_ms"] for row in table)
    client = statistics.median(row["client_cpu_ms"] for row in table)
    figures = {
        "worker_cpu_ms_per_request": worker,
        "client_cpu_ms_per_request": client,
        "http_cpu_ms_per_login": round(4 * (worker + client), 2),  # four requests a login
    }
    harness.report(
        "http_floor",
        figures=figures,
        table=table,
        settings={"rounds": rounds, "requests_per_round": requests, "gunicorn_workers": 1, "worker_class": "sync"},
        env=env,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
