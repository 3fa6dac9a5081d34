"""Bank-issued TOTP tokens: import the vendor's seed file (PSKC, RFC 6030), hand a token to a user."""

from __future__ import annotations

import base64
import io
import re
import unicodedata
from typing import IO

import pskc
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from pskc.exceptions import PSKCError

from auth_enforcement import crypto
from auth_enforcement.flows import customer_of, record
from auth_enforcement.models import TOTP_DIGITS, TOTP_PERIOD, Authenticator, AuthEvent, Registration

TOTP_ALGORITHM = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
# The size of a file a person uploads in the admin, and of what it may ask us to do: a vendor's
# batch is a few thousand tokens (~1 kB each), so a bigger file is a mistake or an attack.
MAX_FILE_BYTES = 1024 * 1024
MAX_KEYS = 10_000
# PBKDF2 work the file itself asks for: 5 million rounds take ~5 s, more would tie up a worker;
# the longest key it can need is AES-256's 32 bytes.
MAX_PBKDF2_ITERATIONS = 5_000_000
MAX_PBKDF2_KEY_BYTES = 32
# 128 bits: RFC 4226 §4 R6 and above NIST SP 800-63B's 112.
MIN_SECRET_BYTES = 16
SERIAL = re.compile(r"[A-Za-z0-9-]{1,20}")
# Errors listed at once, so a batch with several bad tokens is fixed in one round with the vendor.
MAX_LISTED_ERRORS = 10


class PSKCImportError(Exception):
    """The file was refused and nothing was imported; `messages` say why, for bank staff."""

    def __init__(self, *messages) -> None:
        super().__init__(*messages)
        self.messages = list(messages)


class BankTokenError(Exception):
    """The token could not be handed to the user; the message says why, for bank staff."""


# -- import -------------------------------------------------------------------------------


def import_pskc(
    request: HttpRequest, fileobj: IO[bytes], *, key_hex: str = "", passphrase: str = ""
) -> list[Authenticator]:
    """Create a STOCK token for every key of a vendor's PSKC file, all or none."""
    container = _read_container(fileobj)
    _apply_decryption_key(container, key_hex, passphrase)
    keys = container.keys
    if not keys:
        raise PSKCImportError(_("The file contains no tokens."))
    if len(keys) > MAX_KEYS:
        raise PSKCImportError(
            _("The file contains more than %(max)d tokens. Ask the vendor to split it.") % {"max": MAX_KEYS}
        )
    tokens = _validated_tokens(keys, encrypted=bool(key_hex or passphrase))
    try:
        with transaction.atomic():
            created = Authenticator.objects.bulk_create(tokens)
            record(
                AuthEvent.Kind.TOKENS_IMPORTED,
                request,
                count=len(created),
                serials=[token.serial for token in created],
                file_name=getattr(fileobj, "name", "") or "",
            )
    except IntegrityError:
        # Another import of the same serials committed between our check and our insert.
        raise PSKCImportError(_("Some of these tokens were imported at the same time by someone else.")) from None
    return created


def _read_container(fileobj: IO[bytes]) -> pskc.PSKC:
    data = fileobj.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise PSKCImportError(_("The file is larger than 1 MB. Ask the vendor to split it."))
    not_pskc = PSKCImportError(_("The file is not a PSKC key container (RFC 6030), or it is damaged."))
    try:
        # python-pskc parses with lxml when installed, which expands entities; a vendor's file
        # has no DTD, so refusing any closes XXE and "billion laughs" whatever parser it uses.
        defused_fromstring(data, forbid_dtd=True)
        return pskc.PSKC(io.BytesIO(data))
    except (PSKCError, DefusedXmlException, SyntaxError, ValueError, TypeError, OverflowError):
        # SyntaxError: ElementTree's ParseError; ValueError: a number, date or base64 value that is not one.
        raise not_pskc from None


def _apply_decryption_key(container: pskc.PSKC, key_hex: str, passphrase: str) -> None:
    if key_hex and passphrase:
        raise PSKCImportError(_("Enter either the pre-shared key or the passphrase, not both."))
    if key_hex:
        try:
            container.encryption.key = bytes.fromhex("".join(key_hex.split()))
        except ValueError:
            raise PSKCImportError(_("The pre-shared key must be written in hexadecimal (0-9, A-F).")) from None
    elif passphrase:
        derivation = container.encryption.derivation
        if (derivation.pbkdf2_iterations or 0) > MAX_PBKDF2_ITERATIONS or (
            derivation.pbkdf2_key_length or 0
        ) > MAX_PBKDF2_KEY_BYTES:
            raise PSKCImportError(_("The file asks for an unreasonable amount of key derivation work."))
        try:
            container.encryption.derive_key(passphrase)
        except PSKCError:
            raise PSKCImportError(
                _("The file is not protected with a passphrase. Enter the pre-shared key instead.")
            ) from None


def _validated_tokens(keys, *, encrypted: bool) -> list[Authenticator]:
    """Return unsaved STOCK tokens for the keys, or raise with every problem found."""
    errors: list[str] = []
    tokens: list[Authenticator] = []
    seen: set[str] = set()
    for number, key in enumerate(keys, start=1):
        raw_serial = (key.serial or "").strip()
        label = raw_serial or _("number %(number)d in the file") % {"number": number}
        if not SERIAL.fullmatch(raw_serial):
            errors.append(_token_error(label, _("the serial must be 1 to 20 letters, digits or hyphens.")))
            continue
        serial = raw_serial.upper()
        if serial in seen:
            errors.append(_token_error(label, _("it appears more than once in the file.")))
            continue
        seen.add(serial)
        try:
            secret = key.secret
            interval = key.time_interval
        except PSKCError:
            raise _decryption_error(encrypted) from None
        problem = _key_problem(key, secret, interval)
        if problem:
            errors.append(_token_error(label, problem))
            continue
        tokens.append(
            Authenticator(
                kind=Authenticator.Kind.TOTP,
                serial=serial,
                status=Authenticator.Status.STOCK,
                # The same form new_totp() stores: the base32 seed, sealed like every other one.
                secret_sealed=crypto.seal(base64.b32encode(secret).rstrip(b"=")),
                digits=TOTP_DIGITS,
                period=TOTP_PERIOD,
                created_at=timezone.now(),
            )
        )
    registered = Authenticator.objects.filter(serial__in=[token.serial for token in tokens])
    for serial in registered.values_list("serial", flat=True):
        errors.append(_token_error(serial, _("it is already registered.")))
    if errors:
        more = len(errors) - MAX_LISTED_ERRORS
        listed = errors[:MAX_LISTED_ERRORS]
        if more > 0:
            listed.append(ngettext("…and %(count)d more.", "…and %(count)d more.", more) % {"count": more})
        raise PSKCImportError(*listed)
    return tokens


def _key_problem(key, secret: bytes | None, interval: int | None) -> str | None:
    """Return why a key cannot be used as one of our TOTP tokens, or None."""
    # Our verifier speaks RFC 6238 with 6 digits, 30 s and HMAC-SHA1 only (models.TOTP_*):
    # a token with other parameters would be imported and then never accept a code.
    if (key.algorithm or "").strip().lower() != TOTP_ALGORITHM:
        return _("only time-based (TOTP) tokens can be imported, not %(algorithm)s.") % {
            "algorithm": key.algorithm or "?"
        }
    if key.response_length != TOTP_DIGITS or (key.response_encoding or "DECIMAL").upper() != "DECIMAL":
        return _("only tokens showing 6 digits can be imported (this one shows %(digits)s).") % {
            "digits": key.response_length or "?"
        }
    if (interval or TOTP_PERIOD) != TOTP_PERIOD:
        return _("only tokens changing every 30 seconds can be imported (this one: %(seconds)s s).") % {
            "seconds": interval
        }
    if (key.algorithm_suite or "SHA1").strip().upper() not in {"SHA1", "HMAC-SHA1"}:
        return _("only HMAC-SHA1 tokens can be imported, not %(suite)s.") % {"suite": key.algorithm_suite}
    if not secret or len(secret) < MIN_SECRET_BYTES:
        return _("the seed is missing or shorter than 128 bits.")
    return None


def _token_error(label: str, problem: str) -> str:
    return _("Token %(serial)s: %(problem)s") % {"serial": label, "problem": problem}


def _decryption_error(encrypted: bool) -> PSKCImportError:
    if not encrypted:
        return PSKCImportError(
            _("The seeds in this file are encrypted. Enter the pre-shared key or the passphrase the vendor sent.")
        )
    return PSKCImportError(
        _("The seeds cannot be decrypted with this key or passphrase. Check it with the vendor's letter.")
    )


# -- handing a token to a user --------------------------------------------------------------


def normalize_serial(raw: str) -> str:
    """Return a typed serial in stored form (full-width folded, upper case)."""
    return unicodedata.normalize("NFKC", raw or "").strip().upper()


def bind_bank_token(request: HttpRequest, user, serial: str, first_code: str, second_code: str) -> Registration:
    """Hand a stock token to a customer's user once two consecutive codes prove it is in hand."""
    serial = normalize_serial(serial)
    first_code = unicodedata.normalize("NFKC", first_code or "").strip()
    second_code = unicodedata.normalize("NFKC", second_code or "").strip()
    customer = customer_of(user)
    registration = None
    with transaction.atomic():
        token = Authenticator.objects.select_for_update().filter(kind=Authenticator.Kind.TOTP, serial=serial).first()
        if customer is None:
            problem = _("Bank-issued tokens are for customers' users only.")
        elif Registration.objects.for_login(user) is not None:
            problem = _("This user already has a second factor. Reset it first, then hand over the token.")
        elif token is None:
            problem = _("No bank-issued token has the serial %(serial)s.") % {"serial": serial}
        elif token.status != Authenticator.Status.STOCK:
            problem = _("Token %(serial)s is not in stock: it has already been handed out or revoked.") % {
                "serial": serial
            }
        elif token.is_locked:
            problem = _("Token %(serial)s is locked after too many wrong codes. Unlock it first.") % {"serial": serial}
        else:
            registration, problem = _prove_and_bind(token, user, customer, first_code, second_code)
        if problem:
            record(AuthEvent.Kind.ENROLLMENT_FAILED, request, subject=user, serial=serial, origin="bank_issued")
    if problem:
        raise BankTokenError(problem)
    record(AuthEvent.Kind.ENROLLED, request, subject=user, serial=token.serial, method="totp", origin="bank_issued")
    return registration


def _prove_and_bind(token: Authenticator, user, customer, first_code: str, second_code: str):
    """Return (registration, None) if the codes prove the token, else (None, why); token row locked."""
    # As a self-service enrollment: the second code current (±1 step), the first the one just
    # before it, so a code read off a token seen once is not enough.
    now = token.current_step()
    second = token.step_of(second_code, range(now - 1, now + 2))
    if second is None or token.step_of(first_code, [second - 1]) is None:
        # A stock token has no owner to notice guessing: every wrong pair counts towards the
        # lock (JWEB_LOCK_AFTER_FAILURES), committed even though the binding is refused.
        token.record_failure()
        if token.is_locked:
            return None, _("The codes are not correct. Too many wrong codes: the token is now locked.")
        return None, _(
            "The codes are not correct. Ask for the number the token shows now and, after it changes, the next one."
        )
    try:
        with transaction.atomic():
            registration = Registration.objects.create(
                user=user, authenticator=token, origin=Registration.Origin.BANK_ISSUED
            )
    except IntegrityError:
        # One active registration per user: someone bound a factor for this user meanwhile.
        return None, _("This user already has a second factor. Reset it first, then hand over the token.")
    token.status = Authenticator.Status.ACTIVE
    token.customer = customer
    token.last_step = second  # the two codes just read out cannot log anyone in
    token.throttle_reset(commit=False)
    token.save(
        update_fields=["status", "customer", "last_step", "throttling_failure_count", "throttling_failure_timestamp"]
    )
    return registration, None
