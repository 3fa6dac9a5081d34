"""The FX start-of-use registration (利用開始登録) with a domestic credential, and loss.

The notice: a domestic-edition user may use the token or app they already have in the FX
edition, after a separate start-of-use registration with the FX user ID. The FX user proves
possession of the credential bound to a domestic user of the same customer; the FX binding
then points to the same Authenticator, so replay protection and lock-out are shared.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from auth_enforcement import flows
from auth_enforcement.editions import Edition
from auth_enforcement.models import Authenticator, AuthEvent, PushChallenge, Registration

LINKING = "jweb_linking"  # session: {"id": authenticator, "at": time} of a push start-of-use
# Attempts per FX user in a quarter of an hour, found or not: nobody probes serials.
MAX_ATTEMPTS = 5
ATTEMPT_WINDOW = timedelta(minutes=15)


def domestic_registrations(user):
    """Active registrations of domestic users of the same customer as this FX user."""
    customer = flows.customer_of(user)
    if customer is None or user.edition != Edition.FX:
        return Registration.objects.none()
    return (
        Registration.objects.active()
        .filter(
            user__edition=Edition.DOMESTIC,
            authenticator__customer_id=customer.pk,
            authenticator__status=Authenticator.Status.ACTIVE,
        )
        .select_related("authenticator", "user")
    )


def domestic_twin(user) -> Registration | None:
    """The registration of the domestic user with the same login ID, if any (for banners)."""
    return domestic_registrations(user).filter(user__login_id=user.login_id).first()


def find_credential(user, identifier: str) -> Authenticator | None:
    """The domestic credential named by a domestic user ID or a serial; None if not this customer's."""
    login_id = get_user_model().normalize_login_id(identifier)
    serial = identifier.strip().upper()
    found = domestic_registrations(user).filter(Q(user__login_id=login_id) | Q(authenticator__serial=serial)).first()
    return found.authenticator if found else None


def too_many_attempts(user) -> bool:
    since = timezone.now() - ATTEMPT_WINDOW
    return (
        AuthEvent.objects.filter(subject=user, kind=AuthEvent.Kind.LINK_FAILED, at__gte=since).count() >= MAX_ATTEMPTS
    )


def refuse(request: HttpRequest, identifier: str, reason: str) -> None:
    """Audit a refused start-of-use; the user sees the same words whatever the reason."""
    flows.record(AuthEvent.Kind.LINK_FAILED, request, identifier=identifier[:40], reason=reason)


def link_with_codes(request: HttpRequest, identifier: str, first_code: str, second_code: str) -> Registration | None:
    """Bind the domestic TOTP credential to the FX user if two consecutive codes prove it."""
    user = request.user
    authenticator = find_credential(user, identifier)
    if authenticator is None or authenticator.kind != Authenticator.Kind.TOTP:
        # Another customer's serial, an unknown ID, a push credential: all "wrong codes".
        refuse(request, identifier, "no such credential of this customer")
        return None
    with transaction.atomic():
        authenticator = Authenticator.objects.select_for_update().get(pk=authenticator.pk)
        allowed, _ = authenticator.verify_is_allowed()
        now = authenticator.current_step()
        second = authenticator.step_of(second_code, range(now - 1, now + 2)) if allowed else None
        proved = (
            second is not None
            and authenticator.step_of(first_code, [second - 1]) is not None
            and (authenticator.last_step is None or second - 1 > authenticator.last_step)  # shared replay state
        )
        if not proved:
            if allowed:
                authenticator.record_failure()
            refuse(request, identifier, "codes not accepted" if allowed else "throttled or locked")
            return None
        authenticator.last_step = second
        authenticator.throttle_reset(commit=False)
        authenticator.save(update_fields=["last_step", "throttling_failure_count", "throttling_failure_timestamp"])
        registration = flows.bind(request, authenticator, origin=Registration.Origin.DOMESTIC_LINK)
    _linked(request, registration)
    return registration


def start_push_link(request: HttpRequest, identifier: str):
    """Send a push to the domestic app; an unknown credential gets a request that never comes."""
    from auth_enforcement import push

    authenticator = find_credential(request.user, identifier)
    if authenticator is None or authenticator.kind != Authenticator.Kind.PUSH:
        refuse(request, identifier, "no such credential of this customer")
        # The page then waits in vain until the request would have expired: the same as a
        # push the owner ignores, so nobody learns whether a serial belongs to this customer.
        request.session[LINKING] = {"id": None, "at": int(time.time())}
        return push.decoy()
    request.session[LINKING] = {"id": authenticator.pk, "at": int(time.time())}
    return push.start_waiting(request, request.user, authenticator, PushChallenge.Purpose.LINK)


def push_link_status(request: HttpRequest) -> str:
    """Return pending, denied, expired or done for the push start-of-use of this session."""
    from auth_enforcement import push

    state = request.session.get(LINKING)
    if not state:
        return "expired"
    if state["id"] is None:
        waited = time.time() - state["at"]
        return "pending" if waited < settings.JWEB_PUSH_CHALLENGE_SECONDS else "expired"
    status = push.waiting_status(request)
    if status != PushChallenge.Status.APPROVED:
        return status
    with transaction.atomic():
        # The credential's row first, then the challenge's, in the order answer() takes them.
        authenticator = Authenticator.objects.select_for_update().get(pk=state["id"])
        if not push.consume_approval(request.session[push.PUSH_LOGIN]["attempt"], PushChallenge.Purpose.LINK):
            return "expired"
        registration = flows.bind(request, authenticator, origin=Registration.Origin.DOMESTIC_LINK)
    request.session.pop(LINKING, None)
    request.session.pop(push.PUSH_LOGIN, None)
    _linked(request, registration)
    return "done"


def _linked(request: HttpRequest, registration: Registration) -> None:
    flows.verify_session(request, registration)
    flows.record(
        AuthEvent.Kind.LINKED, request, serial=registration.authenticator.serial, method=registration.authenticator.kind
    )


# -- loss and unlinking -------------------------------------------------------------------


def report_lost(request: HttpRequest, authenticator: Authenticator, *, reason: str) -> list:
    """Revoke a credential the user reports lost, in every edition, ending every session."""
    return flows.revoke_authenticator(request, authenticator, kind=AuthEvent.Kind.LOST, reason=reason)


def unlink_fx(request: HttpRequest, registration: Registration) -> None:
    """Remove only the FX binding of a linked credential; the domestic one keeps working."""
    registration.revoked_at = timezone.now()
    registration.save()
    registration.user.end_sessions()
    flows.record(AuthEvent.Kind.UNLINKED, request, subject=registration.user, serial=registration.authenticator.serial)
