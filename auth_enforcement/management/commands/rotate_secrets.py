"""Re-encrypt every stored credential secret with the first key of JWEB_SECRET_KEYS."""

from django.core.management.base import BaseCommand
from django.db import transaction

from auth_enforcement import crypto
from auth_enforcement.models import Authenticator


class Command(BaseCommand):
    help = (
        "Re-encrypt credential secrets with the first JWEB_SECRET_KEYS key. Put the new key first, keep the old "
        "ones after it, run this, then drop the old keys."
    )

    def handle(self, *args, **options):
        count = 0
        with transaction.atomic():
            for authenticator in Authenticator.objects.select_for_update().exclude(secret_sealed=""):
                authenticator.secret_sealed = crypto.reseal(authenticator.secret_sealed)
                authenticator.save(update_fields=["secret_sealed"])
                count += 1
        self.stdout.write(f"Re-encrypted {count} secrets with the first key.")
