"""Argon2id with the cost the bank chose from the login benchmark (settings JWEB_ARGON2_*)."""

from __future__ import annotations

import ctypes
import os

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher

# glibc's mallopt() parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# glibc serves a block above its mmap threshold with a mapping of its own, unmapped again on
# free; the threshold follows the blocks freed, but never past 32 MiB (64-bit).
GLIBC_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024


class Argon2idHasher(Argon2PasswordHasher):
    """Django's Argon2id hasher, its cost read from the settings.

    The algorithm name stays "argon2", so hashes made with other parameters still verify and
    are re-hashed with these at the user's next login (Django's must_update).
    """

    @property
    def time_cost(self) -> int:
        return settings.JWEB_ARGON2_TIME_COST

    @property
    def memory_cost(self) -> int:
        return settings.JWEB_ARGON2_MEMORY_KIB

    @property
    def parallelism(self) -> int:
        return settings.JWEB_ARGON2_PARALLELISM


def keeps_memory_by_itself(memory_kib: int) -> bool:
    """Whether glibc reuses a hash's block of this size by itself (its threshold follows it).

    Not up to the very limit: a block whose mapping rounds up to exactly 32 MiB misses the
    threshold's rule by glibc's flag bit (seen at 32,764 and 32,768 KiB: 8,193 faults a hash).
    """
    return memory_kib * 1024 <= GLIBC_MMAP_THRESHOLD_MAX - 1024 * 1024


def keep_hash_memory(memory_kib: int) -> bool:
    """Let this process reuse one Argon2 hash's memory for the next (glibc only).

    Above glibc's mmap threshold every hash maps its memory afresh and the kernel faults in
    and zeroes it page by page: at Django's default cost (100 MiB) 25,700 page faults and
    60–80 ms of the hash's 206 ms of CPU. Taking such blocks from the heap and not giving the
    freed one back removes that (135 ms a hash), and the process keeps one hash's memory
    (Argon2 wipes it before freeing it). This holds for hashes in the main thread, where
    gunicorn's sync workers run requests; another thread's arena maps a block of 64 MiB or more
    afresh whatever the setting. Return whether the setting was made.
    """
    if keeps_memory_by_itself(memory_kib):
        return False
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):  # not a POSIX system, or not this name
        libc = ""
    if not libc.startswith("glibc"):
        return False
    mallopt = ctypes.CDLL(None).mallopt
    trim_above = min(memory_kib * 1024 + GLIBC_MMAP_THRESHOLD_MAX, 2**31 - 1)  # an int in C
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_above))
