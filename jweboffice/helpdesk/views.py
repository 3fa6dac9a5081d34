"""The help-desk lookup page: the queue, one search box, a user card with unlock and reset."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from auth_enforcement import flows as factor_flows
from auth_enforcement.forms import ReasonForm
from auth_enforcement.models import Authenticator
from jweboffice.contracts.models import Edition, User
from jweboffice.helpdesk import details, flows
from jweboffice.helpdesk.forms import ResetForm, SearchForm


def staff_only(permission: str):
    """Let in bank staff who passed the second factor and hold `permission`; nobody else learns of the page."""

    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            user = request.user
            # Customers get the same 404 as for any path that does not exist.
            if not user.is_bank_staff or not user.is_staff or not factor_flows.is_verified(request):
                raise Http404
            if not user.has_perm(permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


@staff_only("contracts.view_user")
def lookup(request: HttpRequest) -> HttpResponse:
    """Search by one box; with nothing typed, show the queue of cases that need a person."""
    form = SearchForm(request.GET or None)
    context = {"form": form, "result": None, "queue": None}
    if form.is_valid() and form.cleaned_data["q"]:
        data = form.cleaned_data
        result = context["result"] = flows.search(data["q"], data["page"] or 1, data["after"])
        context["exact_rows"], context["partial_rows"] = _rows(result.exact), _rows(result.partial)
    elif not form.errors:
        context["queue"] = flows.queue()
    return render(request, "helpdesk/lookup.html", context)


def _rows(found: list[flows.FoundUser]) -> list[tuple]:
    """Return each found user with the path of their card and the labels of their edition, role and method."""
    # Translated once per page rather than once per cell (get_FOO_display rebuilds the field's
    # choices at every call: a millisecond for the 60 cells of a page of 20), and the card's path
    # reversed once: {% url %} in the loop cost 0.6 ms a page in template machinery, reverse()
    # for each row 0.3 ms.
    editions = {value: str(label) for value, label in Edition.choices}
    roles = {value: str(label) for value, label in User.Role.choices}
    methods = {value: str(label) for value, label in Authenticator.Kind.choices}
    card_path = _card_path()
    return [
        (
            row,
            card_path(row.pk),
            editions.get(row.edition),
            roles.get(row.role),
            methods.get(row.method),
        )
        for row in found
    ]


def _card_path():
    """Return a function of a user's id that gives the path of their card, as reverse() would."""
    before, after = reverse("helpdesk:card", args=[0]).rsplit("/0/", 1)  # users/<int:pk>/
    return lambda pk: f"{before}/{int(pk)}/{after}"


def _customer_user(pk: int):
    user = flows.find_customer_user(pk)
    if user is None:
        raise Http404
    return user


def _card(request: HttpRequest, user, status: int = 200, **forms) -> HttpResponse:
    card = flows.user_card(user)
    for event in card.events:
        event.described = details.describe(event)
    context = {
        "card": card,
        "unlock_form": forms.get("unlock_form") or ReasonForm(prefix="unlock"),
        "reset_form": forms.get("reset_form") or ResetForm(prefix="reset"),
        "handled_form": forms.get("handled_form") or ReasonForm(prefix="handled"),
        "may_unlock": request.user.has_perm("auth_enforcement.unlock_authenticator"),
        "may_reset": request.user.has_perm("auth_enforcement.reset_registration"),
    }
    return render(request, "helpdesk/card.html", context, status=status)


@staff_only("contracts.view_user")
def card(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one user's second factor, history and the actions staff may take."""
    user = _customer_user(pk)
    flows.record_view(request, user)
    return _card(request, user)


@require_POST
@staff_only("auth_enforcement.unlock_authenticator")
def unlock(request: HttpRequest, pk: int) -> HttpResponse:
    user = _customer_user(pk)
    form = ReasonForm(request.POST, prefix="unlock")
    if not form.is_valid():
        return _card(request, user, status=400, unlock_form=form)
    lifted = factor_flows.unlock_login(request, user, reason=form.cleaned_data["reason"], via="helpdesk")
    if "password" in lifted:
        messages.success(request, _("The login was unlocked. The user has been told by e-mail."))
    elif lifted:
        messages.success(request, _("The authenticator was unlocked. The user has been told by e-mail."))
    else:
        messages.info(request, _("Nothing is locked for this user: nothing was changed."))
    return redirect("helpdesk:card", pk=user.pk)


@require_POST
@staff_only("auth_enforcement.reset_registration")
def reset(request: HttpRequest, pk: int) -> HttpResponse:
    user = _customer_user(pk)
    form = ResetForm(request.POST, prefix="reset")
    if not form.is_valid():
        return _card(request, user, status=400, reset_form=form)
    try:
        users = factor_flows.reset_factor(
            request,
            user,
            reason=form.cleaned_data["reason"],
            via="helpdesk",
            identity_check=form.cleaned_data["identity_check"],
        )
    except factor_flows.NothingToResetError:
        messages.error(request, _("This user has no authenticator registered: there is nothing to reset."))
    else:
        messages.success(
            request,
            _("The authenticator was revoked for %(count)d user(s), their sessions ended and each was told by e-mail.")
            % {"count": len(users)},
        )
    return redirect("helpdesk:card", pk=user.pk)


@require_POST
@staff_only("contracts.view_user")
def handled(request: HttpRequest, pk: int) -> HttpResponse:
    """Settle the user's open queue items with a note."""
    user = _customer_user(pk)
    form = ReasonForm(request.POST, prefix="handled")
    if not form.is_valid():
        return _card(request, user, status=400, handled_form=form)
    flows.mark_handled(request, user, reason=form.cleaned_data["reason"])
    messages.success(request, _("The case was marked as handled."))
    return redirect("helpdesk:lookup")
