"""Use cases of the second factor: enrollment, verification, postponing, the audit trail."""

from __future__ import annotations

import time
from dataclasses import dataclass

import django_otp
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from auth_enforcement.models import Authenticator, AuthEvent, MandatePolicy, Registration, mandate_in_force

SESSION_STARTED = "jweb_auth_at"  # session: when the user logged in (absolute timeout)
SESSION_SEEN = "jweb_seen_at"  # session: the last activity, to the minute (idle timeout)
ENROLLING = "jweb_enrolling"  # session: {"id": pending authenticator, "at": when started}
POSTPONED = "jweb_postponed"  # session: the user chose "later" before the mandate


def start_session_clocks(request: HttpRequest) -> None:
    """Start the idle and absolute timeouts of a session that has just logged in."""
    request.session[SESSION_STARTED] = request.session[SESSION_SEEN] = int(time.time())


def client_ip(request: HttpRequest | None) -> str | None:
    """Return the client's address as the server (or its trusted proxy) sees it."""
    return request.META.get("REMOTE_ADDR") if request is not None else None


def record(
    kind: str, request: HttpRequest | None = None, *, subject=None, actor=None, edition: str = "", **details
) -> AuthEvent:
    """Append an event to the audit trail. Never pass a password, code, secret or key."""
    user = getattr(request, "user", None)
    if actor is None and user is not None and user.is_authenticated:
        actor = user
    subject = subject or actor
    return AuthEvent.objects.create(
        kind=kind,
        actor=actor,
        subject=subject,
        edition=edition or getattr(subject, "edition", None) or "",
        ip=client_ip(request),
        user_agent=(request.headers.get("User-Agent", "") if request is not None else "")[:300],
        details=details,
    )


def customer_of(user):
    """Return the customer a user belongs to, through the user model's interface."""
    return getattr(user, "customer", None)


# -- enrollment -------------------------------------------------------------------------


def pending_enrollment(request: HttpRequest) -> Authenticator | None:
    """Return this session's TOTP enrollment if it is still within its time limit."""
    started = request.session.get(ENROLLING)
    if not started or time.time() - started["at"] > settings.JWEB_ENROLLMENT_SECONDS:
        return None
    return Authenticator.objects.filter(pk=started["id"], status=Authenticator.Status.PENDING).first()


def start_totp_enrollment(request: HttpRequest) -> Authenticator:
    """Return this session's pending TOTP credential, creating a fresh one if needed."""
    authenticator = pending_enrollment(request)
    if authenticator is None:
        authenticator = Authenticator.new_totp(customer=customer_of(request.user))
        request.session[ENROLLING] = {"id": authenticator.pk, "at": int(time.time())}
        record(AuthEvent.Kind.ENROLLMENT_STARTED, request, method=authenticator.kind, serial=authenticator.serial)
    return authenticator


@dataclass
class EnrollmentResult:
    registration: Registration | None
    expired: bool = False


def confirm_totp_enrollment(request: HttpRequest, first_code: str, second_code: str) -> EnrollmentResult:
    """Bind the pending credential to the user if two consecutive codes prove possession."""
    authenticator = pending_enrollment(request)
    if authenticator is None:
        return EnrollmentResult(None, expired=True)
    with transaction.atomic():
        authenticator = Authenticator.objects.select_for_update().get(pk=authenticator.pk)
        if authenticator.status != Authenticator.Status.PENDING:
            return EnrollmentResult(None, expired=True)
        # The second code must be current (±1 step) and the first the one just before it,
        # as a relying party registers a VIP credential: a photo of one code is not enough.
        now = authenticator.current_step()
        second = authenticator.step_of(second_code, range(now - 1, now + 2))
        if second is None or authenticator.step_of(first_code, [second - 1]) is None:
            record(AuthEvent.Kind.ENROLLMENT_FAILED, request, serial=authenticator.serial)
            return EnrollmentResult(None)
        authenticator.status = Authenticator.Status.ACTIVE
        authenticator.last_step = second
        authenticator.save(update_fields=["status", "last_step"])
        registration = bind(request, authenticator)
    verify_session(request, registration)
    record(AuthEvent.Kind.ENROLLED, request, method=authenticator.kind, serial=authenticator.serial)
    return EnrollmentResult(registration)


SWITCH_ALLOWED = "jweb_switch_ok"  # session: when the user re-proved the current factor to switch


# Session keys of half-finished registrations, cleared once one completes.
PENDING_KEYS = [ENROLLING, POSTPONED, "jweb_push_enrolling", "jweb_push", "jweb_linking"]


def verify_session(request: HttpRequest, registration: Registration) -> None:
    """The user has just proved the factor: the session counts as verified, under a new key."""
    for key in PENDING_KEYS:
        request.session.pop(key, None)
    request.session.cycle_key()
    django_otp.login(request, registration)


def bind(request: HttpRequest, authenticator: Authenticator, origin: str = Registration.Origin.SELF) -> Registration:
    """Register a proven credential for the user; the current one goes only on a re-proved switch.

    Call in a transaction. The database allows one active registration per user
    (the notice: TOTP and push cannot be used together).
    """
    user = request.user
    current = Registration.objects.select_for_update().active().filter(user=user).first()
    if current is not None:
        if not switch_allowed(request):
            raise SwitchNotAllowedError
        current.revoked_at = timezone.now()
        current.save()
        request.session.pop(SWITCH_ALLOWED, None)
        record(
            AuthEvent.Kind.METHOD_SWITCHED,
            request,
            old=current.authenticator.kind,
            old_serial=current.authenticator.serial,
            new=authenticator.kind,
            new_serial=authenticator.serial,
        )
    return Registration.objects.create(user=user, authenticator=authenticator, origin=origin)


class SwitchNotAllowedError(Exception):
    """The user already has a factor and has not re-proved it to switch."""


def switch_allowed(request: HttpRequest) -> bool:
    """Return whether the user re-proved the current factor within the enrollment time limit."""
    proved = request.session.get(SWITCH_ALLOWED)
    return bool(proved) and time.time() - proved <= settings.JWEB_ENROLLMENT_SECONDS


# -- before the mandate -----------------------------------------------------------------


def postpone_registration(request: HttpRequest) -> bool:
    """Let a user without a factor carry on for this session, if the mandate allows it."""
    if mandate_in_force(request.user.edition):
        return False
    request.session[POSTPONED] = int(time.time())
    record(AuthEvent.Kind.POSTPONED, request)
    return True


def is_verified(request: HttpRequest) -> bool:
    """Return whether this session passed the second factor (no query: it is in the session)."""
    return bool(request.session.get(django_otp.DEVICE_ID_SESSION_KEY))


def record_factor_result(
    request: HttpRequest, user, registration: Registration | None, accepted: bool, newly_locked: bool = False
) -> None:
    """Audit a second-factor attempt, and the lock it caused."""
    serial = registration.authenticator.serial if registration else None
    kind = AuthEvent.Kind.FACTOR_OK if accepted else AuthEvent.Kind.FACTOR_FAILED
    record(kind, request, subject=user, actor=user, serial=serial)
    if newly_locked:
        record(AuthEvent.Kind.LOCKED, request, subject=user, actor=user, serial=serial)


# -- the mandate --------------------------------------------------------------------------


def change_mandate(request: HttpRequest | None, edition: str, *, effective_at=None, warning_days=None, via: str):
    """Change an edition's mandate and audit the before and after."""
    with transaction.atomic():
        MandatePolicy.objects.for_edition(edition)
        policy = MandatePolicy.objects.select_for_update().get(edition=edition)
        before = {
            "effective_at": timezone.localtime(policy.effective_at).isoformat(),
            "warning_days": policy.warning_days,
        }
        if effective_at is not None:
            policy.effective_at = effective_at
        if warning_days is not None:
            policy.warning_days = warning_days
        policy.save()
        record(
            AuthEvent.Kind.MANDATE_CHANGED,
            request,
            edition=edition,
            before=before["effective_at"],
            after=timezone.localtime(policy.effective_at).isoformat(),
            warning_days_before=before["warning_days"],
            warning_days_after=policy.warning_days,
            via=via,
        )
    return policy


def mandate_banner(request: HttpRequest) -> MandatePolicy | None:
    """Return the edition's mandate if this session should be reminded to register."""
    user = request.user
    if user.edition is None or is_verified(request) or request.session.get(POSTPONED):
        return None
    policy = MandatePolicy.objects.for_edition(user.edition)
    return None if policy.in_force() else policy


def unlock_authenticator(request: HttpRequest, authenticator: Authenticator, *, reason: str, **details) -> None:
    """Clear a credential's lock and failure count (bank staff), and audit who and why."""
    with transaction.atomic():
        locked = Authenticator.objects.select_for_update().get(pk=authenticator.pk)
        was_locked = locked.is_locked
        locked.unlock()
    for registration in locked.registrations.active().select_related("user"):
        record(
            AuthEvent.Kind.UNLOCKED,
            request,
            subject=registration.user,
            serial=locked.serial,
            was_locked=was_locked,
            reason=reason,
            **details,
        )


def revoke_authenticator(request: HttpRequest | None, authenticator: Authenticator, *, kind: str, **details) -> list:
    """Revoke a credential in every edition at once and end every session of its users.

    A lost or compromised device is the credential: a binding left in the other edition
    would keep it usable (NIST SP 800-63B r4 §4.6), so every binding goes together.
    """
    now = timezone.now()
    with transaction.atomic():
        authenticator = Authenticator.objects.select_for_update().get(pk=authenticator.pk)
        registrations = list(authenticator.registrations.active().select_related("user"))
        authenticator.status = Authenticator.Status.REVOKED
        authenticator.revoked_at = now
        authenticator.save(update_fields=["status", "revoked_at"])
        for registration in registrations:
            registration.revoked_at = now
            registration.save()
        users = [registration.user for registration in registrations]
        for user in users:
            user.end_sessions()
            record(kind, request, subject=user, serial=authenticator.serial, method=authenticator.kind, **details)
    return users


class NothingToResetError(Exception):
    """The user has no second factor registered."""


def reset_factor(request: HttpRequest, user, *, reason: str, via: str, **details) -> list:
    """Revoke a user's second factor on the bank's or the service manager's word, so they register anew.

    Returns every user whose factor went with it (the credential may also be bound in the
    other edition). Raises NothingToResetError if the user has none.
    """
    registration = Registration.objects.for_login(user)
    if registration is None:
        raise NothingToResetError
    return revoke_authenticator(
        request, registration.authenticator, kind=AuthEvent.Kind.RESET, reason=reason, via=via, **details
    )


def unlock_login(request: HttpRequest, user, *, reason: str, via: str) -> list[str]:
    """Lift what keeps a user from logging in: the lock of wrong passwords, their credential's lock.

    Returns what was lifted ("password", "factor"); each is audited and mailed to the user.
    """
    lifted = []
    if user.clear_password_failures():
        record(AuthEvent.Kind.PASSWORD_UNLOCKED, request, subject=user, reason=reason, via=via)
        lifted.append("password")
    registration = Registration.objects.for_login(user)
    if registration is not None and registration.authenticator.is_locked:
        unlock_authenticator(request, registration.authenticator, reason=reason, via=via)
        lifted.append("factor")
    return lifted


def reprove_with_code(request: HttpRequest, registration: Registration, code: str) -> bool:
    """Accept the current TOTP code once more, allowing a method switch for a few minutes."""
    was_locked = registration.authenticator.is_locked
    accepted = registration.verify_token(code)
    newly_locked = not was_locked and registration.authenticator.is_locked
    record_factor_result(request, request.user, registration, accepted, newly_locked)
    if accepted:
        allow_switch(request, registration)
    return accepted


def allow_switch(request: HttpRequest, registration: Registration) -> None:
    request.session[SWITCH_ALLOWED] = int(time.time())
    record(AuthEvent.Kind.REAUTHENTICATED, request, serial=registration.authenticator.serial)
