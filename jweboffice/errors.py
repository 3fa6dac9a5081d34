"""Error pages that work when the database does not: a clear "try again" instead of a 500."""

from __future__ import annotations

import sys

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error as default_server_error

# Seconds a browser or proxy should wait before trying again while PostgreSQL restarts.
RETRY_AFTER_SECONDS = 5


def server_error(request: HttpRequest) -> HttpResponse:
    """Answer 503 with "try again" when the database is unreachable; Django's 500 page otherwise.

    The page is rendered without the request context: its context processors would ask the
    database (the session, the user) that has just failed.
    """
    _, error, _ = sys.exc_info()
    if not isinstance(error, DatabaseError):
        return default_server_error(request)
    body = render_to_string("503.html", {"phone": settings.JWEB_HELPDESK_PHONE})
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
