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
        sealed = ("secret_sealed", "server_key_sealed")  # TOTP seeds and push server keys
        with transaction.atomic():
            for authenticator in Authenticator.objects.select_for_update():
                changed = [name for name in sealed if getattr(authenticator, name)]
                for name in changed:
                    setattr(authenticator, name, crypto.reseal(getattr(authenticator, name)))
                if changed:
                    authenticator.save(update_fields=changed)
                    count += len(changed)
        self.stdout.write(f"Re-encrypted {count} secrets with the first key.")
