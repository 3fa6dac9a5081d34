"""Mandate day: the morning every user must log in with a second factor, as an open-model load.

    .venv/bin/python -m bench.mandate_day [--quick]

10,000 logins (quick: 200), each by a distinct user, 80 % with a TOTP code and 20 % with a push
approval, start on a fixed schedule spread evenly over 15 minutes (quick: 20 s) whether or not
the earlier ones have finished (an open model: a slow server does not slow the arrivals down).
A push login is a browser (password, the number, /login/push/status/ as push-wait.js polls it,
the form submitted on `approved`, the home page) and a phone: the person opens the app when the
number shows (the app polls at start, then the benchmark's phone polls once a second) and taps
the number. A login's duration runs from its scheduled start to the home page (200); any other
answer, a timeout or a refused connection is an error. Targets: p99 < 2 s, 0 errors.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import threading
import time

import requests

from auth_enforcement import phone_client
from bench import client, harness, push_seed, seed

DATABASE = "jweb_bench_burst"
RATE_LIMIT = {"JWEB_PUSH_MAX_PER_WINDOW": "20", "JWEB_PUSH_WINDOW_SECONDS": "60"}
PUSH_EVERY = 5  # one login in five is a push login: 20 %
TARGET_P99_MS = 2000
PROCESSES = 3  # load generator processes; each starts every login of its share in a thread of its own
WARM = 8  # users of each kind logged in before the schedule: 2 to warm up, 6 to measure the CPU cost
MAX_IN_FLIGHT = 400  # per process: past that the generator itself would drown (counted as errors)
REQUEST_TIMEOUT = 30
# How long the generator waits, after its last start, for the logins still running (each is bounded:
# four requests of at most REQUEST_TIMEOUT, a push wait of at most 150 s).
STRAGGLERS = 4 * REQUEST_TIMEOUT + 150 + 30


def plan(logins: int, seconds: float, first_push: int) -> list[tuple[float, str, int]]:
    """Return (offset, kind, user) for every login: evenly spaced, every fifth a push login."""
    schedule, totp, push = [], 0, first_push
    for i in range(logins):
        if i % PUSH_EVERY == PUSH_EVERY // 2:
            schedule.append((i * seconds / logins, "push", push))
            push += 1
        else:
            schedule.append((i * seconds / logins, "totp", totp))
            totp += 1
    return schedule


def phone_approves(url: str, n: int, keys: tuple, number: dict, figures: dict) -> None:
    """The person opens the app (it polls at once), then it polls once a second; tap the number."""
    phone = push_seed.BenchPhone(url, n, keys[0], keys[1])
    phone.session.trust_env = False
    started = time.monotonic()
    try:
        while True:
            try:
                polled = phone.poll()
            except (requests.RequestException, phone_client.PhoneError) as exc:
                # The app shows the failure; the person pulls to refresh: poll again.
                figures["phone_poll_failures"] = figures.get("phone_poll_failures", 0) + 1
                figures["phone_poll_failure"] = f"{type(exc).__name__}: {exc}"[:120]
                polled = phone_client.Polled()
            if polled.rejected:
                raise phone_client.PhoneError(f"dropped a challenge: {polled.rejected[0].reason}")
            if polled.challenges:
                break
            if time.monotonic() - started > 120:
                raise phone_client.PhoneError("no challenge within 120 s")
            time.sleep(push_seed.PHONE_INTERVAL)
        challenge = polled.challenges[0]
        if number["value"] not in challenge.options:
            raise phone_client.PhoneError(f"number {number['value']} not among {challenge.options}")
        if phone.accept(challenge, number["value"]).get("value") is not True:
            raise phone_client.PhoneError("accept not taken")
        figures["accept_done"] = time.monotonic()
    except Exception as exc:  # noqa: BLE001 - reported with the login
        figures["phone_error"] = f"phone: {type(exc).__name__}: {exc}"[:160]
    finally:
        phone.session.close()


def log_in(url: str, kind: str, n: int, scheduled: float, keys: tuple, figures: dict) -> None:
    """One login from its scheduled start to the home page; fill `figures`."""
    figures["started"] = time.monotonic()
    browser = client.Browser(url, timeout=REQUEST_TIMEOUT)
    try:
        if kind == "totp":
            browser.log_in_with_totp("fx", seed.login_id(n), seed.PASSWORD, seed.seed_for(n))
        else:
            number, page = client.push_password_step(browser, "fx", seed.login_id(n), seed.PASSWORD)
            figures["page_at"] = time.monotonic()
            phone = threading.Thread(
                target=phone_approves, args=(url, n, keys, {"value": number}, figures), daemon=True
            )
            phone.start()
            status, figures["poll_sent"], figures["status_polls"] = client.wait_for_push(browser, figures["page_at"])
            if status != "approved":
                phone.join(timeout=5)
                raise client.UnexpectedAnswerError(
                    f"push status {status}, expected approved ({figures.get('phone_error', 'phone ok')})"
                )
            client.finish_push_login(browser, "fx", page)
            figures["done"] = time.monotonic()
            phone.join(timeout=REQUEST_TIMEOUT)  # its accept's answer may still be on its way
        figures.setdefault("done", time.monotonic())
    except Exception as exc:  # noqa: BLE001 - every failure counts as an error, whatever it is
        figures["error"] = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        browser.close()


def generator(url: str, share: list[tuple[float, str, int]], start: float, results) -> None:
    """Start each login of this share at its time, in a thread of its own, whatever is in flight."""
    app_key, server_key = push_seed.keys()
    keys = (app_key, push_seed.server_public_key_body(server_key))
    rows, threads = [], []
    cpu_before = sum(os.times()[:2])
    for offset, kind, n in share:
        scheduled = start + offset
        time.sleep(max(0.0, scheduled - time.monotonic()))
        figures = {"kind": kind, "scheduled": scheduled}
        rows.append(figures)
        threads = [thread for thread in threads if thread.is_alive()]
        if len(threads) >= MAX_IN_FLIGHT:
            figures["error"] = f"not started: {MAX_IN_FLIGHT} logins of this generator already in flight"
            continue
        thread = threading.Thread(target=log_in, args=(url, kind, n, scheduled, keys, figures), daemon=True)
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + STRAGGLERS
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    for figures in rows:
        if "done" not in figures and "error" not in figures:
            figures["error"] = "still running when the generator stopped waiting"
    results.put((rows, sum(os.times()[:2]) - cpu_before))


def warm_up(url: str, keys: tuple, first: int) -> None:
    """Logins not counted, to load what a worker loads on first use: one of each kind per worker."""
    for i in range(2):
        for kind, n in (("totp", first + i), ("push", first + WARM + i)):
            figures: dict = {}
            log_in(url, kind, n, time.monotonic(), keys, figures)
            if "error" in figures:
                raise RuntimeError(f"warm-up {kind} login failed: {figures['error']}")


def calibrate(url: str, keys: tuple, first: int, workers: list[int]) -> dict[str, float]:
    """Return the workers' CPU seconds per login of each kind, logins one at a time (not counted)."""
    cost = {}
    kinds = (("totp", range(first + 2, first + WARM)), ("push", range(first + WARM + 2, first + 2 * WARM)))
    for kind, numbers in kinds:
        meter = push_seed.CpuMeter(lambda: workers)
        meter.start()
        for n in numbers:
            figures: dict = {}
            log_in(url, kind, n, time.monotonic(), keys, figures)
            if "error" in figures:
                raise RuntimeError(f"calibration {kind} login failed: {figures['error']}")
        cost[kind] = meter.stop() / len(numbers)
    return cost


def summarise(rows: list[dict]) -> list[dict]:
    table = []
    for kind in ("totp", "push", "all"):
        mine = [r for r in rows if kind in ("all", r["kind"])]
        good = [r for r in mine if "done" in r and "error" not in r]
        durations = harness.percentiles([r["done"] - r["scheduled"] for r in good])
        row = {
            "kind": kind,
            "logins": len(mine),
            "ok": len(good),
            "errors": len(mine) - len(good),
            "p50_ms": durations["p50_ms"],
            "p95_ms": durations["p95_ms"],
            "p99_ms": durations["p99_ms"],
            "max_ms": durations["max_ms"],
            "start_lag_p99_ms": harness.percentiles([r["started"] - r["scheduled"] for r in mine if "started" in r])[
                "p99_ms"
            ],
        }
        pushes = [r for r in good if "poll_sent" in r and "accept_done" in r]
        # A push login waits for the browser's next status poll after the tap: not server time.
        row["push_wait_for_browser_poll_p50_ms"] = (
            harness.percentiles([max(0.0, r["poll_sent"] - r["accept_done"]) for r in pushes])["p50_ms"]
            if pushes and kind != "totp"
            else ""
        )
        row["meets_target"] = durations["p99_ms"] < TARGET_P99_MS and row["errors"] == 0 and bool(good)
        table.append(row)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 logins in 20 s")
    args = parser.parse_args()
    logins, seconds = (200, 20.0) if args.quick else (10_000, 900.0)
    pushes = sum(1 for i in range(logins) if i % PUSH_EVERY == PUSH_EVERY // 2)
    totps = logins - pushes
    load_before = os.getloadavg()

    push_seed.keys()
    env = harness.prepare(DATABASE, JWEB_PUSH_TRANSPORT="poll", **RATE_LIMIT)
    harness.run_in_django(env, "bench.seed", str(totps + WARM))  # users 0 … totps-1, then the warm-up ones
    # Push users: WARM for the warm-up (totps+WARM …), then the scheduled ones.
    harness.run_in_django(env, "bench.push_seed", str(pushes + WARM), str(totps + WARM), str(push_seed.KEYS))
    schedule = plan(logins, seconds, first_push=totps + 2 * WARM)
    password_hash = push_seed.password_hash_parameters(env)

    app_key, server_key = push_seed.keys()
    keys = (app_key, push_seed.server_public_key_body(server_key))
    print(f"{time.strftime('%X')} seeded {totps} TOTP and {pushes} push users; warming up", flush=True)
    with harness.gunicorn(env, workers=2) as url:
        master, workers = push_seed.gunicorn_workers(url)
        warm_up(url, keys, totps)
        cost = calibrate(url, keys, totps, workers)
        print(f"{time.strftime('%X')} running {logins} logins over {seconds:.0f} s", flush=True)
        server = push_seed.CpuMeter(lambda: push_seed.gunicorn_processes(master))
        database = push_seed.CpuMeter(lambda: push_seed.database_backends(DATABASE))
        results = multiprocessing.Queue()
        start = time.monotonic() + 2.0
        processes = [
            multiprocessing.Process(target=generator, args=(url, schedule[p::PROCESSES], start, results))
            for p in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        time.sleep(max(0.0, start - time.monotonic()))
        server.start()
        database.start()
        busy_before = push_seed.machine_busy_seconds()
        collected = [results.get(timeout=seconds + STRAGGLERS + 120) for _ in processes]
        server_cpu, database_cpu = server.stop(), database.stop()
        busy = push_seed.machine_busy_seconds() - busy_before
        wall = time.monotonic() - start
        for process in processes:
            process.join()
    rows = [row for part, _ in collected for row in part]
    generator_cpu = sum(cpu for _, cpu in collected)
    finished = [r["done"] for r in rows if "done" in r]
    elapsed = (max(finished) - start) if finished else seconds
    table = summarise(rows)
    mix = cost["totp"] * (1 - 1 / PUSH_EVERY) + cost["push"] / PUSH_EVERY
    overall = table[-1]
    errors: dict[str, int] = {}
    for row in rows:
        if "error" in row:
            reason = row["error"].split(" (")[0][:90]
            errors[reason] = errors.get(reason, 0) + 1
    figures = {
        "offered_logins_per_s": round(logins / seconds, 2),
        "completed_logins_per_s": round(len(finished) / elapsed, 2),
        "last_login_done_after_s": round(elapsed, 1),
        "p99_ms": overall["p99_ms"],
        "target_p99_ms": TARGET_P99_MS,
        "errors": overall["errors"],
        "target_errors": 0,
        "meets_targets": overall["meets_target"],
        "error_kinds": dict(sorted(errors.items(), key=lambda item: -item[1])[:8]),
        # Measured one login at a time before the run: what the server can do at most.
        "phone_polls_failed": sum(row.get("phone_poll_failures", 0) for row in rows),
        "cpu_s_per_totp_login": round(cost["totp"], 3),
        "cpu_s_per_push_login": round(cost["push"], 3),
        "cpu_s_per_login_in_this_mix": round(mix, 3),
        "logins_per_s_two_full_cores_could_serve": round(2 / mix, 2) if mix else None,
        "gunicorn_workers_cpu_s_per_completed_login": round(server_cpu / max(1, len(finished)), 3),
        "gunicorn_workers_cpu_cores": round(server_cpu / elapsed, 2),
        "postgres_backends_cpu_cores": round(database_cpu / elapsed, 2),
        "load_generator_cpu_cores": round(generator_cpu / elapsed, 2),
        # Another benchmark on this machine takes CPU from the server: how much, during the run.
        "machine_busy_cores": round(busy / wall, 2),
        "other_processes_cpu_cores": round(max(0.0, busy - server_cpu - database_cpu - generator_cpu) / wall, 2),
        "load_average_before": [round(value, 2) for value in load_before],
    }
    harness.report(
        "mandate_day",
        figures=figures,
        table=table,
        settings={
            "gunicorn_workers": 2,
            "password_hash_of_the_users": password_hash,
            "logins": logins,
            "seconds": seconds,
            "push_share": 1 / PUSH_EVERY,
            "arrivals": "open model, evenly spaced; duration from the scheduled start to the home page",
            "load_generator_processes": PROCESSES,
            "max_in_flight_per_process": MAX_IN_FLIGHT,
            "request_timeout_s": REQUEST_TIMEOUT,
            "push_transport": "poll",
            "phone": "polls when the number shows (the app polls at start), then every "
            f"{push_seed.PHONE_INTERVAL} s; accepts with the number",
            "browser_status_poll": "as static/js/push-wait.js: 1 s after the page, then 1 s after each answer",
            "server_env": dict(RATE_LIMIT),
            "warm_up": f"{WARM} TOTP and {WARM} push logins one at a time before the schedule, not counted "
            "(the last 6 of each measure the workers' CPU per login)",
        },
        env=env,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
