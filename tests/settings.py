"""Test settings: the production settings, with test-only values for what they require."""

import os

# The suite runs with DEBUG off, as in production; it needs a key, never a real one.
os.environ.setdefault("SECRET_KEY", "test-only-key-" + "x" * 50)
os.environ.setdefault("JWEB_SECRET_KEYS", "dGVzdC1vbmx5LWtleS1mb3ItY3JlZGVudGlhbC1zZWM=")

from jweboffice.settings import *  # noqa: E402, F403

# Static files straight from the source folders: no collectstatic before a test run.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
