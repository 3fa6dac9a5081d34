from io import StringIO

import pyotp
from django.core.management import call_command

from auth_enforcement.models import Registration
from jweboffice.contracts.management.commands.load_demo_data import DEMO_PASSWORD, demo_seed
from jweboffice.contracts.models import Contract, Customer, User
from tests.conftest import log_in, submit_code


def load() -> str:
    out = StringIO()
    call_command("load_demo_data", stdout=out)
    return out.getvalue()


def test_demo_data_is_idempotent(db):
    load()
    counts = (Customer.objects.count(), Contract.objects.count(), User.objects.count(), Registration.objects.count())
    output = load()
    assert counts == (
        Customer.objects.count(),
        Contract.objects.count(),
        User.objects.count(),
        Registration.objects.count(),
    )
    assert counts[0] == 2 and counts[2] == 10
    assert DEMO_PASSWORD in output and "/fx/login/" in output


def test_same_ids_exist_in_both_editions(db):
    load()
    assert set(User.objects.filter(login_id="kanri01").values_list("edition", flat=True)) == {"fx", "domestic"}


def test_printed_demo_seed_logs_in(client, db, settings):
    output = load()
    seed = demo_seed("fx:tanto01")
    assert seed in output
    log_in(client, "fx", "tanto01", DEMO_PASSWORD)
    assert submit_code(client, "fx", pyotp.TOTP(seed).now())["Location"] == "/home/"
