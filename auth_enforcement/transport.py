"""How a push challenge reaches the phone: Firebase Cloud Messaging, or nothing (the app polls)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import firebase_admin
import requests.adapters
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from firebase_admin import credentials, exceptions, messaging
from google.auth.exceptions import GoogleAuthError, RefreshError
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

FCM_APP_NAME = "jweboffice-push"
FCM_ORIGIN = "https://fcm.googleapis.com"

# firebase-admin retries a 500/503 four times (1 + 2 + 4 s of backoff) and, before each retry,
# sleeps for the server's Retry-After, which urllib3 caps only at 6 hours: one FCM outage would
# hold every login worker. We try once more, at once, only when FCM surely did not take the
# message (the connection failed, or it answered 500/503); never after a read timeout, when it
# may have: a duplicate would be a second notification for one login.
FCM_RETRY = Retry(
    total=1,
    connect=1,
    read=False,  # False, not 0: the ReadTimeout surfaces as itself (DeadlineExceededError)
    status=1,
    other=0,
    status_forcelist=[500, 503],
    allowed_methods=None,  # the send is a POST
    backoff_factor=0,
    respect_retry_after_header=False,
    raise_on_status=False,  # hand the last 503 to firebase-admin, which maps it to an error
)

_app_lock = threading.Lock()


@dataclass(frozen=True)
class Delivery:
    sent: bool  # handed to FCM
    user_message: str = ""  # for the login page when it failed
    error: str = ""  # short technical reason for the audit trail (never a token or key)


def deliver(challenge) -> Delivery:
    """Hand a challenge to FCM if this deployment and the phone use it; never raise."""
    authenticator = challenge.authenticator
    if settings.JWEB_PUSH_TRANSPORT != "fcm" or not authenticator.push_token or authenticator.needs_reregistration:
        # The login page already tells the user to open the app, which fetches the challenge.
        return Delivery(sent=False)
    # The phone must drop the notification when the challenge can no longer be answered.
    seconds_left = int((challenge.expires_at - timezone.now()).total_seconds())
    if seconds_left <= 0:
        return _failed(challenge, "challenge expired before sending", "")
    try:
        app = fcm_app()
    except (OSError, ValueError) as error:
        logger.error("FCM is not usable: %s: %s", type(error).__name__, error)
        return _failed(challenge, f"FCM credentials unusable ({type(error).__name__})", _could_not_send())
    try:
        messaging.send(_message(challenge, seconds_left), app=app)
    except messaging.UnregisteredError as error:
        # The app was uninstalled or its token rotated: sending again cannot succeed.
        authenticator.needs_reregistration = True
        authenticator.save(update_fields=["needs_reregistration"])
        return _failed(
            challenge,
            _fcm_reason(error),
            _(
                "Your phone can no longer receive notifications for this login. Please open the "
                "authentication app to approve it; if this happens again, register the app again."
            ),
        )
    except exceptions.FirebaseError as error:  # 503, quota, a timeout, a refused connection, ...
        return _failed(challenge, _fcm_reason(error), _could_not_send())
    except GoogleAuthError as error:
        # The access token could not be obtained: RefreshError when the token endpoint said no,
        # TransportError when it could not be reached. firebase-admin wraps neither.
        return _failed(challenge, _oauth_reason(error), _could_not_send())
    return Delivery(sent=True)


def fcm_app() -> firebase_admin.App:
    """Return this process's Firebase app, initialised on first use (no network I/O)."""
    with _app_lock:
        try:
            return firebase_admin.get_app(FCM_APP_NAME)
        except ValueError:
            pass
        app = firebase_admin.initialize_app(
            credentials.Certificate(settings.JWEB_FCM_CREDENTIALS),
            {"projectId": settings.JWEB_FCM_PROJECT, "httpTimeout": settings.JWEB_FCM_TIMEOUT_SECONDS},
            name=FCM_APP_NAME,
        )
        # firebase-admin offers no option for its retries: replace the adapter it mounts for FCM.
        session = messaging._get_messaging_service(app)._client.session
        session.mount(FCM_ORIGIN, requests.adapters.HTTPAdapter(pool_maxsize=100, max_retries=FCM_RETRY))
        return app


def _message(challenge, seconds_left: int) -> messaging.Message:
    # A data-only message is dropped while the app is in the background: add a notification.
    # `token` is the FCM registration token the app registered (firebase-admin 7.7 calls it
    # deprecated in favour of `fid`, a Firebase installation ID, which the app does not send).
    return messaging.Message(
        token=challenge.authenticator.push_token,
        data=challenge.wire_fields(),
        notification=messaging.Notification(title="JWEBOFFICE", body=_("Approve your login")),
        android=messaging.AndroidConfig(priority="high", ttl=seconds_left),
        apns=messaging.APNSConfig(
            headers={"apns-priority": "10", "apns-expiration": str(int(challenge.expires_at.timestamp()))}
        ),
    )


def _could_not_send() -> str:
    return _(
        "The notification could not be sent to your phone. Please open the authentication app "
        "on your phone to approve this login."
    )


def _fcm_reason(error: exceptions.FirebaseError) -> str:
    status = getattr(error.http_response, "status_code", None)
    return f"FCM {type(error).__name__}" + (f" (HTTP {status})" if status else "")


def _oauth_reason(error: GoogleAuthError) -> str:
    reason = f"OAuth token {type(error).__name__}"
    # RefreshError's arguments: (message, the token endpoint's JSON answer, retryable).
    answer = error.args[1] if isinstance(error, RefreshError) and len(error.args) > 1 else None
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        reason += f" {answer['error'][:40]}"
    return reason


def _failed(challenge, reason: str, user_message: str) -> Delivery:
    logger.warning("Push challenge %s not sent to %s: %s", challenge.pk, challenge.authenticator.serial, reason)
    challenge.transport_error = reason[:200]
    challenge.save(update_fields=["transport_error"])
    return Delivery(sent=False, user_message=user_message, error=reason)
