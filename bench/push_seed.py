"""Push benchmark users and the phone side of the push benchmarks.

Seeding runs inside the server's environment: `python -m bench.push_seed <count> <start> <keys dir>
[<push token prefix>]`. Every benchmark user n gets an active push registration (serial
`serial_for(n)`) made as a finished enrollment leaves it (see tests/auth_enforcement/conftest.py
`push_factory`): the server key as sealed PKCS#8 PEM, the app key as base64 DER SPKI. One app
key and one server key serve every user: an RSA-4096 key takes seconds to make.

The phone side is the reference client, auth_enforcement/phone_client.py, with its two keys
read once instead of at every request (its Phone reads the PEM each time, and loading an
RSA-4096 private key costs ~0.3 s of CPU: see `load_private_key`).

Also here: CPU time of processes from /proc, for the load generator and gunicorn's workers.
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from auth_enforcement import phone_client
from bench import seed

KEYS = Path(tempfile.gettempdir()) / "jweb-bench-push-keys"  # benchmark keys only, never a deployment's
STATUS_URL = "/login/push/status/"
DEVICE_PATH = "/device/push/"
# How often the app polls. The protocol doc and the reference client name none (the store app
# polls at start, on resume and on pull-to-refresh): the benchmark's phones poll once a second.
PHONE_INTERVAL = 1.0


def serial_for(n: int) -> str:
    return f"JWPB{n:08d}"


def push_token_for(prefix: str, n: int) -> str:
    return f"{prefix}-{n}" if prefix else ""


# -- keys -------------------------------------------------------------------------------


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    # A key this benchmark made itself: skip OpenSSL's RSA consistency check (~0.3 s per load).
    key = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def keys(directory: Path = KEYS) -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """Return (app key, server key): made once, kept in `directory` for the next runs."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = []
    for name in ("app", "server"):
        path = directory / f"{name}.pem"
        if not path.exists():
            key = phone_client.new_key()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(pem)
        found.append(load_private_key(path.read_bytes()))
    return found[0], found[1]


def server_public_key_body(server_key: rsa.RSAPrivateKey) -> str:
    """The server key as the rollout answer gives it to the app: PKCS#1, PEM body without armour."""
    pem = server_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    return "".join(line for line in pem.decode().splitlines() if not line.startswith("-----"))


# -- seeding (inside Django) ------------------------------------------------------------


def create_push_users(count: int, start: int, directory: Path, token_prefix: str = "") -> None:
    import django

    django.setup()

    from auth_enforcement import crypto
    from auth_enforcement.models import Authenticator

    app_key, server_key = keys(directory)
    server_sealed = crypto.seal(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    app_public = base64.b64encode(
        app_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()

    def push_credential(n: int, customer_id: int) -> Authenticator:
        return Authenticator(
            kind=Authenticator.Kind.PUSH,
            serial=serial_for(n),
            customer_id=customer_id,
            status=Authenticator.Status.ACTIVE,
            server_key_sealed=server_sealed,
            app_public_key=app_public,
            push_token=push_token_for(token_prefix, n),
            decline_reason_capable=True,
        )

    seed.create_users(count, start, credential=push_credential)


# -- the phone --------------------------------------------------------------------------


class BenchPhone(phone_client.Phone):
    """The reference phone client for user n, its state in memory and its keys read once."""

    def __init__(self, base_url: str, n: int, app_key: rsa.RSAPrivateKey, server_public: str) -> None:
        super().__init__(Path(tempfile.gettempdir()) / "jweb-bench-no-state-file" / f"{n}.json")
        self.state = {
            "serial": serial_for(n),
            "url": base_url + DEVICE_PATH,
            "sslverify": False,
            "poll_only": True,
            "server_public_key": server_public,
        }
        self._app_key = app_key
        self._server_public = phone_client.load_server_key(server_public)

    def _private_key(self) -> rsa.RSAPrivateKey:
        return self._app_key

    def _server_key(self) -> rsa.RSAPublicKey:
        return self._server_public

    def save(self) -> None:  # nothing to keep: the benchmark's phones live for one run
        pass


# -- CPU time from /proc ----------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Return a process's user + system CPU seconds (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)


def _processes() -> dict[int, tuple[int, str]]:
    """Return {pid: (parent pid, command line)} of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        found[int(entry.name)] = (int(stat[stat.rindex(")") + 2 :].split()[1]), cmdline)
    return found


def gunicorn_workers(url: str) -> tuple[int, list[int]]:
    """Return (master pid, worker pids) of the gunicorn serving `url` (found by its --bind)."""
    bind = url.removeprefix("http://")
    processes = _processes()
    serving = {pid for pid, (_, cmdline) in processes.items() if f"--bind {bind} " in cmdline}
    masters = [pid for pid in serving if processes[pid][0] not in serving]
    if len(masters) != 1:
        raise RuntimeError(f"cannot tell gunicorn's master for {bind}: {sorted(serving)}")
    return masters[0], sorted(pid for pid, (parent, _) in processes.items() if parent == masters[0])


def gunicorn_processes(master: int) -> list[int]:
    """Return gunicorn's master and its workers of the moment."""
    return [master, *(pid for pid, (parent, _) in _processes().items() if parent == master)]


def database_backends(database: str) -> list[int]:
    """Return the PostgreSQL backends connected to `database` (their process title names it)."""
    processes = _processes().items()
    return sorted(pid for pid, (_, title) in processes if title.startswith("postgres:") and f" {database} " in title)


class CpuMeter:
    """CPU seconds taken between start() and stop() by the processes `find()` returns.

    Sampled twice a second, so that processes that come and go are counted: a gunicorn worker
    restarted, a PostgreSQL backend closed after CONN_MAX_AGE and opened again. One that appears
    counts from 0; one that ends loses at most its last half second.
    """

    def __init__(self, find, period: float = 0.5) -> None:
        self.find, self.period = find, period
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.seconds = 0.0

    def _sample(self, baseline: bool = False) -> None:
        for pid in self.find():
            value = cpu_seconds(pid)
            self.first.setdefault(pid, value if baseline else 0.0)
            self.last[pid] = max(value, self.last.get(pid, 0.0))

    def _run(self) -> None:
        while not self.stopping.wait(self.period):
            self._sample()

    def start(self) -> None:
        self._sample(baseline=True)
        self.thread.start()

    def stop(self) -> float:
        self.stopping.set()
        self.thread.join()
        self._sample()
        self.seconds = sum(self.last[pid] - self.first[pid] for pid in self.last)
        return self.seconds


def password_hash_parameters(env: dict[str, str]) -> str:
    """Return the hasher and cost of the seeded users' password hash: what each login verifies.

    harness.machine() reads the settings when the report is written; when they change during a
    run (another session editing them), only the stored hash tells what the logins paid for.
    """
    from bench import harness

    code = (
        "from jweboffice.contracts.models import User;"
        "print('$'.join(User.objects.filter(login_id__startswith='bench').first().password.split('$')[:4]))"
    )
    return harness.manage(env, "shell", "-c", code).strip().splitlines()[-1]  # after shell's own notice


def machine_busy_seconds() -> float:
    """Return the CPU seconds all cores have spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS  # without guest time, counted in user already


if __name__ == "__main__":
    create_push_users(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "")
