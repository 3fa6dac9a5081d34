"""The password hash at a memory cost above glibc's mmap threshold keeps its memory between hashes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jweboffice.contracts.hashers import keep_hash_memory, keeps_memory_by_itself

ROOT = Path(__file__).resolve().parents[2]
MEMORY_KIB = 65536  # 64 MiB, one pass: above glibc's 32 MiB and OWASP's 1-pass minimum
PAGES = MEMORY_KIB * 1024 // os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 0


def glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


pytestmark = pytest.mark.skipif(not glibc(), reason="the page faults measured are glibc's malloc")

# Three checks after a first one in the main thread (where gunicorn's sync workers hash): the
# minor page faults they took, per check. Then one in another thread, which must still work
# (a thread's arena maps such a block afresh: no gain there, but no failure either).
CHECKS = """
import resource, sys, threading
{setup}
ok = []
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
check()
before = faults()
for _ in range(3):
    ok.append(check())
per_check = (faults() - before) // 3
thread = threading.Thread(target=lambda: ok.append(check()))
thread.start(); thread.join()
print(all(ok) and len(ok) == 4, per_check)
"""
DJANGO = """
import django
django.setup()
from django.contrib.auth.hashers import check_password, make_password
encoded = make_password("correct horse battery")
assert encoded.startswith("argon2$argon2id$v=19$m=65536,t=1,p=1$"), encoded
check = lambda: check_password("correct horse battery", encoded)
"""
BARE = """
from argon2 import PasswordHasher
hasher = PasswordHasher(time_cost=1, memory_cost=65536, parallelism=1)
encoded = hasher.hash("correct horse battery")
check = lambda: hasher.verify(encoded, "correct horse battery")
"""


def run_checks(setup: str) -> tuple[bool, int]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "JWEB_ARGON2_TIME_COST": "1",
        "JWEB_ARGON2_MEMORY_KIB": str(MEMORY_KIB),
        "JWEB_ARGON2_PARALLELISM": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", CHECKS.format(setup=setup)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    ok, per_check = result.stdout.split()
    return ok == "True", int(per_check)


def test_without_the_setting_each_hash_faults_its_memory_in_afresh():
    ok, per_check = run_checks(BARE)
    assert ok
    assert per_check > PAGES // 2  # what the setting is for: here about one fault per page


def test_the_configured_hasher_reuses_its_memory_from_one_hash_to_the_next():
    ok, per_check = run_checks(DJANGO)
    assert ok  # also in a thread other than the main one
    assert per_check < PAGES // 20


def test_below_glibcs_threshold_nothing_is_changed():
    assert keep_hash_memory(19456) is False  # the default cost: glibc keeps the block itself
    assert keep_hash_memory(30720) is False


@pytest.mark.parametrize("memory_kib", [32764, 32768])
def test_a_block_at_glibcs_very_limit_is_kept_by_the_setting(memory_kib):
    # Seen on glibc 2.36: a hash of exactly 32 MiB faults every page afresh, as above it.
    assert not keeps_memory_by_itself(memory_kib)
