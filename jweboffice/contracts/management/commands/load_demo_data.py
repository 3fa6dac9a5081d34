"""Create (or reset) the demo customers, contracts, users and bank staff."""

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from jweboffice.contracts.models import Contract, Customer, Edition, User
from jweboffice.contracts.roles import BANK_ADMIN, HELPDESK

DEMO_PASSWORD = "jweb-demo-2019"

CUSTOMERS = [
    {
        "cif_number": "0012345",
        "name": "常陽商事株式会社",
        "kana": "ジヨウヨウシヨウジ(カ",
        "contracts": [
            ("D-0012345-01", Edition.DOMESTIC, [
                ("kanri01", "manager", True, "山田 太郎"),
                ("tanto01", "staff", True, "佐藤 花子"),
                ("tanto02", "staff", False, "鈴木 一郎"),
            ]),
            ("F-0012345-01", Edition.FX, [
                ("kanri01", "manager", True, "山田 太郎"),
                ("tanto01", "staff", True, "佐藤 花子"),
                ("fxtanto03", "staff", False, "高橋 次郎"),
            ]),
        ],
    },
    {
        "cif_number": "0067890",
        "name": "筑波精密工業株式会社",
        "kana": "ツクバセイミツコウギヨウ(カ",
        "contracts": [
            ("F-0067890-01", Edition.FX, [
                ("tsukuba01", "manager", True, "田中 健"),
                ("tsukuba02", "staff", False, "伊藤 さくら"),
            ]),
        ],
    },
]

BANK_STAFF = [("admin", "銀行 管理者", BANK_ADMIN), ("helpdesk", "ヘルプデスク 担当", HELPDESK)]


class Command(BaseCommand):
    help = "Create or reset the demo data (idempotent) and print the demo accounts."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where the portal is served.")

    @transaction.atomic
    def handle(self, *args, base_url: str, **options):
        rows = []
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
        return user

    def _print(self, rows, base_url: str) -> None:
        out = self.stdout
        out.write(self.style.SUCCESS("Demo data ready. Every demo account's password: " + DEMO_PASSWORD))
        out.write("")
        out.write("  Entrances:")
        out.write(f"    FX edition        {base_url}/fx/login/")
        out.write(f"    domestic edition  {base_url}/domestic/login/")
        out.write(f"    bank staff        {base_url}/bank/login/  (then the admin at {base_url}/admin/)")
        out.write("")
        out.write(f"  {'entrance':<10} {'user ID':<12} {'role':<12} company")
        for edition, login_id, role, company in rows:
            out.write(f"  {edition:<10} {login_id:<12} {role:<12} {company}")
