"""The measured settings without the second-factor middleware: the baseline of its overhead."""

from bench.settings_measured import *  # noqa: F403
from bench.settings_measured import MIDDLEWARE

MIDDLEWARE = [name for name in MIDDLEWARE if name != "auth_enforcement.middleware.SecondFactorMiddleware"]
