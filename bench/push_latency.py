"""Push login latency, from the phone's approval to the browser's next page, and the cost of polling.

    .venv/bin/python -m bench.push_latency [--quick]

Logins: the browser sends the password, reads the number to tap, and polls /login/push/status/
as static/js/push-wait.js does; a phone (the reference client, auth_enforcement/phone_client.py,
in a process of its own) polls the device API once a second, finds the challenge and accepts
it with the number. Measured: from the moment the phone's accept request is sent to the moment
the browser has the home page (200). Target p95 ≤ 1 s. Twice: JWEB_PUSH_TRANSPORT=poll, and fcm
through firebase-admin's own code against a fake Google (bench/fake_google.py) behind a local
HTTPS CONNECT proxy with a test CA (/work/shared/reference/firebase-admin.md, "Full stack"); there
the phone takes the challenge from the FCM message, as the app does on a notification. A third
run (poll) has the benchmark's browser poll the status every 250 ms instead of the page's 500 ms
(push-wait.js's POLL_MS): what a shorter period would still give; the page itself is not changed.

Polling: N phones poll the device API once a second, each poll signed (the server checks the
timestamp ±60 s), spread over several processes; served polls per second, latency, and the CPU
taken by gunicorn's workers, PostgreSQL's backends and the load generator itself.
"""

from __future__ import annotations

import argparse
import heapq
import http.client
import json
import multiprocessing
import os
import random
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from auth_enforcement import phone_client
from bench import client, harness, push_seed, seed
from bench.fake_google import FakeGoogle, make_test_pki

DATABASE = "jweb_bench_push"
FCM_TOKEN_PREFIX = "bench-fcm"
# The per-user push rate limit counts a user's login pushes in a window: the benchmark's users
# log in once each, but set it to its most lenient so that no retry or warm-up is ever refused.
RATE_LIMIT = {"JWEB_PUSH_MAX_PER_WINDOW": "20", "JWEB_PUSH_WINDOW_SECONDS": "60"}
TARGET_P95_MS = 1000
PAGE_INTERVAL = 0.5  # static/js/push-wait.js's POLL_MS
PROPOSED_INTERVAL = 0.25  # a shorter status poll period, for comparison


# -- the phones of the logins (one process, a thread per login) -------------------------------


class PhoneLogin:
    """What one phone knows about one login: the number read off the screen, an FCM message."""

    def __init__(self) -> None:
        self.number: str | None = None
        self.number_ready = threading.Event()
        self.message: tuple[dict, float] | None = None
        self.message_ready = threading.Event()
        self.aborted = False


def phone_process(transport: str, commands, results, seed_value: int) -> None:
    """Run the phones: `start` a login's phone, give it its `number` or `fcm` message, `stop`."""
    app_key, server_key = push_seed.keys()
    server_public = push_seed.server_public_key_body(server_key)
    rng = random.Random(seed_value)  # noqa: S311 - the phase of a phone's polling, not a secret
    logins: dict[str, PhoneLogin] = {}
    by_token: dict[str, str] = {}
    threads = []
    while True:
        command = commands.get()
        kind = command[0]
        if kind == "stop":
            break
        if kind == "start":
            _, key, url, n = command
            logins[key] = PhoneLogin()
            by_token[push_seed.push_token_for(FCM_TOKEN_PREFIX, n)] = key
            phone = push_seed.BenchPhone(url, n, app_key, server_public)
            phone.session.trust_env = False
            thread = threading.Thread(
                target=run_phone, args=(transport, phone, key, logins[key], rng.random(), results), daemon=True
            )
            thread.start()
            threads.append(thread)
        elif kind == "number":
            _, key, number = command
            logins[key].number = number
            logins[key].number_ready.set()
        elif kind == "abort":
            logins[command[1]].aborted = True
            logins[command[1]].number_ready.set()
            logins[command[1]].message_ready.set()
        elif kind == "fcm":
            _, token, data, received = command
            key = by_token.get(token)
            if key is not None:
                logins[key].message = (data, received)
                logins[key].message_ready.set()
    for thread in threads:
        thread.join(timeout=30)
    results.put(("phones-done", None, None))


def run_phone(transport: str, phone: push_seed.BenchPhone, key: str, login: PhoneLogin, phase: float, results):
    """Find the login's challenge (polling once a second, or from FCM) and accept it with the number."""
    started = time.monotonic()
    figures: dict = {"polls": 0, "fcm_missed": False}
    try:
        challenge = None
        if transport == "fcm":
            # The app shows the notification's challenge; without one it would poll at the next resume.
            if login.message_ready.wait(timeout=10) and not login.aborted:
                data, received = login.message
                candidate = phone_client.Challenge.from_wire(data)
                if not phone_client.signature_is_valid(
                    phone._server_key(), candidate.signature, *candidate.signed_fields()
                ):
                    raise phone_client.PhoneError("FCM challenge: server signature does not verify")
                challenge, figures["found_at"] = candidate, received
            else:
                figures["fcm_missed"] = True
        due = started + phase * push_seed.PHONE_INTERVAL
        while challenge is None and not login.aborted:
            if time.monotonic() - started > 120:
                raise phone_client.PhoneError("no challenge within 120 s")
            time.sleep(max(0.0, due - time.monotonic()))
            polled = phone.poll()
            figures["polls"] += 1
            if polled.rejected:
                raise phone_client.PhoneError(f"dropped a challenge: {polled.rejected[0].reason}")
            if polled.challenges:
                challenge, figures["found_at"] = polled.challenges[0], time.monotonic()
            due += push_seed.PHONE_INTERVAL
        if login.aborted or not login.number_ready.wait(timeout=60) or login.aborted:
            results.put(("phone", key, {"error": "aborted"}))
            return
        if login.number not in challenge.options:
            raise phone_client.PhoneError(f"number {login.number} not among the options {challenge.options}")
        figures["accept_sent"] = time.monotonic()
        answer = phone.accept(challenge, login.number)
        figures["accept_done"] = time.monotonic()
        if answer.get("value") is not True:
            raise phone_client.PhoneError(f"accept not taken: {answer}")
    except Exception as exc:  # noqa: BLE001 - any failure of the phone is the login's error
        figures["error"] = f"phone: {type(exc).__name__}: {exc}"[:200]
    results.put(("phone", key, figures))


# -- the browsers ---------------------------------------------------------------------------


def browser_process(url: str, stream: int, numbers: list[int], warm: int, interval: float, commands, results) -> None:
    """Log the users in one after the other, as a person at a browser with the phone beside it."""
    for index, n in enumerate(numbers):
        key = f"{stream}:{n}"
        figures: dict = {"warm": index < warm}
        browser = client.Browser(url)
        commands.put(("start", key, url, n))
        try:
            figures["started"] = time.monotonic()
            number, page = client.push_password_step(browser, "fx", seed.login_id(n), seed.PASSWORD)
            figures["page_at"] = time.monotonic()
            commands.put(("number", key, number))
            status, figures["poll_sent"], figures["status_polls"] = client.wait_for_push(
                browser, figures["page_at"], interval=interval
            )
            if status != "approved":
                raise client.UnexpectedAnswerError(f"push status {status}, expected approved")
            client.finish_push_login(browser, "fx", page)
            figures["home_at"] = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - every failure counts as an error, whatever it is
            figures["error"] = f"browser: {type(exc).__name__}: {exc}"[:200]
            commands.put(("abort", key))
        browser.close()
        results.put(("browser", key, figures))
    results.put(("stream-done", stream, None))


def run_logins(
    url: str,
    transport: str,
    first: int,
    logins: int,
    streams: int,
    warm: int,
    fake=None,
    interval: float = PAGE_INTERVAL,
) -> dict:
    """Run `logins` (+ warm-ups) push logins in `streams` parallel browsers; return the figures.

    `interval` is the browser's status poll period: PAGE_INTERVAL is push-wait.js as it is.
    """
    commands, results = multiprocessing.Queue(), multiprocessing.Queue()
    if fake is not None:
        fake.on_message = lambda token, data, received: commands.put(("fcm", token, data, received))
    phones = multiprocessing.Process(target=phone_process, args=(transport, commands, results, first))
    phones.start()
    per_stream = logins // streams + warm
    browsers = [
        multiprocessing.Process(
            target=browser_process,
            args=(
                url,
                s,
                list(range(first + s * per_stream, first + (s + 1) * per_stream)),
                warm,
                interval,
                commands,
                results,
            ),
        )
        for s in range(streams)
    ]
    busy_before, started = push_seed.machine_busy_seconds(), time.monotonic()
    for process in browsers:
        process.start()
    merged: dict[str, dict] = {}
    open_streams = streams
    while open_streams:
        kind, key, figures = results.get(timeout=600)
        if kind == "stream-done":
            open_streams -= 1
        else:
            merged.setdefault(key, {}).update({f"{kind}_error" if k == "error" else k: v for k, v in figures.items()})
    commands.put(("stop",))
    while True:
        kind, key, figures = results.get(timeout=120)
        if kind == "phones-done":
            break
        merged.setdefault(key, {}).update({f"{kind}_error" if k == "error" else k: v for k, v in figures.items()})
    for process in [*browsers, phones]:
        process.join()
    busy = (push_seed.machine_busy_seconds() - busy_before) / (time.monotonic() - started)
    label = transport if interval == PAGE_INTERVAL else f"{transport}_page_every_{interval * 1000:.0f}ms"
    row = summarise(label, [row for row in merged.values() if not row.get("warm")])
    row["machine_busy_cores"] = round(busy, 2)  # all processes: another benchmark's share shows here
    return row


def summarise(transport: str, rows: list[dict]) -> dict:
    good = [r for r in rows if "home_at" in r and "accept_sent" in r and not r.get("browser_error")]
    errors = [r.get("browser_error") or r.get("phone_error") or "incomplete" for r in rows if r not in good]

    def pct(values: list[float]) -> dict:
        return harness.percentiles(values)

    total = pct([r["home_at"] - r["accept_sent"] for r in good])
    accept = pct([r["accept_done"] - r["accept_sent"] for r in good])
    # The poll that saw "approved" may have left before the accept's answer came back.
    idle = pct([max(0.0, r["poll_sent"] - r["accept_done"]) for r in good])
    finish = pct([r["home_at"] - r["poll_sent"] for r in good])
    return {
        "transport": transport,
        "logins": len(good),
        "errors": len(rows) - len(good),
        "accept_to_home_p50_ms": total["p50_ms"],
        "accept_to_home_p95_ms": total["p95_ms"],
        "accept_to_home_max_ms": total["max_ms"],
        "meets_target": total["p95_ms"] <= TARGET_P95_MS and bool(good),
        # accept_to_home = accept request + waiting for the browser's next poll + poll, submit, home
        "accept_request_p50_ms": accept["p50_ms"],
        "accept_request_p95_ms": accept["p95_ms"],
        "wait_for_browser_poll_p50_ms": idle["p50_ms"],
        "wait_for_browser_poll_p95_ms": idle["p95_ms"],
        "poll_submit_home_p50_ms": finish["p50_ms"],
        "poll_submit_home_p95_ms": finish["p95_ms"],
        "password_step_p50_ms": pct([r["page_at"] - r["started"] for r in good])["p50_ms"],
        "password_step_p95_ms": pct([r["page_at"] - r["started"] for r in good])["p95_ms"],
        "page_to_accept_p50_ms": pct([r["accept_sent"] - r["page_at"] for r in good])["p50_ms"],
        "whole_login_p50_ms": pct([r["home_at"] - r["started"] for r in good])["p50_ms"],
        "whole_login_p95_ms": pct([r["home_at"] - r["started"] for r in good])["p95_ms"],
        "fcm_missed": sum(1 for r in good if r.get("fcm_missed")),
        "_errors": sorted(set(errors))[:5],
    }


# -- what the waiting page's polls cost -----------------------------------------------------


def status_poll_cost(url: str, n: int, requests: int) -> dict:
    """Poll /login/push/status/ of a waiting login back to back: latency and workers' CPU per poll."""
    browser = client.Browser(url)
    client.push_password_step(browser, "fx", seed.login_id(n), seed.PASSWORD)
    master, _ = push_seed.gunicorn_workers(url)
    meter = push_seed.CpuMeter(lambda: push_seed.gunicorn_processes(master))
    latencies = []
    meter.start()
    for _ in range(requests):
        sent = time.monotonic()
        browser.expect("GET", push_seed.STATUS_URL, 200)
        latencies.append(time.monotonic() - sent)
    cpu = meter.stop()
    browser.close()
    latency = harness.percentiles(latencies)
    per_poll_ms = cpu / requests * 1000
    return {
        "status_poll_latency_p50_ms": latency["p50_ms"],
        "status_poll_latency_p95_ms": latency["p95_ms"],
        "status_poll_cpu_ms": round(per_poll_ms, 2),
        # What a shorter period in push-wait.js would cost: worker CPU per waiting browser.
        "status_poll_cpu_ms_per_waiting_browser_per_s_at_1s": round(per_poll_ms, 2),
        "status_poll_cpu_ms_per_waiting_browser_per_s_at_250ms": round(per_poll_ms * 4, 2),
    }


# -- the cost of polling --------------------------------------------------------------------


def polling_process(url: str, numbers: list[int], threads: int, start: float, seconds: float, seed_value, results):
    """Poll the device API for each phone once a second, every poll signed; report each answer."""
    app_key, _ = push_seed.keys()
    parts = urlsplit(url)
    rng = random.Random(seed_value)  # noqa: S311 - phases, not secrets
    end = start + seconds
    samples: list[tuple[float, float, float, float, bool]] = []  # due, signed, sent, done, ok
    skipped = [0]
    lock = threading.Lock()

    def run(phones: list[int]) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        schedule = [(start + rng.random() * push_seed.PHONE_INTERVAL, n) for n in phones]
        heapq.heapify(schedule)
        mine, missed = [], 0
        while schedule:
            due, n = heapq.heappop(schedule)
            if due >= end:
                continue
            time.sleep(max(0.0, due - time.monotonic()))
            signing = time.monotonic()
            serial, stamp = push_seed.serial_for(n), phone_client.timestamp()
            query = urlencode(
                {"serial": serial, "timestamp": stamp, "signature": phone_client.sign(app_key, serial, stamp)}
            )
            sent = time.monotonic()
            try:
                connection.request("GET", f"{push_seed.DEVICE_PATH}?{query}")
                response = connection.getresponse()
                body = response.read()
                ok = response.status == 200 and json.loads(body)["result"]["status"] is True
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException, ValueError):
                connection.close()
                ok = False
            mine.append((due, signing, sent, time.monotonic(), ok))
            following = due + push_seed.PHONE_INTERVAL
            while following < time.monotonic():  # an app that fell behind does not poll twice at once
                following += push_seed.PHONE_INTERVAL
                missed += 1
            heapq.heappush(schedule, (following, n))
        with lock:
            samples.extend(mine)
            skipped[0] += missed

    groups = [numbers[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=run, args=(group,)) for group in groups if group]
    for worker in workers:
        worker.start()
    time.sleep(max(0.0, start - time.monotonic()))
    cpu_before = sum(os.times()[:2])
    time.sleep(max(0.0, end - time.monotonic()))
    cpu_window = sum(os.times()[:2]) - cpu_before
    for worker in workers:
        worker.join()
    results.put((samples, skipped[0], cpu_window))


def run_polling(url: str, phones: int, seconds: float, processes: int, threads: int) -> dict:
    """Have `phones` phones poll once a second for `seconds`; return throughput, latency and CPU."""
    master, _ = push_seed.gunicorn_workers(url)
    server = push_seed.CpuMeter(lambda: push_seed.gunicorn_processes(master))
    database = push_seed.CpuMeter(lambda: push_seed.database_backends(DATABASE))
    results = multiprocessing.Queue()
    start = time.monotonic() + 2.0  # every process is up and has read its key before the window
    numbers = list(range(phones))
    generators = [
        multiprocessing.Process(
            target=polling_process, args=(url, numbers[p::processes], threads, start, seconds, p, results)
        )
        for p in range(processes)
    ]
    for process in generators:
        process.start()
    time.sleep(max(0.0, start - time.monotonic()))
    server.start()
    database.start()
    busy_before = push_seed.machine_busy_seconds()
    time.sleep(max(0.0, start + seconds - time.monotonic()))
    server_cpu, database_cpu = server.stop(), database.stop()
    busy = push_seed.machine_busy_seconds() - busy_before
    collected = [results.get(timeout=120) for _ in generators]
    for process in generators:
        process.join()
    samples = [sample for part, _, _ in collected for sample in part]
    inside = [s for s in samples if s[3] <= start + seconds]
    served = [s for s in inside if s[4]]
    generator_cpu = sum(cpu for _, _, cpu in collected)
    cores = os.cpu_count() or 1
    per_poll_ms = server_cpu / len(served) * 1000 if served else 0.0
    latency = harness.percentiles([s[3] - s[2] for s in served])
    lateness = harness.percentiles([max(0.0, s[1] - s[0]) for s in inside])
    return {
        "polling_phones": phones,
        "polling_interval_s": push_seed.PHONE_INTERVAL,
        "polling_seconds": seconds,
        "polling_offered_per_s": round(phones / push_seed.PHONE_INTERVAL, 1),
        "polling_served_per_s": round(len(served) / seconds, 1),
        "polling_failed": len(inside) - len(served),
        "polling_latency_p50_ms": latency["p50_ms"],
        "polling_latency_p95_ms": latency["p95_ms"],
        "polling_start_lateness_p95_ms": lateness["p95_ms"],
        "polling_ticks_skipped_by_late_phones": sum(skipped for _, skipped, _ in collected),
        "polling_sign_ms_p50": round(
            sorted(s[2] - s[1] for s in inside)[len(inside) // 2] * 1000 if inside else 0.0, 2
        ),
        "gunicorn_workers_cpu_cores": round(server_cpu / seconds, 3),
        "gunicorn_workers_cpu_share_of_machine": round(server_cpu / seconds / cores, 3),
        "gunicorn_cpu_ms_per_poll": round(per_poll_ms, 2),
        "postgres_backends_cpu_cores": round(database_cpu / seconds, 3),
        "load_generator_cpu_cores": round(generator_cpu / seconds, 3),
        "load_generator_processes": processes,
        # Another benchmark on this machine takes CPU from the server: how much, during the window.
        "polling_machine_busy_cores": round(busy / seconds, 2),
        "polling_other_processes_cpu_cores": round(
            max(0.0, busy - server_cpu - database_cpu - generator_cpu) / seconds, 2
        ),
        # What 2 workers could serve with a core each, the generator elsewhere: phones at 1 poll/s.
        "phones_per_worker_core_at_1_per_s": round(1000 / per_poll_ms) if per_poll_ms else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about two minutes)")
    parser.add_argument("--streams", type=int, default=2, help="logins in parallel (browser + phone each)")
    args = parser.parse_args()
    logins = 20 if args.quick else 200
    warm = 2  # per stream, not counted: each worker's first push (imports, Firebase app, token)
    phones = 100 if args.quick else 1000
    seconds = 5 if args.quick else 30
    per_transport = (logins // args.streams + warm) * args.streams
    load_before = os.getloadavg()

    push_seed.keys()  # made once (one app key, one server key for every user), then read from disk
    env = harness.prepare(DATABASE, JWEB_PUSH_TRANSPORT="poll", **RATE_LIMIT)
    keys_dir = str(push_seed.KEYS)
    harness.run_in_django(env, "bench.push_seed", str(per_transport), "0", keys_dir)
    harness.run_in_django(env, "bench.push_seed", str(per_transport), str(per_transport), keys_dir, FCM_TOKEN_PREFIX)
    total = max(phones, 3 * per_transport) + 1  # the last one waits while its status page is polled
    harness.run_in_django(env, "bench.push_seed", str(total - 2 * per_transport), str(2 * per_transport), keys_dir)
    password_hash = push_seed.password_hash_parameters(env)

    table, polling, status_cost, proposed = [], {}, {}, {}
    with harness.gunicorn(env, workers=2) as url:
        table.append(run_logins(url, "poll", 0, logins, args.streams, warm))
        status_cost = status_poll_cost(url, total - 1, 50 if args.quick else 300)
        # The change the figures call for, simulated by the benchmark's browser (the page is unchanged).
        proposed = run_logins(url, "poll", 2 * per_transport, logins, args.streams, warm, interval=PROPOSED_INTERVAL)
        polling = run_polling(url, phones, seconds, processes=4, threads=4)

    with tempfile.TemporaryDirectory(prefix="jweb-bench-fcm-") as directory:
        pki = make_test_pki(Path(directory))
        fake = FakeGoogle(harness.free_port(), pki).start()
        env_fcm = {**env, **fake.server_env()}
        try:
            with harness.gunicorn(env_fcm, workers=2) as url:
                row = run_logins(url, "fcm", per_transport, logins, args.streams, warm, fake=fake)
        finally:
            fake.stop()
        row["fcm_messages"], row["token_exchanges"] = fake.counts["fcm"], fake.counts["token"]
        table.append(row)
    table.append(proposed)

    errors = {row["transport"]: row.pop("_errors") for row in table}
    figures = {
        "target_accept_to_home_p95_ms": TARGET_P95_MS,
        **{f"{row['transport']}_accept_to_home_p95_ms": row["accept_to_home_p95_ms"] for row in table},
        "errors": sum(row["errors"] for row in table),
        **({"error_samples": errors} if any(errors.values()) else {}),
        **status_cost,
        **polling,
        "load_average_before": [round(value, 2) for value in load_before],
    }
    # One row per figure, one column per transport: twenty columns side by side do not read.
    names = list(dict.fromkeys(name for row in table for name in row if name != "transport"))
    table = [{"figure": name, **{row["transport"]: row.get(name, "") for row in table}} for name in names]
    harness.report(
        "push_latency",
        figures=figures,
        table=table,
        settings={
            "gunicorn_workers": 2,
            "password_hash_of_the_users": password_hash,
            "logins_per_transport": logins,
            "warm_up_logins_per_transport": warm * args.streams,
            "parallel_logins": args.streams,
            "browser_status_poll": "as static/js/push-wait.js: POLL_MS after the page, then after each answer",
            "phone_poll_interval_s": push_seed.PHONE_INTERVAL,
            "phone_poll_interval_source": "none in push-protocol.md or phone_client (the app polls at start, "
            "on resume, on pull-to-refresh): 1 s as the brief says",
            "fcm": "firebase-admin through a local HTTPS CONNECT proxy (test CA) answering as Google's token "
            "endpoint and FCM; the phone accepts from the FCM message's data",
            "server_env": {**RATE_LIMIT, "JWEB_PUSH_CHALLENGE_SECONDS": "120 (default)"},
            "keys": "one RSA-4096 app key and one RSA-4096 server key for every benchmark user",
        },
        env=env,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
