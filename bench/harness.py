"""What every benchmark shares: a fresh PostgreSQL database, gunicorn as in production, the report.

Each script starts its own server (gunicorn, sync workers, production settings with HTTPS
off for the local load generator) on a database of its own, and runs its load generator in
separate processes. Results are ratios and percentiles measured in one run: absolute times on
a shared machine drift, ratios much less.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
RESULTS = ROOT / "bench" / "results"
PG_SERVER = os.environ.get("JWEB_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
# A fixed Fernet key and secret key: benchmark data only, never a deployment's.
FERNET_KEY = "YmVuY2gtb25seS1rZXktZm9yLWp3ZWJvZmZpY2UtMDE="
SECRET_KEY = "bench-only-" + "x" * 60


def server_env(database: str, server: str = PG_SERVER, **extra: str) -> dict[str, str]:
    """Return the environment of a production-like portal on the benchmark's own database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "jweboffice.settings",
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "JWEB_SECRET_KEYS": FERNET_KEY,
        "DATABASE_URL": f"{server}/{database}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The load generator speaks plain HTTP on the loopback; TLS is the proxy's job.
        "JWEB_HTTPS": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "STATIC_ROOT": str(Path(tempfile.gettempdir()) / "jweb-bench-static"),
        "LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


def create_database(name: str, server: str = PG_SERVER) -> None:
    """Drop and create a database on the benchmark's PostgreSQL server."""
    import psycopg2

    connection = psycopg2.connect(f"{server}/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def manage(env: dict[str, str], *args: str) -> str:
    """Run a manage.py command in the server's environment and return its output."""
    result = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def run_in_django(env: dict[str, str], module: str, *args: str) -> str:
    """Run `python -m module args` with Django set up in the server's environment."""
    result = subprocess.run(
        [PYTHON, "-m", module, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise RuntimeError(f"{module} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def prepare(database: str, server: str = PG_SERVER, **extra: str) -> dict[str, str]:
    """Create and migrate the benchmark's database; return the server environment."""
    env = server_env(database, server, **extra)
    create_database(database, server)
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(env: dict[str, str], workers: int = 2, port: int | None = None, app: str = "jweboffice.wsgi"):
    """Serve the portal (or another WSGI `app`) with gunicorn's sync workers; yield its base URL."""
    port = port or free_port()
    process = subprocess.Popen(
        [
            GUNICORN,
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited at start-up")
        try:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            connection.request("GET", "/fx/login/")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on {url} within {timeout} s")


def machine(env: dict[str, str]) -> dict:
    """Describe the machine and the software the figures were measured on."""
    script = (
        "import django, json, gunicorn, argon2;"
        "django.setup();"
        "from django.db import connection;"
        "from django.contrib.auth.hashers import get_hasher;"
        "h = get_hasher();"
        "cursor = connection.cursor(); cursor.execute('SHOW server_version');"
        "print(json.dumps({'django': django.get_version(), 'gunicorn': gunicorn.__version__,"
        " 'argon2_cffi': argon2.__version__ if hasattr(argon2, '__version__') else '',"
        " 'postgresql': cursor.fetchone()[0],"
        " 'password_hasher': {'algorithm': h.algorithm, 'time_cost': h.time_cost,"
        " 'memory_cost_kib': h.memory_cost, 'parallelism': h.parallelism}}))"
    )
    output = subprocess.run([PYTHON, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "system": platform.platform(),
        **json.loads(output.stdout),
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    """Return p50/p95/p99 and the maximum of latencies in seconds, in milliseconds."""
    if not samples:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "count": 0}
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 2)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": at(1.0), "count": len(ordered)}


def report(name: str, *, figures: dict, table: list[dict], settings: dict, env: dict[str, str], quick: bool) -> Path:
    """Print the table and write the JSON with the figures, the settings and the machine."""
    if table:
        columns = list(table[0])
        widths = [max(len(str(column)), *(len(str(row.get(column, ""))) for row in table)) for column in columns]
        print("  ".join(str(column).ljust(width) for column, width in zip(columns, widths, strict=True)))
        for row in table:
            print(
                "  ".join(str(row.get(column, "")).ljust(width) for column, width in zip(columns, widths, strict=True))
            )
    print()
    for key, value in figures.items():
        print(f"{key}: {value}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}{'-quick' if quick else ''}.json"
    document = {
        "benchmark": name,
        "quick": quick,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "figures": figures,
        "table": table,
        "settings": settings,
        "machine": machine(env),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten: {path.relative_to(ROOT)}")
    return path
