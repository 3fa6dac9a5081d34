"""Deny by default, and end sessions on the server after the idle and absolute timeouts."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from auth_enforcement import flows
from auth_enforcement.editions import BANK_ENTRANCE
from auth_enforcement.models import mandate_in_force
from auth_enforcement.views import entrance_login_url

SESSION_STARTED = flows.SESSION_STARTED
SESSION_SEEN = flows.SESSION_SEEN
# Record activity at most once a minute: a session write on every request would cost a
# query per request; the idle limit is then exact to within this many seconds.
SEEN_GRANULARITY_SECONDS = 60


class SessionTimeoutMiddleware:
    """End a signed-in session after 30 minutes idle or 12 hours in all (ASVS 3.3.2)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            started = request.session.get(SESSION_STARTED)
            seen = request.session.get(SESSION_SEEN, now)
            if started is None:
                flows.start_session_clocks(request)
            elif (
                now - seen > settings.JWEB_SESSION_IDLE_SECONDS
                or now - started > settings.JWEB_SESSION_ABSOLUTE_SECONDS
            ):
                entrance = request.user.entrance
                logout(request)
                messages.info(request, _("Your session has ended. Please log in again."))
                return redirect(entrance_login_url(entrance))
            elif now - seen >= SEEN_GRANULARITY_SECONDS:
                request.session[SESSION_SEEN] = now
        return self.get_response(request)


class EntranceLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Deny every view to anonymous visitors unless it is marked @login_not_required."""

    def handle_no_permission(self, request: HttpRequest, view_func) -> HttpResponse:
        # The admin site is for bank staff: send them to their own entrance.
        if request.path.startswith(reverse("admin:index")):
            return redirect_to_login(request.get_full_path(), entrance_login_url(BANK_ENTRANCE))
        return super().handle_no_permission(request, view_func)


class SecondFactorMiddleware:
    """Deny by default: after the mandate, a session without a second factor reaches only
    the views marked @second_factor_not_required (enrollment) or @login_not_required.

    A verified session costs no query (the fact is in the session); an unverified one, at
    most the mandate lookup of its edition. Bank staff need the factor from day one.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        if not getattr(view_func, "second_factor_required", True) or not getattr(view_func, "login_required", True):
            return None
        user = request.user
        if not user.is_authenticated or flows.is_verified(request):
            return None
        if not mandate_in_force(user.edition):
            return None
        return redirect("auth_enforcement:enroll")
