"""Customers, their contracts per edition, and the people who log in."""

from __future__ import annotations

import unicodedata

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Prefetch, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from auth_enforcement.editions import BANK_ENTRANCE, ENTRANCES, Edition  # noqa: F401 (re-exported)

validate_login_id = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{2,31}$",
    _("A user ID is 3 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit."),
)
validate_digits = RegexValidator(r"^[0-9]+$", _("Enter digits only."))
# Company names in kana: full-width katakana, the long vowel mark, spaces and the usual
# punctuation of registered names (株式会社 is written カ) etc.).
validate_kana = RegexValidator(r"^[\u30A0-\u30FF\u3000 ()（）・.,ー-]+$", _("Enter the name in full-width katakana."))


# The bank writes kana names as its transfer records do (全銀協): small kana as large ones,
# ジヨウヨウ for ジョウヨウ. Names are stored so, and searches fold what staff type the same way.
_LARGE_KANA = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")


def fold_kana(text: str) -> str:
    """Return katakana with small kana written large (ジョウヨウ → ジヨウヨウ)."""
    return text.translate(_LARGE_KANA)


def normalize_login_id(raw: str) -> str:
    """Return the canonical form of a typed user ID (full-width to ASCII, lower case)."""
    # Japanese IMEs often type full-width letters and digits (ｔａｒｏ０１); NFKC folds them.
    return unicodedata.normalize("NFKC", raw).strip().lower()


def account_key(entrance: str, login_id: str) -> str:
    """Return the internal unique key of the account a login ID names at an entrance."""
    return f"{entrance}:{normalize_login_id(login_id)}"


class Customer(models.Model):
    """A corporate customer of the bank (法人顧客)."""

    name = models.CharField(_("company name"), max_length=200)
    kana = models.CharField(_("company name (kana)"), max_length=200, validators=[validate_kana])
    cif_number = models.CharField(_("CIF number"), max_length=10, unique=True, validators=[validate_digits])
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["kana"]
        indexes = [models.Index(fields=["kana"], name="customer_kana_idx")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.kana = fold_kana(self.kana)
        super().save(*args, **kwargs)


class ContractQuerySet(models.QuerySet):
    def active(self) -> ContractQuerySet:
        return self.filter(status=Contract.Status.ACTIVE)


class Contract(models.Model):
    """A customer's contract for one edition of JWEBOFFICE."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")
        CANCELLED = "cancelled", _("cancelled")

    customer = models.ForeignKey(Customer, models.PROTECT, related_name="contracts", verbose_name=_("customer"))
    edition = models.CharField(_("edition"), max_length=16, choices=Edition.choices)
    contract_number = models.CharField(_("contract number"), max_length=20, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    objects = ContractQuerySet.as_manager()

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["contract_number"]

    def __str__(self) -> str:
        return f"{self.contract_number} ({self.get_edition_display()})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class UserQuerySet(models.QuerySet):
    def customers(self) -> UserQuerySet:
        """Users of corporate customers (not bank staff)."""
        return self.filter(contract__isnull=False)

    def managed_by(self, manager: User) -> UserQuerySet:
        """The users a service manager sees: their own contract's, nobody else's."""
        if manager.role != User.Role.MANAGER or manager.contract_id is None:
            return self.none()
        return self.filter(contract_id=manager.contract_id)

    def with_factor(self) -> UserQuerySet:
        """Load each user's active registration and credential with one query for the lot."""
        from auth_enforcement.models import Registration

        return self.prefetch_related(
            Prefetch(
                "registration_set",
                queryset=Registration.objects.active().select_related("authenticator"),
                to_attr="active_registrations",
            )
        )


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def create_user(self, login_id: str, password: str | None = None, *, contract: Contract | None = None, **fields):
        """Create a customer user (with a contract) or a bank staff member (without)."""
        user = self.model(login_id=login_id, contract=contract, **fields)
        user.set_password(password)
        user.full_clean(exclude=["password", "account_key"])
        user.save(using=self._db)
        return user

    def create_superuser(self, account_key: str, password: str | None = None, **fields):
        """Create a bank administrator; `createsuperuser` asks for the staff login ID."""
        fields.setdefault("name", account_key)
        return self.create_user(account_key, password, is_staff=True, is_superuser=True, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: a customer's service manager or staff, or a bank employee."""

    class Role(models.TextChoices):
        MANAGER = "manager", _("service manager")
        STAFF = "staff", _("staff")

    # Django wants one unique username column; the person types only the login ID and the
    # entrance supplies the edition, so the key is "<edition>:<login ID>" ("bank:<ID>").
    account_key = models.CharField(_("account key"), max_length=64, unique=True, editable=False)
    login_id = models.CharField(_("user ID"), max_length=32, validators=[validate_login_id])
    contract = models.ForeignKey(
        Contract, models.PROTECT, null=True, blank=True, related_name="users", verbose_name=_("contract")
    )
    # Copied from the contract on save: the database can only enforce "unique within an
    # edition" on a column of this table.
    edition = models.CharField(  # noqa: DJ001 - NULL, not "", so bank staff escape the per-edition constraint
        _("edition"), max_length=16, choices=Edition.choices, null=True, editable=False
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, blank=True)
    can_approve = models.BooleanField(_("approval permission"), default=False)
    name = models.CharField(_("name"), max_length=100)
    email = models.EmailField(_("e-mail address"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("bank staff (admin site)"), default=False)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # Part of the session hash: raising it ends every session of the user at their next request.
    session_epoch = models.PositiveIntegerField(default=0, editable=False)
    # Wrong passwords in a row, and when they locked the account (security rule 4).
    # db_default too: the benchmarks insert users with SQL (generate_series).
    password_failures = models.PositiveIntegerField(
        _("wrong passwords in a row"), default=0, db_default=0, editable=False
    )
    password_locked_at = models.DateTimeField(_("password locked at"), null=True, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "account_key"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["account_key"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "login_id"], name="user_login_id_unique_per_edition"),
            models.UniqueConstraint(
                fields=["login_id"], condition=Q(edition__isnull=True), name="bank_staff_login_id_unique"
            ),
            # A customer user belongs to a contract and so to its edition; bank staff to neither.
            models.CheckConstraint(
                condition=Q(contract__isnull=True, edition__isnull=True)
                | Q(contract__isnull=False, edition__isnull=False),
                name="user_edition_iff_contract",
            ),
            # Customers have a role and never reach the admin site; bank staff have no role.
            models.CheckConstraint(
                condition=Q(contract__isnull=True, role="")
                | Q(contract__isnull=False, role__in=["manager", "staff"], is_staff=False),
                name="user_role_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["login_id"], name="user_login_id_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.login_id})"

    def clean_fields(self, exclude=None) -> None:
        self.login_id = normalize_login_id(self.login_id or "")
        super().clean_fields(exclude)

    def clean(self) -> None:
        super().clean()
        self._derive_keys()
        # Checked here too because forms leave the derived columns out of their own checks.
        if User.objects.exclude(pk=self.pk).filter(account_key=self.account_key).exists():
            raise ValidationError({"login_id": _("This user ID is already taken.")})

    def save(self, *args, **kwargs) -> None:
        self._derive_keys()
        super().save(*args, **kwargs)

    def _derive_keys(self) -> None:
        self.login_id = normalize_login_id(self.login_id or "")
        self.edition = self.contract.edition if self.contract_id else None
        self.account_key = account_key(self.entrance, self.login_id)

    normalize_login_id = staticmethod(normalize_login_id)

    def _get_session_auth_hash(self, secret=None) -> str:
        # Django checks this on every request (no extra query: the user row is loaded anyway).
        key_salt = "jweboffice.contracts.models.User.get_session_auth_hash"
        return salted_hmac(
            key_salt, f"{self.password}|{self.session_epoch}", secret=secret, algorithm="sha256"
        ).hexdigest()

    def record_password_failure(self, limit: int) -> bool:
        """Count a wrong password; at `limit` in a row, lock. Return True if this one locked the account."""
        User.objects.filter(pk=self.pk).update(password_failures=F("password_failures") + 1)
        # The row lock orders concurrent guesses: exactly one of them sets the time.
        return bool(
            User.objects.filter(pk=self.pk, password_locked_at__isnull=True, password_failures__gte=limit).update(
                password_locked_at=timezone.now()
            )
        )

    def passed_password_check(self) -> bool:
        """After a right password: False if the account is locked now, else forget earlier failures.

        Asked after the hash, of the row as it is then: guesses sent side by side may have
        locked it while this one was hashed (the row read before the hash would not say so).
        """
        if self.password_failures:
            # One statement checks and resets; it never lifts a lock.
            return bool(User.objects.filter(pk=self.pk, password_locked_at__isnull=True).update(password_failures=0))
        return not User.objects.filter(pk=self.pk, password_locked_at__isnull=False).exists()

    def clear_password_failures(self) -> bool:
        """Forget the wrong passwords and lift the lock; return True if the account was locked."""
        was_locked = User.objects.filter(pk=self.pk, password_locked_at__isnull=False).exists()
        User.objects.filter(pk=self.pk).update(password_failures=0, password_locked_at=None)
        self.password_failures, self.password_locked_at = 0, None
        return was_locked

    @property
    def password_locked(self) -> bool:
        return self.password_locked_at is not None

    def end_sessions(self) -> None:
        """End every session of this user, on every server, at its next request."""
        User.objects.filter(pk=self.pk).update(session_epoch=F("session_epoch") + 1)

    @property
    def entrance(self) -> str:
        """Return where this user signs in: the contract's edition, or the bank entrance."""
        return self.edition or BANK_ENTRANCE

    @property
    def is_bank_staff(self) -> bool:
        return self.contract_id is None

    @property
    def customer(self) -> Customer | None:
        return self.contract.customer if self.contract_id else None

    @property
    def factor(self):
        """Return the active registration (with its credential), or None."""
        from auth_enforcement.models import Registration

        if hasattr(self, "active_registrations"):  # loaded by UserQuerySet.with_factor()
            return self.active_registrations[0] if self.active_registrations else None
        return Registration.objects.for_login(self)

    def may_manage(self, other: User) -> bool:
        """Return whether this service manager may reset or unlock `other`'s factor.

        Only their own contract's staff: never another contract, never another manager and
        never themselves, so a stolen manager session cannot swap its own factor.
        """
        return (
            self.role == self.Role.MANAGER
            and self.contract_id is not None
            and other.contract_id == self.contract_id
            and other.role == self.Role.STAFF
            and other.pk != self.pk
        )

    def may_reset(self, other: User) -> bool:
        """Return whether this service manager may reset `other`'s factor.

        A reset revokes the credential in every edition. If the same person is a service
        manager elsewhere (their credential linked by start of use), resetting "staff" would
        reset a manager's factor: that stays with the bank.
        """
        if not self.may_manage(other):
            return False
        factor = other.factor
        if factor is None:
            return True
        return not factor.authenticator.registrations.active().exclude(user__role=self.Role.STAFF).exists()
