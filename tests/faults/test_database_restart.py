"""PostgreSQL restarts while people log in: a clear "try again", nothing half done, self-healing.

A server of the test's own is stopped for a few seconds under a stream of logins served by
gunicorn. Requests in the gap get the 503 page; every login either completed (code used,
session opened, audited) or left no trace; the same worker processes serve again afterwards.
"""

from __future__ import annotations

import subprocess
import threading
import time

import psycopg2
import pyotp
import pytest
from django.db import connection

from bench import harness, seed
from bench.client import Browser

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="fault tests run in the PostgreSQL pass")
DATABASE = "jweb_fault_restart"
OUTAGE_SECONDS = 3


class Logins:
    """Log distinct users in, one after the other on each thread, recording how each ended."""

    def __init__(self, url: str, threads: int = 2) -> None:
        self.url, self.outcomes, self.stop = url, [], threading.Event()
        self.numbers = iter(range(10**6))
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                n = next(self.numbers)
            self.outcomes.append((time.monotonic(), self._log_in(n)))

    def _log_in(self, n: int) -> str:
        browser = Browser(self.url, timeout=20)
        steps = [
            ("GET", "/fx/login/", None, 200),
            ("POST", "/fx/login/", {"entrance_login_view-current_step": "auth", "auth-username": seed.login_id(n),
                                     "auth-password": seed.PASSWORD}, 200),
            ("POST", "/fx/login/", {"entrance_login_view-current_step": "token",
                                     "token-otp_token": pyotp.TOTP(seed.seed_for(n)).now()}, 302),
            ("GET", "/home/", None, 200),
        ]  # fmt: skip
        try:
            for step, (method, path, form, expected) in enumerate(steps):
                status, _, _ = browser.request(method, path, form)
                if status != expected:
                    # From the code step on, the login may have committed before the gap hit.
                    return str(status) + (" late" if step >= 2 else "")
        except OSError as error:
            return type(error).__name__
        finally:
            browser.close()
        return "ok"

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def worker_pids(url: str) -> set[str]:
    port = url.rsplit(":", 1)[1]
    found = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True).stdout.split()
    return set(found)


def test_a_database_restart_gives_try_again_and_leaves_nothing_half_done(private_postgres):
    env = harness.prepare(DATABASE, server=private_postgres.url, DATABASE_CONN_MAX_AGE="60")
    harness.run_in_django(env, "bench.seed", "3000")
    with harness.gunicorn(env, workers=2) as url:
        pids = worker_pids(url)
        with Logins(url) as logins:
            time.sleep(2)
            private_postgres.stop()
            outage_started = time.monotonic()
            time.sleep(OUTAGE_SECONDS)
            private_postgres.start()
            back = time.monotonic()
            time.sleep(4)
        assert worker_pids(url) == pids  # the same processes, no restart needed

    outcomes = logins.outcomes
    assert {outcome for _, outcome in outcomes} <= {"ok", "503", "503 late"}, outcomes
    assert any(outcome.startswith("503") for at, outcome in outcomes if outage_started <= at <= back + 1)
    assert any(outcome == "ok" for at, outcome in outcomes if at < outage_started)
    assert sum(outcome == "ok" for at, outcome in outcomes if at > back + 1) >= 2  # healed by itself

    with psycopg2.connect(f"{private_postgres.url}/{DATABASE}") as db, db.cursor() as cursor:
        # Every code marked used belongs to a completed login (one transaction), and the reverse.
        cursor.execute(
            """SELECT a.serial, a.last_step IS NOT NULL,
                      EXISTS (SELECT 1 FROM auth_enforcement_authevent e
                              WHERE e.subject_id = r.user_id AND e.kind = 'login_completed'),
                      EXISTS (SELECT 1 FROM auth_enforcement_authevent e
                              WHERE e.subject_id = r.user_id AND e.kind = 'factor_ok')
               FROM auth_enforcement_authenticator a
               JOIN auth_enforcement_registration r ON r.authenticator_id = a.id"""
        )
        rows = cursor.fetchall()
    half_done = [row for row in rows if len({row[1], row[2], row[3]}) != 1]
    assert half_done == []
    # Each login the browser saw complete used its code; at most the ones cut off late did too.
    used, ok = sum(row[1] for row in rows), sum(outcome == "ok" for _, outcome in outcomes)
    assert ok <= used <= ok + sum(outcome == "503 late" for _, outcome in outcomes)
