import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured

from jweboffice.env import env_bool, env_cache, env_database, env_datetime, env_int

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "SECRET_KEY": "k8#Zp2!vQ9s@Lx4&Tn7^Wm1*Rb6(Yc3)Hd5_Jf0+Gg8=Ee2-Aa9~Uu4Oo7Ii1",
    "ALLOWED_HOSTS": "jweb.example.jp",
    "DEBUG": "false",
    "JWEB_SECRET_KEYS": "dGVzdC1vbmx5LWtleS1mb3ItY3JlZGVudGlhbC1zZWM=",
}


def run_django(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Start the project with only these variables set and run a management command."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "JWEB_SECRET_KEYS"}
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="jweboffice.settings")
    return subprocess.run(
        [sys.executable, "manage.py", *(args or ("check",))],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy():
    result = run_django(PRODUCTION, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_start_up_without_secret_key_fails_naming_it():
    result = run_django({"DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_short_secret_key_is_refused():
    result = run_django({**PRODUCTION, "SECRET_KEY": "too-short"})
    assert "SECRET_KEY must be at least 50" in result.stderr


@pytest.mark.parametrize(
    "name,value",
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://root@localhost/jweb"),
        ("CACHE_URL", "memcached://127.0.0.1:11211"),
        ("DATABASE_CONN_MAX_AGE", "forever"),
        ("JWEB_SESSION_IDLE_SECONDS", "7200"),
        ("JWEB_HTTPS", "sometimes"),
        ("JWEB_SECRET_KEYS", "not-a-fernet-key"),
        ("JWEB_MANDATE_FX", "next spring"),
        ("JWEB_LOCK_AFTER_FAILURES", "1000"),
        ("JWEB_ARGON2_MEMORY_KIB", "8192"),  # below OWASP's minimum for Argon2id
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(name, value):
    result = run_django({**PRODUCTION, name: value})
    assert result.returncode != 0
    assert f"Environment variable {name}=" in result.stderr


def test_start_up_without_credential_keys_fails_naming_them():
    result = run_django({k: v for k, v in PRODUCTION.items() if k != "JWEB_SECRET_KEYS"})
    assert "JWEB_SECRET_KEYS must be set" in result.stderr


def test_mandate_instant_without_offset_is_read_in_japan_time(monkeypatch):
    monkeypatch.setenv("JWEB_MANDATE_FX", "2019-03-01T00:00")
    assert env_datetime("JWEB_MANDATE_FX", "").isoformat() == "2019-03-01T00:00:00+09:00"


def test_debug_without_key_starts_for_the_demo():
    assert run_django({"DEBUG": "true"}).returncode == 0


def test_env_bool_reads_yes_and_no(monkeypatch):
    monkeypatch.setenv("JWEB_FLAG", "yes")
    assert env_bool("JWEB_FLAG", False) is True
    monkeypatch.setenv("JWEB_FLAG", "off")
    assert env_bool("JWEB_FLAG", True) is False
    monkeypatch.delenv("JWEB_FLAG")
    assert env_bool("JWEB_FLAG", True) is True


def test_env_int_enforces_its_bounds(monkeypatch):
    monkeypatch.setenv("JWEB_N", "101")
    with pytest.raises(ImproperlyConfigured, match="JWEB_N='101'.*between 1 and 100"):
        env_int("JWEB_N", 5, minimum=1, maximum=100)


def test_database_url_for_postgres_and_sqlite(monkeypatch):
    monkeypatch.setenv("DB", "postgres://jweb@127.0.0.1:5432/jweb")
    assert env_database("DB", "")["ENGINE"] == "django.db.backends.postgresql"
    monkeypatch.setenv("DB", "sqlite:////tmp/x.sqlite3")
    assert env_database("DB", "")["NAME"] == "/tmp/x.sqlite3"


def test_cache_url_for_redis(monkeypatch):
    monkeypatch.setenv("CACHE", "redis://127.0.0.1:6379/1")
    entry = env_cache("CACHE", "locmem://")
    assert entry["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert entry["LOCATION"] == "redis://127.0.0.1:6379/1"


def test_a_redis_that_never_answers_fails_a_cache_call_within_seconds(monkeypatch):
    # A server that accepts the connection and then says nothing, as a hung Redis does.
    silent = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
    monkeypatch.setenv("CACHE", f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    entry = env_cache("CACHE", "locmem://")
    cache = RedisCache(entry["LOCATION"], {"OPTIONS": entry["OPTIONS"]})
    began = time.monotonic()
    with pytest.raises(redis.exceptions.TimeoutError):
        cache.get("jweb:fcm:breaker")
    assert time.monotonic() - began < 3
    silent.close()


def test_argon2_with_one_pass_needs_46_mib(monkeypatch):
    result = run_django({**PRODUCTION, "JWEB_ARGON2_TIME_COST": "1", "JWEB_ARGON2_MEMORY_KIB": "19456"})
    assert result.returncode != 0
    assert "Environment variable JWEB_ARGON2_MEMORY_KIB=" in result.stderr


def test_new_passwords_are_hashed_with_the_configured_argon2_cost(db, settings):
    from django.contrib.auth.hashers import Argon2PasswordHasher, check_password, make_password

    settings.JWEB_ARGON2_TIME_COST, settings.JWEB_ARGON2_MEMORY_KIB, settings.JWEB_ARGON2_PARALLELISM = 3, 20480, 1
    assert make_password("correct-horse-battery-9").startswith("argon2$argon2id$v=19$m=20480,t=3,p=1$")
    # A hash of another cost still verifies, and is re-hashed with the configured one.
    old = Argon2PasswordHasher().encode("correct-horse-battery-9", "saltsaltsaltsalt")
    upgraded = []
    assert check_password("correct-horse-battery-9", old, setter=upgraded.append)
    assert upgraded == ["correct-horse-battery-9"]
