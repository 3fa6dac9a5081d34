"""Read settings from the environment, failing loudly on a bad value."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def _fail(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"Environment variable {name}={value!r} is invalid: expected {expected}.")


def env_bool(name: str, default: bool) -> bool:
    """Return a yes/no variable; anything but true/false/1/0/yes/no/on/off is an error."""
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _fail(name, value, "true or false")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return an integer variable within [minimum, maximum]."""
    value = _raw(name)
    if value is None or value == "":
        return default
    bounds = f"an integer between {minimum} and {maximum}"
    try:
        number = int(value)
    except ValueError:
        raise _fail(name, value, bounds) from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise _fail(name, value, bounds)
    return number


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    """Return a string variable; with required=True an empty or missing value is an error."""
    value = _raw(name)
    if value:
        return value
    if required:
        raise ImproperlyConfigured(f"Environment variable {name} must be set.")
    return default


def env_list(name: str, default: list[str]) -> list[str]:
    """Return a comma-separated list variable."""
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_database(name: str, default: str) -> dict[str, Any]:
    """Return a DATABASES entry from a URL (sqlite:///path or postgres://user@host:port/db)."""
    url = _raw(name) or default
    scheme = url.split(":", 1)[0].lower()
    if scheme not in {"sqlite", "postgres", "postgresql"}:
        raise _fail(name, url, "a sqlite:/// or postgres:// URL")
    try:
        config = dj_database_url.parse(url)
    except ValueError as error:
        raise _fail(name, url, f"a database URL ({error})") from None
    if not config.get("NAME"):
        raise _fail(name, url, "a URL that names the database")
    return config


def env_cache(name: str, default: str) -> dict[str, Any]:
    """Return a CACHES entry from a URL (locmem:// or redis://host:port/db)."""
    url = _raw(name) or default
    # A Redis that hangs must not hang a login: nothing that matters is in the cache, so a call
    # that gets no answer within a second fails, and its caller goes on without it.
    redis = {"socket_connect_timeout": 1, "socket_timeout": 1}
    backends: dict[str, Callable[[str], dict[str, Any]]] = {
        "locmem": lambda u: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "redis": lambda u: {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": u, "OPTIONS": redis},
        "rediss": lambda u: {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": u, "OPTIONS": redis},
    }
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in backends:
        raise _fail(name, url, "locmem:// or a redis:// URL")
    return backends[scheme](url)


def env_datetime(name: str, default: str, tz: str = "Asia/Tokyo") -> datetime:
    """Return an ISO 8601 instant; one without an offset is read in the given time zone."""
    value = _raw(name) or default
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(name, value, "an ISO 8601 date and time such as 2019-03-01T00:00+09:00") from None
    return instant if instant.tzinfo else instant.replace(tzinfo=ZoneInfo(tz))


def env_fernet_keys(name: str, fallback_secret: str | None) -> list[str]:
    """Return Fernet keys (comma-separated); without any, derive one from fallback_secret or fail."""
    keys = env_list(name, [])
    if not keys:
        if fallback_secret is None:
            raise ImproperlyConfigured(
                f"Environment variable {name} must be set: one or more Fernet keys, e.g. from "
                '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.'
            )
        return [base64.urlsafe_b64encode(hashlib.sha256(fallback_secret.encode()).digest()).decode()]
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise _fail(name, "…", "Fernet keys: 32 url-safe base64-encoded bytes each") from None
    return keys
