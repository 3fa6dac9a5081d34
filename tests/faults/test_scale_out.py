"""Two app servers behind one load balancer share nothing but PostgreSQL (and an optional Redis).

A login started on one server finishes on the other; stopping Redis loses no login and no
security counter, because sessions, throttles, locks and push rate limits live in the database.
"""

from __future__ import annotations

import time

import psycopg2
import pyotp
import pytest
from django.db import connection

from bench import harness, seed
from bench.client import Browser

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="fault tests run in the PostgreSQL pass")
DATABASE = "jweb_fault_scale_out"
USERS = 20


@pytest.fixture(scope="module")
def database():
    env = harness.prepare(DATABASE)
    harness.run_in_django(env, "bench.seed", str(USERS))
    return env


def sql(query: str, *params):
    with psycopg2.connect(f"{harness.PG_SERVER}/{DATABASE}") as db, db.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def password_step(browser: Browser, n: int) -> None:
    browser.expect("GET", "/fx/login/", 200)
    form = {
        "entrance_login_view-current_step": "auth",
        "auth-username": seed.login_id(n),
        "auth-password": seed.PASSWORD,
    }
    browser.expect("POST", "/fx/login/", 200, form)


def code_step(browser: Browser, code: str, status: int = 302) -> None:
    browser.expect("POST", "/fx/login/", status, {"entrance_login_view-current_step": "token", "token-otp_token": code})


def wrong_code(n: int) -> str:
    return "000000" if pyotp.TOTP(seed.seed_for(n)).now() != "000000" else "111111"


def failures(n: int) -> int:
    query = "SELECT throttling_failure_count FROM auth_enforcement_authenticator WHERE serial = %s"
    return sql(query, f"JWB{n:09d}")[0][0]


def on(server_url: str, browser: Browser) -> Browser:
    """The same browser (its cookies), sent by the load balancer to another server."""
    other = Browser(server_url)
    other.cookies = browser.cookies
    return other


def test_a_login_started_on_one_server_finishes_on_the_other(database, redis_server):
    cache_url, _ = redis_server
    env = {**database, "CACHE_URL": cache_url}
    with harness.gunicorn(env, workers=1) as first, harness.gunicorn(env, workers=1) as second:
        browser = Browser(first)
        password_step(browser, 0)
        moved = on(second, browser)
        code_step(moved, pyotp.TOTP(seed.seed_for(0)).now())
        moved.expect("GET", "/home/", 200)
        on(first, moved).expect("GET", "/home/", 200)  # and back again
        # Logging out on one server ends the session on both.
        moved.expect("POST", "/logout/", 302, {})
        status, _, _ = on(first, moved).request("GET", "/home/")
        assert status == 302


def test_stopping_redis_loses_no_login_and_no_security_counter(database, redis_server):
    cache_url, redis_process = redis_server
    # No growing delay between wrong codes here: the count itself is what is watched.
    env = {**database, "CACHE_URL": cache_url, "JWEB_THROTTLE_FACTOR": "0"}
    with harness.gunicorn(env, workers=1) as first, harness.gunicorn(env, workers=1) as second:
        before_stop = Browser(first)
        before_stop.log_in_with_totp("fx", seed.login_id(1), seed.PASSWORD, seed.seed_for(1))
        wrong = Browser(second)
        password_step(wrong, 2)
        code_step(wrong, "000000" if pyotp.TOTP(seed.seed_for(2)).now() != "000000" else "111111", status=200)
        assert sql(
            "SELECT throttling_failure_count FROM auth_enforcement_authenticator WHERE serial = %s", "JWB000000002"
        ) == [(1,)]

        redis_process.kill()
        redis_process.wait()

        # The session made before the stop still works on both servers, and new logins work.
        before_stop.expect("GET", "/home/", 200)
        on(second, before_stop).expect("GET", "/home/", 200)
        fresh = Browser(second)
        fresh.log_in_with_totp("fx", seed.login_id(3), seed.PASSWORD, seed.seed_for(3))
        # The failure count is still there, and counts on: nothing was reset.
        again = Browser(first)
        password_step(again, 2)
        code_step(again, "000000" if pyotp.TOTP(seed.seed_for(2)).now() != "000000" else "111111", status=200)
        assert sql(
            "SELECT throttling_failure_count FROM auth_enforcement_authenticator WHERE serial = %s", "JWB000000002"
        ) == [(2,)]


def test_a_push_approved_through_one_server_releases_the_browser_waiting_on_the_other():
    from dataclasses import replace

    from bench import push_seed
    from bench.client import finish_push_login, push_password_step, wait_for_push

    env = harness.prepare(DATABASE + "_push")
    harness.run_in_django(env, "bench.push_seed", "1", "0", str(push_seed.KEYS))
    app_key, server_key = push_seed.keys()
    with harness.gunicorn(env, workers=1) as first, harness.gunicorn(env, workers=1) as second:
        browser = Browser(second)
        number, page = push_password_step(browser, "fx", seed.login_id(0), seed.PASSWORD)
        waiting_since = time.monotonic()
        phone = push_seed.BenchPhone(first, 0, app_key, push_seed.server_public_key_body(server_key))
        (challenge,) = phone.poll().challenges  # fetched through the first server
        # The challenge names the server the browser used; the approval goes through the first.
        phone.accept(replace(challenge, url=first + push_seed.DEVICE_PATH), number)
        status, _, _ = wait_for_push(browser, waiting_since)
        assert status == "approved"
        finish_push_login(browser, "fx", page)  # home page, 200, on the second server
