"""An audit line's details as the help desk reads them: labels and values in the page's language.

The trail keeps the facts as code wrote them (`via: service_manager`, `verified: False`); the
card says them in words. A key or value not named here is shown as stored, so nothing is hidden.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from auth_enforcement.models import Authenticator, AuthEvent, PushChallenge, Registration
from jweboffice.helpdesk.forms import ResetForm

LABELS = {
    "serial": _("serial"),
    "reason": _("reason"),
    "via": _("through"),
    "verified": _("second factor verified"),
    "was_locked": _("was locked"),
    "closed": _("request closed"),
    "identity_check": _("identity check"),
    "purpose": _("purpose"),
    "method": _("method"),
    "origin": _("how registered"),
    "failures": _("wrong passwords in a row"),
    "blocked_until": _("pushes paused until"),
    "error": _("error"),
    "login_id": _("user ID typed"),
    "entrance": _("entrance"),
    "identifier": _("user ID or serial typed"),
    "count": _("count"),
}

VALUES = {
    "via": {
        "helpdesk": _("help desk"),
        "admin": _("admin site"),
        "service_manager": _("service manager"),
        "command": _("server command (unlock_login)"),
    },
    "purpose": dict(PushChallenge.Purpose.choices),
    "method": dict(Authenticator.Kind.choices),
    "origin": dict(Registration.Origin.choices),
    "identity_check": dict(ResetForm.IdentityCheck.choices),
}

# Reasons the code writes (the staff's own reasons are shown as typed).
REASONS = {
    AuthEvent.Kind.PUSH_DECLINED: {
        "unknown_trigger": _("not me"),
        "cancelled": pgettext_lazy("push declined", "cancelled"),  # not the contract's 解約済み
        "wrong_number": _("wrong number"),
        "none": _("no reason given"),
        "other": _("other"),
    },
    AuthEvent.Kind.LOST: {"reported lost by the user": _("reported lost by the user")},
}


def describe(event: AuthEvent) -> list[tuple[str, str]]:
    """Return the event's details as (label, value) pairs in the active language."""
    return [(str(LABELS.get(key, key)), _value(event, key, value)) for key, value in event.details.items()]


def _value(event: AuthEvent, key: str, value) -> str:
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if key == "reason":
        return str(REASONS.get(event.kind, {}).get(value, value))
    if key == "blocked_until" and isinstance(value, str):
        try:
            return timezone.localtime(datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M JST")
        except ValueError:
            return value
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(VALUES.get(key, {}).get(value, value))
