"""A small load generator: one browser per process, keep-alive HTTP, cookies, real TOTP codes.

Light on purpose: the load runs on the same two cores as the server, so every millisecond the
client spends is one the server does not get (locust's gevent machinery costs several).
"""

from __future__ import annotations

import http.client
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import pyotp


class UnexpectedAnswerError(Exception):
    """The portal answered something a working login does not produce."""


class Browser:
    """One person's browser: a keep-alive connection to the portal and its cookies."""

    def __init__(self, base_url: str, timeout: float = 30) -> None:
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, dict, bytes]:
        headers = {"Accept-Language": "ja"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            form = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **form}
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # gunicorn closed a kept-alive connection: reconnect once, as a browser does.
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        for header in response.msg.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, dict(response.getheaders()), data

    def expect(self, method: str, path: str, status: int, form: dict | None = None) -> tuple[dict, bytes]:
        answer, headers, body = self.request(method, path, form)
        if answer != status:
            raise UnexpectedAnswerError(f"{method} {path}: {answer}, expected {status}")
        return headers, body

    def log_in_with_totp(self, entrance: str, login_id: str, password: str, seed: str) -> None:
        """Log in fully: the login page, the password, the current code, the home page."""
        path = f"/{entrance}/login/"
        self.expect("GET", path, 200)
        self.expect(
            "POST",
            path,
            200,
            {"entrance_login_view-current_step": "auth", "auth-username": login_id, "auth-password": password},
        )
        code = pyotp.TOTP(seed).now()
        headers, _ = self.expect(
            "POST", path, 302, {"entrance_login_view-current_step": "token", "token-otp_token": code}
        )
        self.expect("GET", urlsplit(headers["Location"]).path, 200)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


# -- push login (the browser's side, as templates/auth_enforcement/login.html and push-wait.js) --
# Appended for the push benchmarks; their imports are local, to leave the module's head alone.

PUSH_NUMBER = r'<strong id="push-number">(\d+)</strong>'


def login_form_fields(page: bytes) -> dict[str, str]:
    """Return what `form.submit()` sends for the page's <form id="login-form"> as it stands."""
    from html.parser import HTMLParser

    fields: dict[str, str] = {}

    class Fields(HTMLParser):
        inside = False

        def handle_starttag(self, tag, attrs):
            attributes = dict(attrs)
            if tag == "form":
                self.inside = attributes.get("id") == "login-form"
            elif tag == "input" and self.inside and attributes.get("name"):
                kind = attributes.get("type")
                if kind in ("checkbox", "radio") and "checked" not in attributes:
                    return
                if kind not in ("submit", "button", "image"):  # submit() sends no submitter
                    fields[attributes["name"]] = attributes.get("value") or ""

        def handle_endtag(self, tag):
            if tag == "form":
                self.inside = False

    Fields().feed(page.decode())
    return fields


def push_password_step(browser: Browser, entrance: str, login_id: str, password: str) -> tuple[str, bytes]:
    """Open the login page and send the password; return the number to tap and the waiting page."""
    import re

    path = f"/{entrance}/login/"
    browser.expect("GET", path, 200)
    _, page = browser.expect(
        "POST",
        path,
        200,
        {"entrance_login_view-current_step": "auth", "auth-username": login_id, "auth-password": password},
    )
    match = re.search(PUSH_NUMBER, page.decode())
    if match is None:
        raise UnexpectedAnswerError(f"POST {path}: no number to tap on the push page")
    return match.group(1), page


def wait_for_push(
    browser: Browser,
    page_at: float,
    status_url: str = "/login/push/status/",
    timeout: float = 150,
    interval: float = 0.5,
) -> tuple[str, float, int]:
    """Poll the status as static/js/push-wait.js does until the phone answers.

    The page checks `interval` after it loaded, then `interval` after each `pending` answer
    (setTimeout in the fetch's callback: the period is 1 s plus the answer's time); another
    `interval` stands for a changed page. Return the final status, the time.monotonic() at
    which the poll that saw it was sent, and the number of polls.
    """
    import json

    due, polls = page_at + interval, 0
    while True:
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent = time.monotonic()
        if sent - page_at > timeout:
            raise UnexpectedAnswerError(f"GET {status_url}: no answer from the phone within {timeout} s")
        answer, _, body = browser.request("GET", status_url)
        polls += 1
        if answer != 200:
            raise UnexpectedAnswerError(f"GET {status_url}: {answer}, expected 200")
        status = json.loads(body)["status"]
        if status in ("approved", "done", "denied", "expired", "rolled_out"):
            return status, sent, polls
        due = time.monotonic() + interval


def finish_push_login(browser: Browser, entrance: str, page: bytes) -> None:
    """Submit the waiting page's form (what push-wait.js does on `approved`), then open the home page."""
    import re

    path = f"/{entrance}/login/"
    answer, headers, body = browser.request("POST", path, login_form_fields(page))
    if answer != 302:
        alerts = re.findall(r'role="alert"[^>]*>\s*(?:<p>)?([^<]*)', body.decode(errors="replace"))
        shown = "; ".join(alert.strip() for alert in alerts if alert.strip())[:160]
        raise UnexpectedAnswerError(f"POST {path}: {answer}, expected 302 (page says: {shown or 'nothing'})")
    browser.expect("GET", urlsplit(headers["Location"]).path, 200)
