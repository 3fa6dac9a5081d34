"""The pages a customer reaches: entrances, home (各種サービス), services, notice."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from auth_enforcement import flows, start_of_use
from auth_enforcement.forms import ReasonForm
from jweboffice.contracts.models import Edition, User
from jweboffice.portal.services import find_service, services_for

# Recorded in the audit trail as the way a reset or unlock was made.
VIA_SERVICE_MANAGER = "service_manager"


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


# -- the service manager's page (サービス管理責任者) ------------------------------------------


def manager_only(view):
    """Open a view to service managers whose session passed the second factor; 404 for the rest."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Staff and bank staff get the 404 of any path that does not exist, for every method:
        # they must not learn that the page exists (ASVS 5.0 8.2.2).
        if request.user.role != User.Role.MANAGER:
            raise Http404
        # Before the mandate a manager may still be password-only; resetting or unlocking
        # someone else's factor must never rest on a password alone.
        if not flows.is_verified(request):
            messages.info(
                request,
                _("To manage your users' second factor, log in with your own second factor. Register it first."),
            )
            return redirect("auth_enforcement:enroll")
        return view(request, *args, **kwargs)

    return wrapped


def _managed_user(request: HttpRequest, pk: int) -> User:
    """Return a staff member of the manager's own contract, or raise 404 / 403."""
    # Another contract's user and an ID that does not exist look the same (ASVS 5.0 8.2.2).
    user = get_object_or_404(User.objects.managed_by(request.user).with_factor(), pk=pk)
    # Self and other managers: only the bank resets a manager's factor, so a stolen manager
    # session cannot swap its own factor or a fellow manager's.
    if not request.user.may_manage(user):
        raise PermissionDenied
    return user


def _render_user(request: HttpRequest, user: User, status: int = 200, **forms) -> HttpResponse:
    context = {
        "person": user,
        "factor": user.factor,
        "bank_only": not request.user.may_reset(user),
        "unlock_form": forms.get("unlock_form") or ReasonForm(prefix="unlock"),
        "reset_form": forms.get("reset_form") or ReasonForm(prefix="reset"),
    }
    return render(request, "portal/manager_user.html", context, status=status)


@manager_only
@never_cache
def manager(request: HttpRequest) -> HttpResponse:
    """List the second-factor status of every user of the manager's own contract."""
    # Two queries for any number of users: the users, then their active credentials.
    people = User.objects.managed_by(request.user).with_factor().order_by("login_id")
    rows = [(person, request.user.may_manage(person)) for person in people]
    return render(request, "portal/manager.html", {"rows": rows})


@manager_only
@never_cache
def manager_user(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one staff member's second factor with the unlock and reset forms."""
    return _render_user(request, _managed_user(request, pk))


@manager_only
@require_POST
def manager_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    """Unlock a staff member's login (wrong passwords) or credential (wrong codes), with a recorded reason."""
    user = _managed_user(request, pk)
    form = ReasonForm(request.POST, prefix="unlock")
    if not form.is_valid():
        return _render_user(request, user, status=400, unlock_form=form)
    lifted = flows.unlock_login(request, user, reason=form.cleaned_data["reason"], via=VIA_SERVICE_MANAGER)
    if "password" in lifted:
        messages.success(
            request, _("The login of %(name)s was unlocked. They have been told by e-mail.") % {"name": user.name}
        )
    elif lifted:
        messages.success(
            request,
            _("The authenticator of %(name)s was unlocked. They have been told by e-mail.") % {"name": user.name},
        )
    else:
        messages.info(request, _("Nothing is locked for %(name)s: nothing was changed.") % {"name": user.name})
    return redirect("portal:manager")


@manager_only
@require_POST
def manager_reset(request: HttpRequest, pk: int) -> HttpResponse:
    """Reset a staff member's lost or broken factor, with a recorded reason; they register anew."""
    user = _managed_user(request, pk)
    if not request.user.may_reset(user):
        raise PermissionDenied
    form = ReasonForm(request.POST, prefix="reset")
    if not form.is_valid():
        return _render_user(request, user, status=400, reset_form=form)
    try:
        flows.reset_factor(request, user, reason=form.cleaned_data["reason"], via=VIA_SERVICE_MANAGER)
    except flows.NothingToResetError:
        messages.info(
            request, _("%(name)s has no second factor registered: there is nothing to reset.") % {"name": user.name}
        )
    else:
        messages.success(
            request,
            _(
                "The second factor of %(name)s was reset and their sessions ended. They register a new one at "
                "their next login, and have been told by e-mail."
            )
            % {"name": user.name},
        )
    return redirect("portal:manager")
