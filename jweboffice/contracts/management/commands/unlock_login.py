"""Lift a login's locks from the server's shell: the way back when no bank officer can log in."""

from django.core.management.base import BaseCommand, CommandError

from auth_enforcement import flows
from jweboffice.contracts.models import ENTRANCES, User, account_key


class Command(BaseCommand):
    help = (
        "Unlock a user's login (wrong passwords) and credential (wrong codes), with a reason for the audit "
        "trail. For when every bank officer is locked out; otherwise use the admin, the help desk or the "
        "service manager's page."
    )

    def add_arguments(self, parser):
        parser.add_argument("entrance", choices=sorted(ENTRANCES), help="where the user logs in: fx, domestic, bank")
        parser.add_argument("login_id", help="the user ID typed at that entrance")
        parser.add_argument("--reason", required=True, help="why, for the audit trail (at least 5 characters)")

    def handle(self, entrance, login_id, reason, **options):
        reason = reason.strip()
        if len(reason) < 5:
            raise CommandError("Give a reason of at least 5 characters: it goes into the audit trail.")
        user = User.objects.filter(account_key=account_key(entrance, login_id)).first()
        if user is None:
            raise CommandError(f"No user {login_id!r} at the {entrance} entrance.")
        lifted = flows.unlock_login(None, user, reason=reason, via="command")
        if not lifted:
            self.stdout.write(f"Nothing is locked for {user.account_key}: nothing was changed.")
            return
        self.stdout.write(f"Unlocked {user.account_key}: {', '.join(lifted)}. The user has been told by e-mail.")
