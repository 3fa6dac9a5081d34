"""The pages a customer reaches: entrances, home (各種サービス), services, notice."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from auth_enforcement import flows, start_of_use
from jweboffice.contracts.models import Edition
from jweboffice.portal.services import find_service, services_for


@login_not_required
def entrance(request: HttpRequest) -> HttpResponse:
    """Let a visitor choose the entrance of their edition."""
    return render(request, "portal/entrance.html", {"editions": Edition})


@login_not_required
def notice(request: HttpRequest) -> HttpResponse:
    """Show the bank's notice on the second factor becoming mandatory."""
    return render(request, "portal/notice.html")


def home(request: HttpRequest) -> HttpResponse:
    """List the services of the signed-in user's edition (各種サービス)."""
    user = request.user
    if user.is_bank_staff:
        return redirect("admin:index")
    banner = flows.mandate_banner(request)
    if banner and banner.in_warning_period():
        # In the weeks before the mandate, registration comes first (or "later", once a session).
        return redirect("auth_enforcement:enroll")
    context = {"services": services_for(user.edition), "mandate_banner": banner}
    if banner:
        context["domestic_twin"] = start_of_use.domestic_twin(user)
    return render(request, "portal/home.html", context)


def service(request: HttpRequest, slug: str) -> HttpResponse:
    """Show one service of the user's own edition; the others do not exist for them."""
    found = find_service(request.user.edition, slug) if not request.user.is_bank_staff else None
    if found is None:
        raise Http404
    return render(request, "portal/service.html", {"service": found})
