"""Test settings: the production settings, with test-only values for what they require."""

import os

# The suite runs with DEBUG off, as in production; it needs a key, never a real one.
os.environ.setdefault("SECRET_KEY", "test-only-key-" + "x" * 50)

from jweboffice.settings import *  # noqa: E402, F403
