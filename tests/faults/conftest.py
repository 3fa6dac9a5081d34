"""Real processes for the fault tests: gunicorn servers, a Redis of their own, on PostgreSQL.

They build their own database with the benchmark harness (committed data that separate
server processes can see), so they run once, in the PostgreSQL pass of the suite.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

from bench import harness

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="fault tests run in the PostgreSQL pass")


@pytest.fixture
def redis_server():
    """Start a Redis of our own on a free port; yield (url, process) so a test can stop it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (.ci/run installs it)")
    port = harness.free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    import redis

    client = redis.Redis(port=port)
    while time.monotonic() < deadline:
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", process
    process.kill()
    process.wait()


class PrivatePostgres:
    """A PostgreSQL server of the test's own, in a temporary directory, that it may stop and start."""

    def __init__(self) -> None:
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not versions:
            pytest.fail("PostgreSQL's server programs are not installed (.ci/run installs them)")
        self.bin = Path(versions[-1])
        self.directory = Path(tempfile.mkdtemp(prefix="jweb-pg-"))
        self.port = harness.free_port()
        # initdb refuses to run as root: the server runs as the postgres system user then.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_owner:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.directory / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self.as_owner, str(self.bin / program), *args], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-o", options, "-l", str(self.directory / "log"),
                  "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres():
    server = PrivatePostgres()
    server.start()
    yield server
    try:
        server.stop()
    except subprocess.CalledProcessError:
        pass  # already stopped by the test
    shutil.rmtree(server.directory, ignore_errors=True)
