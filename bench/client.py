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
