"""Create (or reset) the demo customers, contracts, users and bank staff."""

import base64
import hashlib

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from auth_enforcement import flows
from auth_enforcement.models import Authenticator, AuthEvent, Registration
from jweboffice.contracts.models import Contract, Customer, Edition, User
from jweboffice.contracts.roles import BANK_ADMIN, HELPDESK

DEMO_PASSWORD = "jweb-demo-2019"

CUSTOMERS = [
    {
        "cif_number": "0012345",
        "name": "常陽商事株式会社",
        "kana": "ジヨウヨウシヨウジ(カ",
        "contracts": [
            (
                "D-0012345-01",
                Edition.DOMESTIC,
                [
                    ("kanri01", "manager", True, "山田 太郎"),
                    ("tanto01", "staff", True, "佐藤 花子"),
                    ("tanto02", "staff", False, "鈴木 一郎"),
                ],
            ),
            (
                "F-0012345-01",
                Edition.FX,
                [
                    ("kanri01", "manager", True, "山田 太郎"),
                    ("tanto01", "staff", True, "佐藤 花子"),
                    ("fxtanto03", "staff", False, "高橋 次郎"),
                ],
            ),
        ],
    },
    {
        "cif_number": "0067890",
        "name": "筑波精密工業株式会社",
        "kana": "ツクバセイミツコウギヨウ(カ",
        "contracts": [
            (
                "F-0067890-01",
                Edition.FX,
                [
                    ("tsukuba01", "manager", True, "田中 健"),
                    ("tsukuba02", "staff", False, "伊藤 さくら"),
                ],
            ),
        ],
    },
]

BANK_STAFF = [("admin", "銀行 管理者", BANK_ADMIN), ("helpdesk", "ヘルプデスク 担当", HELPDESK)]

# Accounts that come with a TOTP generator already registered, so the demo can show the
# login's second step at once. Their seeds are derived from the account and printed: demo only.
WITH_DEMO_TOTP = {
    ("fx", "tanto01"),
    ("fx", "tsukuba01"),
    ("fx", "tsukuba02"),
    ("domestic", "kanri01"),
    ("bank", "admin"),
    ("bank", "helpdesk"),
}
# A locked generator, so that the help desk's queue and the service manager's page have a case.
LOCKED_DEMO = ("fx", "tsukuba02")


def demo_seed(account_key: str) -> str:
    """Return the demo TOTP seed of an account (base32, 160 bits)."""
    return base64.b32encode(hashlib.sha256(f"jweboffice-demo:{account_key}".encode()).digest()[:20]).decode()


class Command(BaseCommand):
    help = "Create or reset the demo data (idempotent) and print the demo accounts."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where the portal is served.")

    @transaction.atomic
    def handle(self, *args, base_url: str, **options):
        rows = []
        self.seeds = {}
        for data in CUSTOMERS:
            customer, _ = Customer.objects.update_or_create(
                cif_number=data["cif_number"], defaults={"name": data["name"], "kana": data["kana"]}
            )
            for number, edition, users in data["contracts"]:
                contract, _ = Contract.objects.update_or_create(
                    contract_number=number,
                    defaults={"customer": customer, "edition": edition, "status": Contract.Status.ACTIVE},
                )
                for login_id, role, can_approve, name in users:
                    self._user(login_id, contract, role=role, can_approve=can_approve, name=name)
                    rows.append((edition, login_id, role, customer.name))
        for login_id, name, group in BANK_STAFF:
            user = self._user(login_id, None, name=name, is_staff=True)
            user.groups.set([Group.objects.get(name=group)])
            rows.append(("bank", login_id, group, "—"))
        self._print(rows, base_url.rstrip("/"))

    def _user(self, login_id: str, contract: Contract | None, **fields) -> User:
        edition = contract.edition if contract else None
        user = User.objects.filter(edition=edition, login_id=login_id).first() or User(login_id=login_id)
        user.contract = contract
        user.email = f"{login_id}.{edition or 'bank'}@example.jp"
        user.is_active = True
        for name, value in fields.items():
            setattr(user, name, value)
        user.set_password(DEMO_PASSWORD)
        user.save()
        if (user.entrance, login_id) in WITH_DEMO_TOTP:
            self._demo_totp(user)
        return user

    def _demo_totp(self, user: User) -> None:
        seed = demo_seed(user.account_key)
        self.seeds[user.account_key] = seed
        current = Registration.objects.for_login(user)
        if current and current.authenticator.kind == "totp" and current.authenticator.totp_secret == seed:
            return
        if current:  # replaced through the UI since: back to the printed seed
            current.revoked_at = timezone.now()
            current.save()
        authenticator = Authenticator.new_totp(user.customer, seed, status=Authenticator.Status.ACTIVE)
        registration = Registration.objects.create(user=user, authenticator=authenticator)
        if (user.entrance, user.login_id) == LOCKED_DEMO:
            for _ in range(settings.JWEB_LOCK_AFTER_FAILURES):
                authenticator.record_failure()
            flows.record(AuthEvent.Kind.LOCKED, subject=user, actor=user, serial=registration.authenticator.serial)

    def _print(self, rows, base_url: str) -> None:
        out = self.stdout
        out.write(self.style.SUCCESS("Demo data ready. Every demo account's password: " + DEMO_PASSWORD))
        out.write("")
        out.write("  Entrances:")
        out.write(f"    FX edition        {base_url}/fx/login/")
        out.write(f"    domestic edition  {base_url}/domestic/login/")
        out.write(f"    bank staff        {base_url}/bank/login/  (then the admin at {base_url}/admin/)")
        out.write(f"    help desk lookup  {base_url}/helpdesk/  (bank staff)")
        out.write(f"    service manager   {base_url}/manager/  (fx tsukuba01; tsukuba02 is locked)")
        out.write("")
        out.write(f"  {'entrance':<10} {'user ID':<12} {'role':<12} company")
        for edition, login_id, role, company in rows:
            out.write(f"  {edition:<10} {login_id:<12} {role:<12} {company}")
        out.write("")
        out.write("  Accounts with a demo one-time password generator (the others register one at first login).")
        out.write("  Add the seed to any authenticator app, or print the current code with the command shown:")
        for key, seed in self.seeds.items():
            out.write(f"    {key:<16} {seed}   .venv/bin/python -c \"import pyotp; print(pyotp.TOTP('{seed}').now())\"")
