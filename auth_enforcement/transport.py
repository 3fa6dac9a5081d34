"""How a push challenge reaches the phone: Firebase Cloud Messaging, or nothing (the app polls)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import firebase_admin
import requests.adapters
from django.conf import settings
from django.core.cache import cache
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

# The circuit breaker. While FCM is down, every push login would hold a sync worker for up to
# JWEB_FCM_TIMEOUT_SECONDS (5 s): with 2 workers, 0.4 push logins/s against mandate day's 11/s.
# So after one send fails because FCM (or Google's token endpoint) is unavailable, or because
# our credentials are refused, no push is tried for a cool-off: those logins go on as after a
# failed send (poll-only, the same message, audited). After it, one login tries FCM again
# (half-open): a success, or any answer that shows FCM is up, closes the circuit.
# The state lives in Django's cache, shared by every app server when CACHE_URL names a Redis
# (with the local-memory cache each worker process keeps its own, and pays once per cool-off).
# It is no security counter: losing it costs one more failed send, so the cache is the right
# place, and a cache that fails (Redis stopped) counts as a closed circuit: we send.
BREAKER_KEY = "jweb:fcm:breaker"
# Without a Retry-After: 30 s. A probe during an outage then holds one worker for about the
# send's timeout (5 s) once in 30 s (a twelfth of 2 workers), and once FCM is back,
# notifications resume within 30 s (logins meanwhile still complete by polling).
COOL_OFF_SECONDS = 30
# FCM's Retry-After is honoured between 10 s and 5 minutes: below 10 s a probe would again hold
# a worker half of the time; beyond 5 minutes (a third of mandate day's 15-minute rush) we would
# miss FCM's recovery: a Retry-After of an hour (as a proxy may send) must not mute it that long.
COOL_OFF_MIN_SECONDS, COOL_OFF_MAX_SECONDS = 10, 300
# How long the half-open probe keeps other logins from trying FCM too: gunicorn's default
# worker timeout, beyond which the probing worker has been killed and another may probe.
PROBE_SECONDS = 30


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
        return _failed(challenge, EXPIRED, "")
    circuit = _breaker_record()
    if circuit is not None and not _may_probe(circuit):
        return _failed(challenge, _skipped_reason(circuit), _could_not_send())
    try:
        app = fcm_app()
    except (OSError, ValueError) as error:
        logger.error("FCM is not usable: %s: %s", type(error).__name__, error)
        return _failed(challenge, f"FCM credentials unusable ({type(error).__name__})", _could_not_send())
    try:
        messaging.send(_message(challenge, seconds_left), app=app)
    except messaging.UnregisteredError as error:
        # The app was uninstalled or its token rotated: sending again cannot succeed. This
        # phone's problem, not FCM's: FCM answered.
        _close(circuit)
        authenticator.needs_reregistration = True
        authenticator.save(update_fields=["needs_reregistration"])
        return _failed(challenge, _fcm_reason(error), failure_message(UNREGISTERED))
    except exceptions.FirebaseError as error:  # 503, quota, a timeout, a refused connection, ...
        if _fcm_unavailable(error):
            _open(circuit, _fcm_reason(error), _cool_off(error))
        else:  # an answer about this message or token (INVALID_ARGUMENT, ...): FCM is up
            _close(circuit)
        return _failed(challenge, _fcm_reason(error), _could_not_send())
    except GoogleAuthError as error:
        # The access token could not be obtained: RefreshError when the token endpoint said no,
        # TransportError when it could not be reached. firebase-admin wraps neither. Either
        # way no push can be sent: a transient failure (5xx, which google-auth already tried
        # three times, 1 s and 2 s apart) or a refused key (invalid_grant), which only an
        # operator can fix, and which no login should pay for again until then.
        _open(circuit, _oauth_reason(error), COOL_OFF_SECONDS)
        return _failed(challenge, _oauth_reason(error), _could_not_send())
    _close(circuit)
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


UNREGISTERED = f"FCM {messaging.UnregisteredError.__name__}"  # how _fcm_reason names it
SKIPPED = "FCM not tried"
EXPIRED = "challenge expired before sending"


def failure_message(transport_error: str) -> str:
    """Return what the login page says about a challenge whose delivery failed for this reason."""
    if not transport_error or transport_error == EXPIRED:
        return ""  # nothing to say: the page shows the request as expired
    if transport_error.startswith(UNREGISTERED):
        return _(
            "Your phone can no longer receive notifications for this login. Please open the "
            "authentication app to approve it; if this happens again, register the app again."
        )
    return _could_not_send()


def _could_not_send() -> str:
    return _(
        "The notification could not be sent to your phone. Please open the authentication app "
        "on your phone to approve this login."
    )


def _fcm_reason(error: exceptions.FirebaseError) -> str:
    status = getattr(error.http_response, "status_code", None)
    return f"FCM {type(error).__name__}" + (f" (HTTP {status})" if status else "")


def _fcm_unavailable(error: exceptions.FirebaseError) -> bool:
    # Timeouts and refused connections arrive as DeadlineExceededError and UnavailableError.
    # Not QUOTA_EXCEEDED (429), which may be one device's message rate, nor the 4xx answers
    # about one token (UNREGISTERED, INVALID_ARGUMENT, SENDER_ID_MISMATCH).
    status = getattr(error.http_response, "status_code", None) or 0
    unavailable = (exceptions.UnavailableError, exceptions.InternalError, exceptions.DeadlineExceededError)
    return isinstance(error, unavailable) or status >= 500


def _cool_off(error: exceptions.FirebaseError) -> int:
    # FCM asks for a pause in seconds (an HTTP-date, which it does not send, gets the default).
    response = error.http_response
    retry_after = response.headers.get("Retry-After", "").strip() if response is not None else ""
    if not retry_after.isdigit():
        return COOL_OFF_SECONDS
    return max(COOL_OFF_MIN_SECONDS, min(COOL_OFF_MAX_SECONDS, int(retry_after)))


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


# -- the circuit breaker ----------------------------------------------------------------


def _breaker_record() -> dict | None:
    """Return the breaker's record while FCM is held to be unavailable, None when closed."""
    return _cache_call("get", BREAKER_KEY)


def _may_probe(circuit: dict) -> bool:
    """After the cool-off, let one login (of every app server) try FCM again."""
    if time.time() < circuit["until"]:
        return False
    # One probe per cool-off: the key names this period, so a later period needs no cleaning.
    return _cache_call("add", f"{BREAKER_KEY}:probe:{circuit['until']}", 1, PROBE_SECONDS, failed=True)


def _open(circuit: dict | None, cause: str, seconds: int) -> None:
    now = time.time()
    # The record outlives its cool-off so that the next login finds the circuit half-open.
    record = {"since": circuit["since"] if circuit else now, "until": now + seconds, "cause": cause}
    if circuit is None:
        # The first failure opens it; sends that were already under way do not push it further.
        if _cache_call("add", BREAKER_KEY, record, seconds + COOL_OFF_MAX_SECONDS):
            logger.error("FCM unavailable (%s): no push notifications for %d s", cause, seconds)
    else:
        _cache_call("set", BREAKER_KEY, record, seconds + COOL_OFF_MAX_SECONDS)
        logger.error("FCM still unavailable (%s): no push notifications for %d s more", cause, seconds)


def _close(circuit: dict | None) -> None:
    if circuit is not None:
        _cache_call("delete", BREAKER_KEY)
        logger.warning("FCM available again: push notifications resume")


def _skipped_reason(circuit: dict) -> str:
    since = datetime.fromtimestamp(circuit["since"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{SKIPPED}: unavailable since {since} ({circuit['cause']})"


def _cache_call(method: str, *args, failed=None):
    """Call the cache; when it fails (Redis stopped), log and return `failed`: never fail a login."""
    try:
        return getattr(cache, method)(*args)
    except Exception as error:  # each backend raises its own: redis.ConnectionError, OSError, ...
        logger.warning("FCM circuit breaker without its cache (%s): sending as if closed", type(error).__name__)
        return failed
