"""Bank-issued TOTP tokens: the vendor's PSKC file in, a token handed to a user by serial and codes."""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import timedelta

import pskc
import pyotp
import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from auth_enforcement.bank_tokens import BankTokenError, PSKCImportError, bind_bank_token, import_pskc
from auth_enforcement.models import Authenticator, AuthEvent, Registration
from jweboffice.contracts.models import User
from jweboffice.contracts.roles import BANK_ADMIN, HELPDESK
from tests.conftest import PASSWORD, HttpsClient, log_in_with_totp, register_totp

pytestmark = pytest.mark.usefixtures("english")

TOTP = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
HOTP = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
SEED = bytes.fromhex("8d3f0c5be1a27946f0b3c1d2e4a5968778695a4b")  # 160 bits, as vendors ship
SEED_BASE32 = base64.b32encode(SEED).decode()
PRESHARED_KEY = bytes.fromhex("4e2a6f1d9c3b5a7e8f0d1c2b3a495867")  # AES-128, sent by letter
PASSPHRASE = "vendor passphrase 2024"
IMPORT_URL = "/admin/auth_enforcement/authenticator/import/"
BIND_URL = "/admin/auth_enforcement/authenticator/bind/"


def token(serial: str = "VT-0001", **overrides) -> dict:
    """Return the fields of one vendor token: TOTP, 6 digits, 30 s, our seed."""
    return {"serial": serial, "secret": SEED, "algorithm": TOTP, "response_length": 6, "time_interval": 30} | overrides


def pskc_file(*tokens: dict, key: bytes | None = None, passphrase: str | None = None) -> io.BytesIO:
    """Write a real PSKC file with python-pskc, its seeds encrypted if a key or passphrase is given."""
    container = pskc.PSKC()
    for fields in tokens or [token()]:
        container.add_key(manufacturer="Vasco", **fields)
    if key:
        container.encryption.setup_preshared_key(key=key)
    if passphrase:
        container.encryption.setup_pbkdf2(passphrase, iterations=1000)
    buffer = io.BytesIO()
    container.write(buffer)
    buffer.seek(0)
    buffer.name = "vendor-batch.pskcxml"
    return buffer


@pytest.fixture
def staff_request(rf, bank_staff):
    request = rf.post("/admin/auth_enforcement/authenticator/import/")
    request.user = bank_staff
    return request


@pytest.fixture
def stock(staff_request) -> Authenticator:
    """One token of the vendor's batch in stock, serial VT-0001."""
    return import_pskc(staff_request, pskc_file())[0]


def codes(step_offset_first: int = -1) -> tuple[str, str]:
    """Return two codes of our seed: the first at `step_offset_first`, the second the current one."""
    totp = pyotp.TOTP(SEED_BASE32)
    now = totp.timecode(timezone.now())
    return totp.generate_otp(now + step_offset_first), totp.generate_otp(now)


def staff_client(group: str, login_id: str) -> HttpsClient:
    """Return a client of a new staff member of `group`, past the second factor at the bank entrance."""
    user = User.objects.create_user(login_id, PASSWORD, is_staff=True, name="銀行 職員")
    user.groups.add(Group.objects.get(name=group))
    client = HttpsClient()
    assert log_in_with_totp(client, user, register_totp(user))["Location"] == "/admin/"
    return client


@pytest.fixture
def bank_admin_client(db) -> HttpsClient:
    return staff_client(BANK_ADMIN, "admin02")


@pytest.fixture
def helpdesk_client(db) -> HttpsClient:
    return staff_client(HELPDESK, "desk01")


def assert_refused(staff_request, file, message: str, **keys) -> None:
    with pytest.raises(PSKCImportError) as refused:
        import_pskc(staff_request, file, **keys)
    assert message in " ".join(str(m) for m in refused.value.messages)
    assert not Authenticator.objects.exists()
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.TOKENS_IMPORTED).exists()


# -- import -------------------------------------------------------------------------------


def test_import_puts_tokens_in_stock_with_their_seed_sealed(staff_request):
    imported = import_pskc(staff_request, pskc_file(token("vt-0001"), token("VT-0002")))
    tokens = Authenticator.objects.order_by("serial")
    assert [t.serial for t in tokens] == ["VT-0001", "VT-0002"] == [t.serial for t in imported]
    for stored in tokens:
        assert (stored.kind, stored.status, stored.customer) == ("totp", "stock", None)
        # Encrypted at rest like every seed: the column holds a Fernet token, not the seed.
        assert SEED_BASE32 not in stored.secret_sealed and SEED.hex() not in stored.secret_sealed
        assert base64.b32decode(stored.totp_secret + "=" * (-len(stored.totp_secret) % 8)) == SEED


def test_import_is_audited_without_the_seeds(staff_request, bank_staff):
    import_pskc(staff_request, pskc_file(token("VT-0001"), token("VT-0002")))
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.TOKENS_IMPORTED)
    assert event.actor == bank_staff
    assert event.details == {"count": 2, "serials": ["VT-0001", "VT-0002"], "file_name": "vendor-batch.pskcxml"}
    written = json.dumps(event.details)
    assert SEED_BASE32 not in written and SEED.hex() not in written


def test_file_encrypted_with_a_preshared_key_is_imported_with_that_key(staff_request):
    import_pskc(staff_request, pskc_file(key=PRESHARED_KEY), key_hex=PRESHARED_KEY.hex().upper())
    assert Authenticator.objects.get().totp_secret.startswith(SEED_BASE32.rstrip("="))


def test_file_encrypted_with_a_passphrase_is_imported_with_that_passphrase(staff_request):
    import_pskc(staff_request, pskc_file(passphrase=PASSPHRASE), passphrase=PASSPHRASE)
    assert Authenticator.objects.get().totp_secret.startswith(SEED_BASE32.rstrip("="))


@pytest.mark.parametrize("encryption", [{"key": PRESHARED_KEY}, {"passphrase": PASSPHRASE}])
def test_encrypted_file_without_its_key_is_refused(staff_request, encryption):
    assert_refused(staff_request, pskc_file(**encryption), "are encrypted")


@pytest.mark.parametrize(
    "encryption,given",
    [
        ({"key": PRESHARED_KEY}, {"key_hex": "00" * 16}),
        ({"passphrase": PASSPHRASE}, {"passphrase": "wrong passphrase"}),
    ],
)
def test_encrypted_file_with_a_wrong_key_is_refused(staff_request, encryption, given):
    assert_refused(staff_request, pskc_file(**encryption), "cannot be decrypted", **given)


@pytest.mark.parametrize(
    "content",
    [
        b"<KeyContainer Version='1.0'><KeyPackage>",  # cut off in transfer
        b"serial,seed\nVT-0001,GEZDGNBVGY3TQOJQ\n",  # a CSV, not a PSKC file
        b"<html><body>Download expired</body></html>",  # the vendor portal's error page
        # An entity bomb ("billion laughs"): refused before any expansion.
        b'<?xml version="1.0"?><!DOCTYPE k [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b'<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0">&b;</KeyContainer>',
    ],
)
def test_malformed_file_is_refused(staff_request, content):
    assert_refused(staff_request, io.BytesIO(content), "not a PSKC key container")


def test_file_over_one_megabyte_is_refused(staff_request):
    assert_refused(staff_request, io.BytesIO(b" " * (1024 * 1024 + 1)), "larger than 1 MB")


def test_file_without_tokens_is_refused(staff_request):
    empty = io.BytesIO()
    pskc.PSKC().write(empty)
    assert_refused(staff_request, io.BytesIO(empty.getvalue()), "no tokens")


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"algorithm": HOTP, "counter": 0}, "only time-based (TOTP)"),
        ({"response_length": 8}, "6 digits"),
        ({"time_interval": 60}, "30 seconds"),
        ({"algorithm_suite": "HMAC-SHA256"}, "HMAC-SHA1"),
        ({"secret": SEED[:15]}, "shorter than 128 bits"),
        ({"serial": "VT 0003"}, "1 to 20 letters"),
        ({"serial": "VT-" + "9" * 18}, "1 to 20 letters"),
    ],
)
def test_one_unusable_token_among_good_ones_imports_nothing(staff_request, bad, message):
    batch = pskc_file(token("VT-0001"), token("VT-0002"), token("VT-0003") | bad)
    assert_refused(staff_request, batch, message)


def test_serial_already_registered_is_refused(staff_request, stock):
    with pytest.raises(PSKCImportError, match="VT-0001: it is already registered"):
        import_pskc(staff_request, pskc_file(token("VT-0002"), token("vt-0001")))
    assert list(Authenticator.objects.values_list("serial", flat=True)) == ["VT-0001"]


def test_serial_twice_in_the_file_is_refused(staff_request):
    assert_refused(staff_request, pskc_file(token("VT-0001"), token("vt-0001")), "more than once")


# -- handing a token to a user ------------------------------------------------------------


def test_two_consecutive_codes_bind_the_token_and_the_user_logs_in_with_it(
    client, frozen, staff_request, stock, fx_user
):
    first, second = codes()
    registration = bind_bank_token(staff_request, fx_user, "ｖｔ－０００１", first, second)
    stock.refresh_from_db()
    assert registration.origin == Registration.Origin.BANK_ISSUED
    assert Registration.objects.for_login(fx_user) == registration
    assert (stock.status, stock.customer) == (Authenticator.Status.ACTIVE, fx_user.customer)
    frozen.shift(timedelta(seconds=30))  # the codes read out were used; the next one logs in
    assert log_in_with_totp(client, fx_user)["Location"] == "/home/"


def test_binding_is_audited_and_mailed_to_the_user(frozen, staff_request, stock, fx_user, bank_staff):
    bind_bank_token(staff_request, fx_user, "VT-0001", *codes())
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.ENROLLED)
    assert (event.actor, event.subject, event.edition) == (bank_staff, fx_user, "fx")
    assert event.details == {"serial": "VT-0001", "method": "totp", "origin": "bank_issued"}
    assert [message.to for message in mail.outbox] == [["taro@example.jp"]]
    assert "VT-0001" in mail.outbox[0].body


def test_codes_read_out_at_binding_cannot_log_in(frozen, staff_request, stock, fx_user):
    first, second = codes()
    bind_bank_token(staff_request, fx_user, "VT-0001", first, second)
    registration = Registration.objects.for_login(fx_user)
    assert not registration.verify_token(second)


@pytest.mark.parametrize("offset", [-2, 1])
def test_codes_that_are_not_consecutive_are_refused_and_counted(frozen, staff_request, stock, fx_user, offset):
    with pytest.raises(BankTokenError, match="codes are not correct"):
        bind_bank_token(staff_request, fx_user, "VT-0001", *codes(offset))
    stock.refresh_from_db()
    assert (stock.status, stock.throttling_failure_count) == (Authenticator.Status.STOCK, 1)
    assert Registration.objects.for_login(fx_user) is None
    assert AuthEvent.objects.get(kind=AuthEvent.Kind.ENROLLMENT_FAILED).subject == fx_user
    assert not mail.outbox


def test_stock_token_locks_after_the_configured_wrong_codes(settings, frozen, staff_request, stock, fx_user):
    # A token lost between the vault and the customer must not be bound by guessing codes.
    settings.JWEB_LOCK_AFTER_FAILURES = 3
    for _ in range(3):
        with pytest.raises(BankTokenError):
            bind_bank_token(staff_request, fx_user, "VT-0001", "000000", "000000")
    with pytest.raises(BankTokenError, match="locked"):
        bind_bank_token(staff_request, fx_user, "VT-0001", *codes())
    stock.refresh_from_db()
    assert stock.is_locked and stock.status == Authenticator.Status.STOCK


def test_user_who_already_has_a_factor_is_refused(frozen, staff_request, stock, fx_user, fx_totp):
    with pytest.raises(BankTokenError, match="Reset it first"):
        bind_bank_token(staff_request, fx_user, "VT-0001", *codes())
    stock.refresh_from_db()
    assert (stock.status, stock.throttling_failure_count) == (Authenticator.Status.STOCK, 0)
    assert Registration.objects.for_login(fx_user) == fx_totp


def test_token_already_handed_out_cannot_be_bound_again(frozen, staff_request, stock, fx_user, domestic_user):
    bind_bank_token(staff_request, fx_user, "VT-0001", *codes())
    frozen.shift(timedelta(seconds=30))
    with pytest.raises(BankTokenError, match="not in stock"):
        bind_bank_token(staff_request, domestic_user, "VT-0001", *codes())
    assert Registration.objects.for_login(domestic_user) is None


def test_bank_staff_cannot_be_given_a_bank_issued_token(frozen, staff_request, stock, bank_staff):
    with pytest.raises(BankTokenError, match="customers' users only"):
        bind_bank_token(staff_request, bank_staff, "VT-0001", *codes())
    assert Authenticator.objects.get(serial="VT-0001").status == Authenticator.Status.STOCK


# -- the admin pages --------------------------------------------------------------------------


def test_bank_admin_imports_a_file_in_the_admin(frozen, bank_admin_client):
    upload = SimpleUploadedFile("vendor-batch.pskcxml", pskc_file(key=PRESHARED_KEY).getvalue())
    response = bank_admin_client.post(IMPORT_URL, {"file": upload, "key_hex": PRESHARED_KEY.hex()})
    assert response["Location"] == "/admin/auth_enforcement/authenticator/"
    assert Authenticator.objects.get(serial="VT-0001").status == Authenticator.Status.STOCK


def test_refused_file_is_explained_on_the_import_page(frozen, bank_admin_client):
    upload = SimpleUploadedFile("vendor-batch.pskcxml", pskc_file(key=PRESHARED_KEY).getvalue())
    page = bank_admin_client.post(IMPORT_URL, {"file": upload}).content.decode()
    assert "are encrypted" in page and "Nothing was imported" in page
    assert not Authenticator.objects.filter(status=Authenticator.Status.STOCK).exists()


def test_bank_admin_hands_a_token_to_a_user_in_the_admin(frozen, bank_admin_client, stock, fx_user):
    first, second = codes()
    response = bank_admin_client.post(
        BIND_URL,
        {"edition": "fx", "login_id": "ＴＡＲＯ01", "serial": "vt-0001", "first_code": first, "second_code": second},
    )
    assert response["Location"] == "/admin/auth_enforcement/authenticator/"
    assert Registration.objects.for_login(fx_user).authenticator == stock


def test_unknown_user_gets_a_form_error_on_the_bind_page(frozen, bank_admin_client, stock, fx_user):
    first, second = codes()
    page = bank_admin_client.post(
        BIND_URL,
        {"edition": "domestic", "login_id": "taro01", "serial": "VT-0001", "first_code": first, "second_code": second},
    ).content.decode()
    assert "No user has this user ID in this edition" in page
    assert Authenticator.objects.get(serial="VT-0001").status == Authenticator.Status.STOCK


@pytest.mark.parametrize("url", [IMPORT_URL, BIND_URL])
def test_every_input_of_the_admin_pages_has_a_label(bank_admin_client, url):
    page = bank_admin_client.get(url).content.decode()
    ids = re.findall(r'<(?:input|select)[^>]* id="(id_[^"]+)"', page)  # the form's own fields
    assert len(ids) >= 3
    for input_id in ids:
        assert f'<label for="{input_id}"' in page


@pytest.mark.parametrize("url", [IMPORT_URL, BIND_URL])
def test_helpdesk_cannot_import_or_hand_out_tokens(helpdesk_client, url, stock):
    assert helpdesk_client.get(url).status_code == 403
    assert helpdesk_client.post(url, {"file": pskc_file(token("VT-0002"))}).status_code == 403
    assert not Authenticator.objects.filter(serial="VT-0002").exists()


def test_buttons_are_shown_only_to_staff_who_may_use_them(bank_admin_client, helpdesk_client):
    changelist = "/admin/auth_enforcement/authenticator/"
    page = bank_admin_client.get(changelist).content.decode()
    assert IMPORT_URL in page and BIND_URL in page
    page = helpdesk_client.get(changelist).content.decode()
    assert IMPORT_URL not in page and BIND_URL not in page


def test_no_admin_page_shows_a_seed_or_the_files_key(frozen, bank_admin_client):
    upload = SimpleUploadedFile("vendor-batch.pskcxml", pskc_file(key=PRESHARED_KEY).getvalue())
    refused = bank_admin_client.post(IMPORT_URL, {"file": upload, "key_hex": "00" * 16}).content.decode()
    upload.seek(0)
    bank_admin_client.post(IMPORT_URL, {"file": upload, "key_hex": PRESHARED_KEY.hex()})
    stored = Authenticator.objects.get(serial="VT-0001")
    pages = [
        refused,
        bank_admin_client.get("/admin/auth_enforcement/authenticator/").content.decode(),
        bank_admin_client.get(f"/admin/auth_enforcement/authenticator/{stored.pk}/change/").content.decode(),
    ]
    for page in pages:
        for secret in (SEED_BASE32, SEED.hex(), SEED.hex().upper(), base64.b64encode(SEED).decode()):
            assert secret not in page
        assert "00" * 16 not in page and PRESHARED_KEY.hex() not in page
