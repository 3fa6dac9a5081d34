"""E-mail the user when their second factor changes or something suspicious happens.

NIST SP 800-63B r4 §4.6 / ASVS 2.5.5: bind, reset, link and suspicious denials are told to
the user on another channel. Connected to AuthEvent's post_save: the audit line is the fact,
the mail only reports it. Never a code, secret or key in a mail.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone

from auth_enforcement.models import AuthEvent

SUBJECTS = {
    AuthEvent.Kind.ENROLLED: "【JWEBOFFICE】追加認証の利用登録 / Second factor registered",
    AuthEvent.Kind.METHOD_SWITCHED: "【JWEBOFFICE】認証方式の変更 / Authentication method changed",
    AuthEvent.Kind.LINKED: "【JWEBOFFICE】外為版の利用開始登録 / Start of use in the FX edition",
    AuthEvent.Kind.UNLINKED: "【JWEBOFFICE】外為版での利用停止 / No longer used in the FX edition",
    AuthEvent.Kind.LOST: "【JWEBOFFICE】認証デバイスの失効 / Authenticator revoked",
    AuthEvent.Kind.LOCKED: "【JWEBOFFICE】認証デバイスのロック / Authenticator locked",
    AuthEvent.Kind.UNLOCKED: "【JWEBOFFICE】認証デバイスのロック解除 / Authenticator unlocked",
    AuthEvent.Kind.PASSWORD_LOCKED: "【JWEBOFFICE】ログインのロック / Login locked",
    AuthEvent.Kind.PASSWORD_UNLOCKED: "【JWEBOFFICE】ログインのロック解除 / Login unlocked",
    AuthEvent.Kind.RESET: "【JWEBOFFICE】追加認証の登録解除 / Second factor reset",
    AuthEvent.Kind.PUSH_NOT_ME: "【JWEBOFFICE】ご本人以外のログイン操作の可能性 / A login you did not make",
}


# The lock of a password is mailed off the request that caused it: that request must look
# like any other wrong password (security rule 26), with no wait for the mail server and no
# error page if it fails.
OFF_THE_REQUEST = {AuthEvent.Kind.PASSWORD_LOCKED}
_background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jweb-mail")
_pending: set[Future] = set()
log = logging.getLogger(__name__)


def on_event(sender, instance: AuthEvent, created: bool, **kwargs) -> None:
    """Mail the event's subject if the event is one users are told about."""
    user = instance.subject
    if not created or instance.kind not in SUBJECTS or user is None or not user.email:
        return
    context = {
        "user": user,
        "event": instance,
        "when": timezone.localtime(instance.at).strftime("%Y-%m-%d %H:%M"),
        "serial": instance.details.get("serial", ""),
        "phone": settings.JWEB_HELPDESK_PHONE,
    }
    body = render_to_string(f"auth_enforcement/mail/{instance.kind}.txt", context)
    message = (SUBJECTS[instance.kind], body, settings.DEFAULT_FROM_EMAIL, [user.email])
    if instance.kind in OFF_THE_REQUEST:
        future = _background.submit(_send_quietly, *message)
        _pending.add(future)
        future.add_done_callback(_pending.discard)
    else:
        send_mail(*message)


def _send_quietly(*message) -> None:
    try:
        send_mail(*message)
    except Exception:  # noqa: BLE001 - a mail that cannot go is logged, never raised
        log.exception("Could not send the mail %r", message[0])


def wait_for_background_mail(timeout: float = 10) -> None:
    """Wait until the mails sent off the request have gone (tests, and a clean shutdown)."""
    wait(list(_pending), timeout=timeout)
