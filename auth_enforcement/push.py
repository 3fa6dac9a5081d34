"""Use cases of one-push authentication: enrollment, rollout, challenges, answers, polling."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlencode, urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import FilteredRelation, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from auth_enforcement import crypto, pushproto
from auth_enforcement.flows import allow_switch, bind, customer_of, record, verify_session
from auth_enforcement.models import (
    CAPABILITIES,
    Authenticator,
    AuthEvent,
    PushChallenge,
    Registration,
    locked_message,
    new_serial,
)

NOT_ME = "unknown_trigger"
MAX_WRONG_NUMBERS = 2
# The pushes anybody holding a password can have sent to a phone (not the first approval of
# an enrollment, which the phone's own holder starts).
RATE_LIMITED = (PushChallenge.Purpose.LOGIN, PushChallenge.Purpose.LINK, PushChallenge.Purpose.REAUTH)
DECLINE_REASONS = {NOT_ME, "cancelled"}


def device_api_url(request: HttpRequest | None) -> str:
    """Return the device API's URL as the phone must reach it, and as it re-parses it to sign.

    The app signs over the URL after parsing it again: lower-case scheme and host, no
    default port, no escapes — anything else and it drops every challenge.
    """
    path = reverse("auth_enforcement:device-push")
    base = urlsplit(settings.JWEB_PUBLIC_URL or request.build_absolute_uri("/"))
    scheme, host, port = base.scheme.lower(), (base.hostname or "").lower(), base.port
    default = {"https": 443, "http": 80}.get(scheme)
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}"


# -- enrollment -------------------------------------------------------------------------


@dataclass
class PushEnrollment:
    authenticator: Authenticator
    qr_uri: str


def start_push_enrollment(request: HttpRequest) -> PushEnrollment:
    """Create a pending push token with its own server key and a one-time enrollment credential."""
    credential = secrets.token_hex(20)  # 160 bits (≥ 112: r4 §4.1.2.2), single use, ≤ 10 minutes
    key = pushproto.generate_key()
    authenticator = Authenticator.objects.create(
        kind=Authenticator.Kind.PUSH,
        serial=new_serial("JWP"),
        customer=customer_of(request.user),
        server_key_sealed=crypto.seal(pushproto.private_key_to_pem(key)),
        enrollment_digest=_digest(credential),
        enrollment_expires_at=timezone.now() + timedelta(seconds=settings.JWEB_PUSH_ENROLLMENT_SECONDS),
    )
    url = device_api_url(request)
    query = urlencode(
        {
            "url": url,
            "ttl": settings.JWEB_PUSH_ENROLLMENT_SECONDS // 60,
            "issuer": settings.JWEB_TOTP_ISSUER,
            "enrollment_credential": credential,
            "v": 1,
            "serial": authenticator.serial,
            "sslverify": 1 if url.startswith("https://") else 0,
            "poll_only": settings.JWEB_PUSH_TRANSPORT == "poll",
        },
        safe="/",  # as the peer writes it: http%3A//host%3Aport/…
    )
    qr_uri = f"otpauth://pipush/{quote(request.user.login_id)}?{query}"
    record(AuthEvent.Kind.ENROLLMENT_STARTED, request, method="push", serial=authenticator.serial)
    return PushEnrollment(authenticator, qr_uri)


def _digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


class ProtocolError(Exception):
    """A device API request that is refused; changes nothing. `code` follows the peer's shape."""

    def __init__(self, message: str, code: int = 10, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def roll_out(serial: str, credential: str, push_token: str, public_key: str, capabilities: str) -> Authenticator:
    """Second enrollment step: the app sends its public key with the one-time credential."""
    key = pushproto.load_app_public_key(public_key)
    if key is None:
        raise ProtocolError("pubkey is not an RSA-4096 public key")
    with transaction.atomic():
        authenticator = (
            Authenticator.objects.select_for_update()
            .filter(serial=serial, kind=Authenticator.Kind.PUSH, status=Authenticator.Status.PENDING)
            .first()
        )
        valid = (
            authenticator is not None
            and authenticator.enrollment_digest
            and hmac.compare_digest(authenticator.enrollment_digest, _digest(credential))
            and timezone.now() < authenticator.enrollment_expires_at
        )
        if not valid:
            raise ProtocolError("unknown serial or invalid enrollment credential", code=905)
        authenticator.enrollment_digest = ""  # single use
        authenticator.app_public_key = pushproto.app_public_key_text(key)
        authenticator.push_token = "" if push_token in ("", "no_firebase_token") else push_token[:512]
        authenticator.decline_reason_capable = "decline_reason" in (capabilities or "")
        authenticator.save()
    return authenticator


def server_public_key(authenticator: Authenticator) -> str:
    return pushproto.public_key_for_app(_server_key(authenticator))


def _server_key(authenticator: Authenticator):
    return pushproto.private_key_from_pem(crypto.unseal(authenticator.server_key_sealed))


# -- challenges -------------------------------------------------------------------------


class PushRefusedError(Exception):
    """No push was sent: the reason is a message for the user."""


def _question(request: HttpRequest, user, purpose: str) -> str:
    when = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    agent = browser_summary(request.headers.get("User-Agent", ""))
    context = {
        "edition": user.get_edition_display() if user.edition else _("the JWEBOFFICE bank staff site"),
        "login_id": user.login_id,
        "time": when,
        "ip": request.META.get("REMOTE_ADDR", "?"),
        "browser": agent,
    }
    if purpose == PushChallenge.Purpose.LINK:
        return _("Start using this app in the FX edition for user %(login_id)s? (%(time)s JST)") % context
    if purpose == PushChallenge.Purpose.ENROLLMENT:
        return _("Confirm the registration of this app for %(edition)s, user %(login_id)s (%(time)s JST)") % context
    return (
        _("Log in to %(edition)s as %(login_id)s? %(time)s JST, from %(ip)s, %(browser)s. Not you? Decline.") % context
    )


_BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("Linux", "Linux"),
)


def browser_summary(user_agent: str) -> str:
    """Name the browser and system from known words only: the User-Agent is the caller's text,
    and the question is shown, signed by the bank, on the user's phone."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), "?")
    system = next((name for token, name in _SYSTEMS if token in user_agent), "?")
    return f"{browser} / {system}"


def _number_and_options() -> tuple[str, str]:
    if not settings.JWEB_PUSH_NUMBER_MATCHING:
        return "", ""
    numbers: list[int] = []
    while len(numbers) < 3:
        candidate = 10 + secrets.randbelow(90)
        if candidate not in numbers:
            numbers.append(candidate)
    right = str(numbers[0])
    secrets.SystemRandom().shuffle(numbers)
    return right, ",".join(str(n) for n in numbers)


def send_challenge(request: HttpRequest, user, authenticator: Authenticator, attempt: str, purpose: str):
    """Create, sign and send one challenge; refuse when the user is rate-limited or blocked."""
    from auth_enforcement import transport  # the FCM machinery loads only when a push is sent

    now = timezone.now()
    if authenticator.is_locked:
        raise PushRefusedError(locked_message())  # an approval could not log in: no push for nothing
    if authenticator.push_blocked_until and authenticator.push_blocked_until > now:
        raise PushRefusedError(
            _(
                "Push requests are paused because a login was reported as not yours. "
                "Please call the help desk (%(phone)s)."
            )
            % {"phone": settings.JWEB_HELPDESK_PHONE}
        )
    # Rate limit per phone (MFA fatigue, rule 7), counted in the database, so no restart or
    # second server resets it. It guards against the pushes a stranger with a password can
    # trigger, whoever they log in as: logins in either edition, a start of use naming the
    # credential, a confirmation before switching method. Counted together.
    if purpose in RATE_LIMITED and (
        PushChallenge.objects.filter(
            authenticator=authenticator,
            purpose__in=RATE_LIMITED,
            created_at__gte=now - timedelta(seconds=settings.JWEB_PUSH_WINDOW_SECONDS),
        ).count()
        >= settings.JWEB_PUSH_MAX_PER_WINDOW
    ):
        record(
            AuthEvent.Kind.PUSH_RATE_LIMITED,
            request,
            subject=user,
            actor=user,
            serial=authenticator.serial,
            purpose=purpose,
        )
        raise PushRefusedError(_("Too many push requests. Please wait a few minutes before sending another."))
    number, options = _number_and_options()
    with translation.override(translation.get_language()):
        question = _question(request, user, purpose)
    challenge = PushChallenge(
        authenticator=authenticator,
        user=user,
        purpose=purpose,
        attempt=attempt,
        nonce=pushproto.new_nonce(),
        number=number,
        options=options,
        question=question,
        title="JWEBOFFICE",
        url=device_api_url(request),
        expires_at=now + timedelta(seconds=settings.JWEB_PUSH_CHALLENGE_SECONDS),
    )
    fields = challenge.wire_fields()
    challenge.signature = pushproto.sign(
        _server_key(authenticator),
        pushproto.challenge_message(
            fields["nonce"],
            fields["url"],
            fields["serial"],
            fields["question"],
            fields["title"],
            fields["sslverify"],
            options,
        ),
    )
    challenge.save()
    record(AuthEvent.Kind.PUSH_SENT, request, subject=user, actor=user, serial=authenticator.serial, purpose=purpose)
    delivery = transport.deliver(challenge)
    if delivery.error:
        record(
            AuthEvent.Kind.PUSH_NOT_DELIVERED,
            request,
            subject=user,
            actor=user,
            serial=authenticator.serial,
            error=delivery.error,
        )
    return challenge, delivery


def new_attempt() -> str:
    """Return a fresh login-attempt binding, kept in the browser's session only."""
    return secrets.token_urlsafe(32)


# -- the phone's side (device API) ------------------------------------------------------


def poll(serial: str, timestamp: str, signature: str) -> list[dict[str, str]]:
    """Return the open challenges of a token: one indexed query, no write."""
    stamp = pushproto.parse_timestamp(timestamp)
    now = timezone.now()
    if stamp is None or abs((now - stamp).total_seconds()) > 60:
        raise ProtocolError("timestamp missing or more than 60 s off", code=905)
    rows = list(
        Authenticator.objects.filter(
            serial=serial,
            kind=Authenticator.Kind.PUSH,
            status__in=[Authenticator.Status.ACTIVE, Authenticator.Status.PENDING],
        )
        .exclude(app_public_key="")
        .annotate(
            open=FilteredRelation(
                "challenges",
                condition=Q(challenges__status=PushChallenge.Status.PENDING, challenges__expires_at__gt=now),
            )
        )
        .values(
            "app_public_key",
            "open__nonce",
            "open__question",
            "open__title",
            "open__url",
            "open__signature",
            "open__options",
        )
    )
    # One answer for an unknown serial and a bad signature: a poll must not reveal which serials exist.
    key = pushproto.load_app_public_key(rows[0]["app_public_key"]) if rows else None
    if key is None or not pushproto.verify(key, signature, pushproto.poll_message(serial, timestamp)):
        raise ProtocolError("unknown serial or signature does not match", code=905)
    challenges = []
    for row in rows:
        if row["open__nonce"] is None:
            continue
        fields = {
            "nonce": row["open__nonce"],
            "question": row["open__question"],
            "serial": serial,
            "title": row["open__title"],
            "sslverify": "1" if row["open__url"].startswith("https://") else "0",
            "url": row["open__url"],
            "signature": row["open__signature"],
            "capabilities": CAPABILITIES,
        }
        if row["open__options"]:
            fields["require_presence"] = row["open__options"]
        challenges.append(fields)
    return challenges


@dataclass
class Answer:
    accepted: bool
    challenge: PushChallenge


def answer(nonce: str, serial: str, signature: str, presence: str, decline: bool, reason: str) -> Answer:
    """Record the phone's signed accept or decline; a wrong number leaves the challenge open."""
    with transaction.atomic():
        # The credential first, then the challenge: the order in which the login locks them.
        authenticator = Authenticator.objects.select_for_update().filter(serial=serial).first()
        challenge = (
            PushChallenge.objects.select_for_update()
            .select_related("user")
            .filter(nonce=nonce, authenticator=authenticator)
            .first()
            if authenticator is not None
            else None
        )
        if challenge is None:
            raise ProtocolError("unknown challenge", code=905)
        challenge.authenticator = authenticator
        key = pushproto.load_app_public_key(authenticator.app_public_key)
        message = (
            pushproto.decline_message(nonce, serial, reason)
            if decline
            else pushproto.accept_message(nonce, serial, presence)
        )
        if key is None or not pushproto.verify(key, signature, message):
            raise ProtocolError("signature does not match", code=905)
        if challenge.status != PushChallenge.Status.PENDING or challenge.is_expired:
            raise ProtocolError("challenge is no longer open", code=905)
        if decline:
            challenge.status = PushChallenge.Status.DENIED
            # Signed over as sent; only the reasons we know are kept ("other" for the rest).
            challenge.decline_reason = reason if reason in DECLINE_REASONS or not reason else "other"
        elif challenge.number and not hmac.compare_digest(presence.encode(), challenge.number.encode()):
            # A slip stays open; trying the options one by one does not: with three on
            # offer, a second wrong number closes the request.
            challenge.wrong_answers += 1
            update = ["wrong_answers"]
            if challenge.wrong_answers >= MAX_WRONG_NUMBERS:
                challenge.status, challenge.decline_reason = PushChallenge.Status.DENIED, "wrong_number"
                update += ["status", "decline_reason"]
            challenge.save(update_fields=update)
            # A wrong number is a failed attempt of the credential, like a wrong code (rule 4):
            # it counts towards the lock, which no new request resets.
            was_locked = authenticator.is_locked
            authenticator.record_failure(delay=False)
            record(
                AuthEvent.Kind.PUSH_WRONG_NUMBER, None, subject=challenge.user, serial=serial, closed=len(update) > 1
            )
            if authenticator.is_locked and not was_locked:
                record(AuthEvent.Kind.LOCKED, None, subject=challenge.user, serial=serial)
            return Answer(False, challenge)
        else:
            challenge.status = PushChallenge.Status.APPROVED
        challenge.answered_at = timezone.now()
        challenge.save(update_fields=["status", "decline_reason", "answered_at"])
    if decline:
        _declined(challenge)
    return Answer(True, challenge)


def _declined(challenge: PushChallenge) -> None:
    user, serial = challenge.user, challenge.authenticator.serial
    record(AuthEvent.Kind.PUSH_DECLINED, None, subject=user, serial=serial, reason=challenge.decline_reason or "none")
    if challenge.decline_reason != NOT_ME:
        return
    # "Not me": somebody else has the password. Stop pushes for a while and tell the user.
    until = timezone.now() + timedelta(seconds=settings.JWEB_PUSH_NOT_ME_BLOCK_SECONDS)
    Authenticator.objects.filter(pk=challenge.authenticator_id).update(push_blocked_until=until)
    record(AuthEvent.Kind.PUSH_NOT_ME, None, subject=user, serial=serial, blocked_until=until.isoformat())


def update_push_token(serial: str, new_token: str, timestamp: str, signature: str) -> None:
    """Store the app's new FCM token, signed by the app, within ±5 minutes."""
    stamp = pushproto.parse_timestamp(timestamp)
    if stamp is None or abs((timezone.now() - stamp).total_seconds()) > 300:
        raise ProtocolError("timestamp missing or more than 5 minutes off", code=905)
    with transaction.atomic():
        authenticator = (
            Authenticator.objects.select_for_update()
            .filter(serial=serial, kind=Authenticator.Kind.PUSH, status=Authenticator.Status.ACTIVE)
            .first()
        )
        key = pushproto.load_app_public_key(authenticator.app_public_key) if authenticator else None
        message = pushproto.token_update_message(new_token, serial, timestamp)
        if key is None or not pushproto.verify(key, signature, message):
            raise ProtocolError("unknown serial or signature does not match", code=905)
        authenticator.push_token = new_token[:512]
        authenticator.needs_reregistration = False
        authenticator.save(update_fields=["push_token", "needs_reregistration"])


# -- the browser's side of a push login or enrollment ------------------------------------

PUSH_LOGIN = "jweb_push"  # session: {"attempt": …, "user": pk} of the login or enrollment waiting


@dataclass
class Waiting:
    """What the waiting page shows: the challenge (with its number) or why none was sent."""

    challenge: PushChallenge | None
    message: str = ""
    # A page that looks like any other wait though no push was sent (see start_of_use).
    decoy_number: str = ""

    @property
    def shown(self) -> bool:
        return self.challenge is not None or self.decoy_number != ""

    @property
    def number(self) -> str:
        return self.challenge.number if self.challenge else self.decoy_number

    @property
    def poll_only(self) -> bool:
        return not self.challenge.authenticator.push_token if self.challenge else True

    @property
    def purpose(self) -> str:
        return self.challenge.purpose if self.challenge else PushChallenge.Purpose.LINK


def decoy() -> Waiting:
    """A wait for a push that was never sent, indistinguishable from one the owner ignores."""
    number, _ = _number_and_options()
    return Waiting(None, decoy_number=number or "-")


def start_waiting(request: HttpRequest, user, authenticator: Authenticator, purpose: str, resend: bool = False):
    """Send a push bound to this browser session's attempt; a page shown again shows the same one.

    Only "send again" sends another: re-rendering the page (a reload, a premature
    "I have approved it") must not send pushes of its own.
    """
    state = request.session.get(PUSH_LOGIN)
    latest = None
    if state and state.get("user") == user.pk and state.get("purpose") == purpose:
        latest = PushChallenge.objects.filter(attempt=state["attempt"], authenticator=authenticator).last()
    if latest is None or latest.status == PushChallenge.Status.USED:
        state = {"attempt": new_attempt(), "user": user.pk, "purpose": purpose}
        request.session[PUSH_LOGIN] = state
    elif not resend:
        return Waiting(latest, _delivery_message(latest))
    try:
        challenge, delivery = send_challenge(request, user, authenticator, state["attempt"], purpose)
    except PushRefusedError as refusal:
        return Waiting(None, str(refusal))
    return Waiting(challenge, delivery.user_message)


def _delivery_message(challenge: PushChallenge) -> str:
    """Say again why no notification rang: the page shown again must not lose the alert."""
    if not challenge.transport_error:
        return ""
    from auth_enforcement import transport  # only when a send failed: firebase-admin is heavy

    return transport.failure_message(challenge.transport_error)


def waiting_status(request: HttpRequest) -> str:
    """Return pending, approved, denied, expired or none for this session's latest challenge."""
    state = request.session.get(PUSH_LOGIN)
    if not state:
        return "none"
    challenge = PushChallenge.objects.filter(attempt=state["attempt"]).order_by("-created_at").first()
    if challenge is None:
        return "none"
    if challenge.status == PushChallenge.Status.PENDING and challenge.is_expired:
        return "expired"
    return challenge.status


def consume_approval(attempt: str, purpose: str, authenticator_id: int | None = None) -> bool:
    """Turn this attempt's approved, unexpired challenge into used, once.

    One UPDATE … WHERE status = 'approved': of two racing requests only one changes a row.
    """
    approved = PushChallenge.objects.filter(
        attempt=attempt, purpose=purpose, status=PushChallenge.Status.APPROVED, expires_at__gt=timezone.now()
    )
    if authenticator_id is not None:
        approved = approved.filter(authenticator_id=authenticator_id)
    return approved.update(status=PushChallenge.Status.USED) > 0


def use_approval(authenticator_id: int, attempt: str) -> bool:
    """Consume the approved challenge of this login attempt, once."""
    return consume_approval(attempt, PushChallenge.Purpose.LOGIN, authenticator_id)


# -- enrollment in the browser -----------------------------------------------------------

PUSH_ENROLLING = "jweb_push_enrolling"  # session: {"id": pending push authenticator, "at": time}


def pending_push_enrollment(request: HttpRequest) -> Authenticator | None:
    """Return this session's push token being enrolled, while its time limit lasts."""
    state = request.session.get(PUSH_ENROLLING)
    if not state or time.time() - state["at"] > settings.JWEB_PUSH_ENROLLMENT_SECONDS:
        return None
    return Authenticator.objects.filter(
        pk=state["id"],
        kind=Authenticator.Kind.PUSH,
        status__in=[Authenticator.Status.PENDING, Authenticator.Status.ACTIVE],
    ).first()


def begin_push_enrollment(request: HttpRequest) -> PushEnrollment:
    """Start a push enrollment for this session, voiding the one it showed before."""
    previous = request.session.get(PUSH_ENROLLING)
    if previous:
        Authenticator.objects.filter(pk=previous["id"], status=Authenticator.Status.PENDING).update(
            status=Authenticator.Status.REVOKED, enrollment_digest="", revoked_at=timezone.now()
        )
    enrollment = start_push_enrollment(request)
    request.session[PUSH_ENROLLING] = {"id": enrollment.authenticator.pk, "at": int(time.time())}
    return enrollment


def push_enrollment_status(request: HttpRequest) -> str:
    """Return waiting (for the app), rolled_out, pending, denied, expired or done."""
    authenticator = pending_push_enrollment(request)
    if authenticator is None:
        return "expired"
    if not authenticator.app_public_key:
        return "waiting"
    status = waiting_status(request)
    if status == PushChallenge.Status.APPROVED:
        return "done" if confirm_push_enrollment(request, authenticator) else "expired"
    return "rolled_out" if status == "none" else status


def confirm_push_enrollment(request: HttpRequest, authenticator: Authenticator) -> Registration | None:
    """Bind the approved token to the user; this browser session has then proved it."""
    attempt = request.session[PUSH_LOGIN]["attempt"]
    with transaction.atomic():
        # The credential's row first, then the challenge's (as answer() takes them): a phone
        # answering again meanwhile waits instead of deadlocking.
        authenticator = Authenticator.objects.select_for_update().get(pk=authenticator.pk)
        if not consume_approval(attempt, PushChallenge.Purpose.ENROLLMENT, authenticator.pk):
            return None
        authenticator.status = Authenticator.Status.ACTIVE
        authenticator.save(update_fields=["status"])
        registration = bind(request, authenticator)
    verify_session(request, registration)
    record(AuthEvent.Kind.ENROLLED, request, method="push", serial=authenticator.serial)
    return registration


def reauth_status(request: HttpRequest) -> str:
    """Return the state of the push re-proof before a switch; on approval, allow the switch."""
    status = waiting_status(request)
    if status != PushChallenge.Status.APPROVED:
        return status
    if not consume_approval(request.session[PUSH_LOGIN]["attempt"], PushChallenge.Purpose.REAUTH):
        return "expired"
    request.session.pop(PUSH_LOGIN, None)
    allow_switch(request, Registration.objects.for_login(request.user))
    return "done"
