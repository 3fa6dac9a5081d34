"""What the second-factor middleware costs a verified request, measured in one run.

    .venv/bin/python -m bench.request_overhead [--quick]

One verified session requests the same protected page from two servers on one database: one
with the enforcement middleware, one without it. Rounds alternate between them so that drift
hits both alike. Targets: ≤ 1.05× the time, 0 extra queries.

Queries are compared by the highest count of at least 1 % of each server's requests: once a
minute the session's last-seen time is written (SessionTimeoutMiddleware, in both servers),
one more query on whichever server serves that request, a count the table shows apart.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

from bench import harness, seed
from bench.client import Browser

DATABASE = "jweb_bench_overhead"
PAGES = ["/home/", "/services/remittance/"]


def sample(browser: Browser, path: str, count: int) -> tuple[list[float], Counter]:
    latencies, queries = [], Counter()
    for _ in range(count):
        started = time.perf_counter()
        status, headers, _ = browser.request("GET", path)
        latencies.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status}")
        queries[int(headers.get("X-Queries", "-1"))] += 1
    return latencies, queries


def typical(counts: Counter) -> int:
    """The query count of most requests."""
    return counts.most_common(1)[0][0]


def frequent(counts: Counter, share: float = 0.01) -> int:
    """The highest count of at least `share` of the requests (an extra query on many requests shows)."""
    total = sum(counts.values())
    return max(count for count, times in counts.items() if times >= share * total)


def others(counts: Counter) -> str:
    """The other counts seen, with how many requests had each (e.g. "3×2"), or "-"."""
    usual = typical(counts)
    return ", ".join(f"{count}×{times}" for count, times in sorted(counts.items()) if count != usual) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for CI (under a minute)")
    args = parser.parse_args()
    rounds, per_round = (4, 50) if args.quick else (20, 250)

    env = harness.prepare(DATABASE, DJANGO_SETTINGS_MODULE="bench.settings_measured")
    harness.run_in_django(env, "bench.seed", "1")
    without_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.settings_no_enforcement"}
    table, queries = [], {}
    with harness.gunicorn(env, workers=1) as with_url, harness.gunicorn(without_env, workers=1) as without_url:
        enforced = Browser(with_url)
        enforced.log_in_with_totp("fx", seed.login_id(0), seed.PASSWORD, seed.seed_for(0))
        baseline = Browser(without_url)
        baseline.cookies = dict(enforced.cookies)  # the same verified session, on the other server
        for path in PAGES:
            timings = {"with": [], "without": []}
            counted = queries[path] = {"with": Counter(), "without": Counter()}
            for _ in range(rounds):
                for name, browser in (("with", enforced), ("without", baseline)):
                    latencies, seen = sample(browser, path, per_round)
                    timings[name] += latencies
                    counted[name] += seen
            mean_with, mean_without = statistics.fmean(timings["with"]), statistics.fmean(timings["without"])
            table.append(
                {
                    "page": path,
                    "mean_ms_with": round(mean_with * 1000, 3),
                    "mean_ms_without": round(mean_without * 1000, 3),
                    "p50_ms_with": harness.percentiles(timings["with"])["p50_ms"],
                    "p50_ms_without": harness.percentiles(timings["without"])["p50_ms"],
                    "ratio": round(mean_with / mean_without, 3),
                    "queries_with": typical(counted["with"]),
                    "queries_without": typical(counted["without"]),
                    "other_counts_with": others(counted["with"]),
                    "other_counts_without": others(counted["without"]),
                }
            )
    figures = {
        "worst_ratio": max(row["ratio"] for row in table),
        "target_ratio": 1.05,
        "extra_queries": max(frequent(queries[path]["with"]) - frequent(queries[path]["without"]) for path in PAGES),
        "target_extra_queries": 0,
    }
    harness.report(
        "request_overhead",
        figures=figures,
        table=table,
        settings={"rounds": rounds, "requests_per_round": per_round, "gunicorn_workers": 1},
        env=env,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
