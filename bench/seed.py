"""Benchmark users: customers, FX contracts and users with an active TOTP credential each.

Run inside the server's environment: `python -m bench.seed <count> [<start>]`. Deterministic,
so that the load generator can compute every user's codes without asking the database.
"""

from __future__ import annotations

import base64
import hashlib
import sys

PASSWORD = "bench-password-2019"
USERS_PER_CONTRACT = 50


def login_id(n: int) -> str:
    return f"bench{n:07d}"


def seed_for(n: int) -> str:
    """Return user n's TOTP seed (base32, 160 bits): benchmark data only."""
    return base64.b32encode(hashlib.sha256(f"jweb-bench:{n}".encode()).digest()[:20]).decode()


def totp_credential(n: int, customer_id: int):
    """User n's TOTP credential (unsaved), with the seed the load generator computes."""
    from auth_enforcement import crypto
    from auth_enforcement.models import Authenticator

    return Authenticator(
        kind=Authenticator.Kind.TOTP,
        serial=f"JWB{n:09d}",
        customer_id=customer_id,
        status=Authenticator.Status.ACTIVE,
        secret_sealed=crypto.seal(seed_for(n).encode()),
    )


def create_users(count: int, start: int = 0, credential=totp_credential) -> None:
    """Create users start … start+count−1, each with the credential `credential(n, customer_id)` makes."""
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from auth_enforcement.models import Authenticator, Registration
    from jweboffice.contracts.models import Contract, Customer, Edition, User

    password = make_password(PASSWORD)  # one hash for all: the check costs the same
    with transaction.atomic():
        contracts = {}
        for block in range(start // USERS_PER_CONTRACT, (start + count - 1) // USERS_PER_CONTRACT + 1):
            customer, _ = Customer.objects.get_or_create(
                cif_number=f"9{block:08d}",
                defaults={"name": f"ベンチ商事{block}株式会社", "kana": f"ベンチシヨウジ{block}(カ"},
            )
            contracts[block], _ = Contract.objects.get_or_create(
                contract_number=f"F-B{block:08d}", defaults={"customer": customer, "edition": Edition.FX}
            )
        numbers = range(start, start + count)
        users = User.objects.bulk_create(
            User(
                login_id=login_id(n),
                account_key=f"fx:{login_id(n)}",
                edition=Edition.FX,
                contract=contracts[n // USERS_PER_CONTRACT],
                role=User.Role.STAFF,
                name=f"ベンチ {n}",
                password=password,
            )
            for n in numbers
        )
        authenticators = Authenticator.objects.bulk_create(
            credential(n, contracts[n // USERS_PER_CONTRACT].customer_id) for n in numbers
        )
        Registration.objects.bulk_create(
            Registration(user=user, authenticator=authenticator, name="default", confirmed=True)
            for user, authenticator in zip(users, authenticators, strict=True)
        )


if __name__ == "__main__":
    create_users(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0)
