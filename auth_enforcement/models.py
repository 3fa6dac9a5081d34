"""The second factor: credentials, users' bindings to them, mandates and the audit trail."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

import pyotp
from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, DeviceManager, ThrottlingMixin

from auth_enforcement import crypto
from auth_enforcement.editions import Edition

# RFC 6238 parameters every PC generator of the notice (SaAT Netizen, VIP Access Desktop)
# and every authenticator app supports.
TOTP_DIGITS = 6
TOTP_PERIOD = 30
# 160 bits, the HMAC-SHA1 block the RFC recommends (NIST SP 800-63B r4 §3.1.4.1: ≥ 112).
TOTP_SECRET_BYTES = 20
# ±1 time step for clock drift, not ±2 (r3 §5.1.5.2, ASVS 5.0 6.5.8).
TOTP_VALID_WINDOW = 1


class AuthenticatorQuerySet(models.QuerySet):
    def usable(self) -> AuthenticatorQuerySet:
        return self.filter(status=Authenticator.Status.ACTIVE)


class _VerifyAllowed:
    """The end of django-otp's verify_is_allowed() chain, as Device provides it."""

    def verify_is_allowed(self):
        return True, None


class Authenticator(ThrottlingMixin, _VerifyAllowed, models.Model):
    """A credential a person holds: a TOTP generator or a push app.

    Replay protection and lock-out live here, not on a user's binding, so that a code used
    in one edition cannot be used again in the other.
    """

    class Kind(models.TextChoices):
        TOTP = "totp", _("one-time password")
        PUSH = "push", _("one-push authentication")

    class Status(models.TextChoices):
        PENDING = "pending", _("enrollment started")
        # A bank-issued token imported from the vendor's PSKC file, not yet handed to anyone.
        STOCK = "stock", _("in stock at the bank")
        ACTIVE = "active", _("in use")
        REVOKED = "revoked", _("revoked")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    serial = models.CharField(_("serial"), max_length=20, unique=True)
    customer = models.ForeignKey(
        settings.JWEB_CUSTOMER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("customer"),
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    # Fernet token of the base32 seed (auth_enforcement.crypto); never shown after enrollment.
    secret_sealed = models.TextField(_("secret (encrypted)"), blank=True, editable=False)
    digits = models.PositiveSmallIntegerField(default=TOTP_DIGITS, editable=False)
    period = models.PositiveSmallIntegerField(default=TOTP_PERIOD, editable=False)
    # The last accepted TOTP time step: a code at this step or before is refused.
    last_step = models.BigIntegerField(_("last accepted time step"), null=True, blank=True, editable=False)
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    # Push (privacyIDEA PUSH v1). The one-time enrollment credential is kept only as a digest.
    enrollment_digest = models.CharField(max_length=64, blank=True, editable=False)
    enrollment_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    app_public_key = models.TextField(_("app public key"), blank=True, editable=False)
    # The server's own RSA key for this token, PEM, encrypted like the TOTP seeds.
    server_key_sealed = models.TextField(blank=True, editable=False)
    push_token = models.CharField(_("push token"), max_length=512, blank=True, editable=False)
    needs_reregistration = models.BooleanField(_("push token rejected by FCM"), default=False)
    decline_reason_capable = models.BooleanField(default=False, editable=False)
    push_blocked_until = models.DateTimeField(_("pushes blocked until"), null=True, blank=True)

    objects = AuthenticatorQuerySet.as_manager()

    class Meta:
        verbose_name = _("authenticator")
        verbose_name_plural = _("authenticators")
        permissions = [("unlock_authenticator", _("Can unlock a locked authenticator"))]

    def __str__(self) -> str:
        return f"{self.serial} ({self.get_kind_display()})"

    # -- creation -----------------------------------------------------------------------

    @classmethod
    def new_totp(cls, customer=None, secret: str | None = None, **fields) -> Authenticator:
        """Create a TOTP credential (pending unless told) with a fresh random seed."""
        secret = secret or pyotp.random_base32(length=TOTP_SECRET_BYTES * 8 // 5)
        return cls.objects.create(
            kind=cls.Kind.TOTP,
            serial=new_serial("JWT"),
            customer=customer,
            secret_sealed=crypto.seal(secret.encode()),
            **fields,
        )

    # -- TOTP arithmetic ----------------------------------------------------------------

    @property
    def totp_secret(self) -> str:
        """Return the base32 seed (only enrollment and verification need it)."""
        return crypto.unseal(self.secret_sealed).decode()

    def _totp(self) -> pyotp.TOTP:
        return pyotp.TOTP(self.totp_secret, digits=self.digits, interval=self.period)

    def provisioning_uri(self, label: str) -> str:
        """Return the otpauth:// URI for the QR code."""
        return self._totp().provisioning_uri(name=label, issuer_name=settings.JWEB_TOTP_ISSUER)

    def current_step(self, at: datetime | None = None) -> int:
        return self._totp().timecode(at or timezone.now())

    def step_of(self, code: str, steps) -> int | None:
        """Return the time step among `steps` whose code this is, or None."""
        totp = self._totp()
        for step in steps:
            if hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    # -- throttling and lock (state in the database: a restart resets nothing) --------------

    def get_throttle_factor(self) -> int:
        return settings.JWEB_THROTTLE_FACTOR

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    def verify_is_allowed(self):
        if self.is_locked:
            return False, {"error_message": locked_message()}
        if self.status != self.Status.ACTIVE:
            return False, {"error_message": _("This authenticator is no longer in use.")}
        return super().verify_is_allowed()

    def record_failure(self, *, delay: bool = True) -> None:
        """Count a wrong code; lock after the configured number in a row.

        `delay=False` counts without django-otp's growing wait: a wrong number tapped on the
        phone is not a guess the browser can repeat, and the right tap that follows a slip
        must not find the login held back.
        """
        if delay:
            self.throttle_increment(commit=False)
        else:
            self.throttling_failure_count += 1
        if self.throttling_failure_count >= settings.JWEB_LOCK_AFTER_FAILURES:
            self.locked_at = timezone.now()
        self.save(update_fields=["throttling_failure_count", "throttling_failure_timestamp", "locked_at"])

    def unlock(self) -> None:
        """Clear the lock and the failure count (bank staff)."""
        self.locked_at = None
        self.throttle_reset(commit=False)
        self.save(update_fields=["throttling_failure_count", "throttling_failure_timestamp", "locked_at"])

    def accept_code(self, code: str) -> bool:
        """Verify a TOTP code once; call with the row locked (select_for_update)."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        now = self.current_step()
        step = self.step_of(code, range(now - TOTP_VALID_WINDOW, now + TOTP_VALID_WINDOW + 1))
        if step is None or (self.last_step is not None and step <= self.last_step):
            self.record_failure()
            return False
        self.last_step = step
        self.throttle_reset(commit=False)
        self.save(update_fields=["last_step", "throttling_failure_count", "throttling_failure_timestamp"])
        return True


def new_serial(prefix: str) -> str:
    """Return a fresh display serial such as JWT482915307 (unique; retried on collision)."""
    while True:
        serial = f"{prefix}{secrets.randbelow(10**9):09d}"
        if not Authenticator.objects.filter(serial=serial).exists():
            return serial


def locked_message() -> str:
    return _(
        "This authenticator has been locked after too many wrong codes. Please call the help desk (%(phone)s) to "
        "unlock it."
    ) % {"phone": settings.JWEB_HELPDESK_PHONE}


class RegistrationQuerySet(models.QuerySet):
    def active(self) -> RegistrationQuerySet:
        return self.filter(revoked_at__isnull=True)

    def for_login(self, user) -> Registration | None:
        """Return the user's active registration with its authenticator, or None."""
        return self.active().filter(user=user).select_related("authenticator").first()


class RegistrationManager(DeviceManager.from_queryset(RegistrationQuerySet)):
    def devices_for_user(self, user, confirmed=None):
        """Offer django-otp and two_factor only the active registration."""
        return super().devices_for_user(user, confirmed).filter(revoked_at__isnull=True)


class Registration(Device):
    """A user's binding to an authenticator: a django-otp device, so two_factor drives it.

    A user has at most one active registration (a database constraint): TOTP and push can
    never be active together (the notice: 「併用できません」).
    """

    class Origin(models.TextChoices):
        SELF = "self", _("registered by the user")
        DOMESTIC_LINK = "domestic_link", _("linked from the domestic edition")
        BANK_ISSUED = "bank_issued", _("issued by the bank")

    authenticator = models.ForeignKey(
        Authenticator, models.PROTECT, related_name="registrations", verbose_name=_("authenticator")
    )
    origin = models.CharField(_("origin"), max_length=16, choices=Origin.choices, default=Origin.SELF)
    confirmed_at = models.DateTimeField(_("start of use"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = RegistrationManager()

    class Meta:
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")
        permissions = [("reset_registration", _("Can reset a user's second factor"))]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(revoked_at__isnull=True), name="one_active_registration_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.authenticator}"

    def save(self, *args, **kwargs) -> None:
        # two_factor's default_device() looks for the device named "default".
        self.name = "default"
        self.confirmed = self.revoked_at is None
        super().save(*args, **kwargs)

    @property
    def kind(self) -> str:
        return self.authenticator.kind

    def verify_is_allowed(self):
        return self.authenticator.verify_is_allowed()

    def verify_token(self, token) -> bool:
        """Accept a TOTP code, or a push approval of this login attempt, once.

        The credential row is locked, so two racing submissions cannot both pass.
        """
        from auth_enforcement.push import use_approval

        # No savepoint of its own: nothing here raises to be caught halfway, and the login
        # (django-otp's form, the login view) has one open around it already.
        with transaction.atomic(savepoint=False):
            authenticator = Authenticator.objects.select_for_update().get(pk=self.authenticator_id)
            allowed, _ = authenticator.verify_is_allowed()
            if not allowed:
                accepted = False
            elif authenticator.kind == Authenticator.Kind.TOTP:
                accepted = authenticator.accept_code(str(token))
            else:
                accepted = use_approval(authenticator.pk, str(token))
                if accepted and authenticator.throttling_failure_count:
                    authenticator.throttle_reset()  # wrong numbers before count no more (as codes)
        self.authenticator = authenticator
        return accepted


# What the server supports, advertised in every challenge so the app can say "not me".
CAPABILITIES = '{"decline_reason": true}'


class PushChallengeQuerySet(models.QuerySet):
    def open(self, at: datetime | None = None) -> PushChallengeQuerySet:
        """Challenges the phone may still answer."""
        return self.filter(status=PushChallenge.Status.PENDING, expires_at__gt=at or timezone.now())


class PushChallenge(models.Model):
    """One request to the phone: approve this login attempt (or this enrollment)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for the phone")
        APPROVED = "approved", _("approved")
        DENIED = "denied", _("declined")
        USED = "used", _("used")

    class Purpose(models.TextChoices):
        LOGIN = "login", _("login")
        ENROLLMENT = "enrollment", _("first approval of a new registration")
        REAUTH = "reauth", _("confirmation of the current factor")
        LINK = "link", _("start of use in the FX edition")

    authenticator = models.ForeignKey(Authenticator, models.CASCADE, related_name="challenges")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.LOGIN)
    # A random value kept in the browser's session: only that login attempt can use the approval.
    attempt = models.CharField(max_length=64, db_index=True)
    nonce = models.CharField(max_length=64, unique=True)
    number = models.CharField(_("number to match"), max_length=2, blank=True)
    options = models.CharField(max_length=32, blank=True)  # require_presence, e.g. "27,64,91"
    question = models.CharField(max_length=500)
    title = models.CharField(max_length=100)
    url = models.CharField(max_length=300)
    signature = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decline_reason = models.CharField(max_length=32, blank=True)
    wrong_answers = models.PositiveSmallIntegerField(default=0)
    transport_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    objects = PushChallengeQuerySet.as_manager()

    class Meta:
        verbose_name = _("push challenge")
        verbose_name_plural = _("push challenges")
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["authenticator", "status", "expires_at"], name="pushchallenge_open_idx"),
            models.Index(fields=["user", "created_at"], name="pushchallenge_rate_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.authenticator.serial} {self.status} {self.created_at:%H:%M:%S}"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    def wire_fields(self) -> dict[str, str]:
        """Return the challenge as the app receives it (by polling, or in an FCM message)."""
        fields = {
            "nonce": self.nonce,
            "question": self.question,
            "serial": self.authenticator.serial,
            "title": self.title,
            "sslverify": "1" if self.url.startswith("https://") else "0",
            "url": self.url,
            "signature": self.signature,
        }
        if self.options:
            fields["require_presence"] = self.options
        fields["capabilities"] = CAPABILITIES
        return fields


class MandatePolicyQuerySet(models.QuerySet):
    def for_edition(self, edition: str) -> MandatePolicy:
        """Return the edition's policy, created from the settings' default on first use."""
        policy = self.filter(edition=edition).first()
        if policy is None:
            policy, _ = self.get_or_create(
                edition=edition,
                defaults={
                    "effective_at": settings.JWEB_MANDATE_DEFAULTS[edition],
                    "warning_days": settings.JWEB_MANDATE_WARNING_DAYS,
                },
            )
        return policy


class MandatePolicy(models.Model):
    """From which instant an edition's users need a second factor to use the portal."""

    edition = models.CharField(_("edition"), max_length=16, choices=Edition.choices, unique=True)
    effective_at = models.DateTimeField(_("mandatory from"))
    warning_days = models.PositiveSmallIntegerField(_("warning period (days)"), default=60)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = MandatePolicyQuerySet.as_manager()

    class Meta:
        verbose_name = _("mandate policy")
        verbose_name_plural = _("mandate policies")

    def __str__(self) -> str:
        return f"{self.get_edition_display()}: {timezone.localtime(self.effective_at):%Y-%m-%d %H:%M %Z}"

    def in_force(self, at: datetime | None = None) -> bool:
        return (at or timezone.now()) >= self.effective_at

    def in_warning_period(self, at: datetime | None = None) -> bool:
        at = at or timezone.now()
        return self.effective_at - timedelta(days=self.warning_days) <= at < self.effective_at


def mandate_in_force(edition: str | None, at: datetime | None = None) -> bool:
    """Return whether a user of this edition needs a second factor now (bank staff always)."""
    if edition is None:
        return True
    return MandatePolicy.objects.for_edition(edition).in_force(at)


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit trail is append-only.")

    def delete(self):
        raise PermissionError("The audit trail is append-only.")


class AuthEvent(models.Model):
    """One line of the append-only audit trail. Never a password, code, secret or key."""

    class Kind(models.TextChoices):
        LOGIN_PASSWORD_OK = "login_password_ok", _("password accepted")
        LOGIN_FAILED = "login_failed", _("login failed")
        LOGIN_COMPLETED = "login_completed", _("login completed")
        FACTOR_OK = "factor_ok", _("second factor accepted")
        FACTOR_FAILED = "factor_failed", _("second factor refused")
        LOCKED = "locked", _("authenticator locked")
        UNLOCKED = "unlocked", _("authenticator unlocked")
        PASSWORD_LOCKED = "password_locked", _("account locked: too many wrong passwords")
        PASSWORD_UNLOCKED = "password_unlocked", _("account unlocked (password)")
        ENROLLMENT_STARTED = "enrollment_started", _("enrollment started")
        ENROLLED = "enrolled", _("enrollment completed")
        ENROLLMENT_FAILED = "enrollment_failed", _("enrollment code refused")
        MANDATE_CHANGED = "mandate_changed", _("mandate changed")
        POSTPONED = "postponed", _("registration postponed")
        PUSH_SENT = "push_sent", _("push request sent")
        PUSH_RATE_LIMITED = "push_rate_limited", _("push request refused: too many")
        PUSH_WRONG_NUMBER = "push_wrong_number", _("push approved with a wrong number")
        PUSH_DECLINED = "push_declined", _("push request declined")
        PUSH_NOT_ME = "push_not_me", _("push declined as not me")
        PUSH_ROLLED_OUT = "push_rolled_out", _("smartphone app registered its key")
        PUSH_NOT_DELIVERED = "push_not_delivered", _("push notification could not be sent")
        METHOD_SWITCHED = "method_switched", _("method switched")
        REAUTHENTICATED = "reauthenticated", _("current factor confirmed again")
        LINKED = "linked", _("domestic credential linked (start of use)")
        LINK_FAILED = "link_failed", _("start of use refused")
        UNLINKED = "unlinked", _("FX binding removed")
        LOST = "lost", _("authenticator reported lost")
        RESET = "reset", _("second factor reset by the bank or the service manager")
        TOKENS_IMPORTED = "tokens_imported", _("bank-issued tokens imported")
        USER_VIEWED = "user_viewed", _("user card viewed by bank staff")
        AUDIT_EXPORTED = "audit_exported", _("audit trail exported")
        ADMIN_ACTION = "admin_action", _("change in the admin site")
        HANDLED = "handled", _("help desk case handled")
        LOGOUT = "logout", _("logout")

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    kind = models.CharField(_("event"), max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("actor")
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("subject")
    )
    edition = models.CharField(_("edition"), max_length=16, choices=Edition.choices, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("authentication event")
        verbose_name_plural = _("authentication events")
        ordering = ["-at"]
        permissions = [("export_authevent", _("Can export the audit trail"))]
        indexes = [
            models.Index(fields=["subject", "-at"], name="authevent_subject_idx"),
            # The help desk's queue: not-me denials and locks of the last days.
            models.Index(fields=["kind", "-at"], name="authevent_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionError("The audit trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit trail is append-only.")
