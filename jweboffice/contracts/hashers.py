"""Argon2id with the cost the bank chose from the login benchmark (settings JWEB_ARGON2_*)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


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
