"""Signal receivers that write the audit trail. They only record; they never decide."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from auth_enforcement import flows
from auth_enforcement.models import AuthEvent


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django has already masked the password in `credentials`; keep only the ID typed.
    flows.record(
        AuthEvent.Kind.LOGIN_FAILED,
        request,
        login_id=str(credentials.get("login_id", ""))[:64],
        entrance=str(credentials.get("entrance", "")),
    )


def on_logged_in(sender, request, user, **kwargs) -> None:
    flows.record(AuthEvent.Kind.LOGIN_COMPLETED, request, subject=user, actor=user, verified=flows.is_verified(request))


def on_logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        flows.record(AuthEvent.Kind.LOGOUT, request, subject=user, actor=user)


def connect() -> None:
    from django.db.models.signals import post_save

    from auth_enforcement import notify

    post_save.connect(notify.on_event, sender=AuthEvent, dispatch_uid="jweb_notify")
    user_login_failed.connect(on_login_failed, dispatch_uid="jweb_audit_login_failed")
    # After django_otp's own receiver, which puts the verified device into the session.
    user_logged_in.connect(on_logged_in, dispatch_uid="jweb_audit_logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="jweb_audit_logged_out")
