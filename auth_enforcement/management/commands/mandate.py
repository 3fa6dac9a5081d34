"""Show or set the instant from which each edition's users need a second factor."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from auth_enforcement import flows
from auth_enforcement.editions import Edition
from auth_enforcement.models import MandatePolicy


class Command(BaseCommand):
    help = "Show the mandate of each edition, or set one: `mandate set fx 2019-03-01T00:00+09:00`."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("show", help="Show both editions' mandates.")
        setter = sub.add_parser("set", help="Set an edition's mandate instant (ISO 8601; no offset means JST).")
        setter.add_argument("edition")
        setter.add_argument("instant")

    def handle(self, *args, action: str, **options):
        if action == "set":
            self._set(options["edition"], options["instant"])
        for edition in Edition.values:
            policy = MandatePolicy.objects.for_edition(edition)
            state = "in force" if policy.in_force() else "not yet in force"
            when = timezone.localtime(policy.effective_at, ZoneInfo("Asia/Tokyo"))
            self.stdout.write(f"{edition:<9} {when:%Y-%m-%d %H:%M %Z}  ({state}; warning {policy.warning_days} days)")

    def _set(self, edition: str, instant: str) -> None:
        if edition not in Edition.values:
            raise CommandError(f"Unknown edition {edition!r}: use one of {', '.join(Edition.values)}.")
        try:
            at = datetime.fromisoformat(instant)
        except ValueError:
            raise CommandError(f"Bad date {instant!r}: use ISO 8601, e.g. 2019-03-01T00:00+09:00.") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=ZoneInfo("Asia/Tokyo"))
        flows.change_mandate(None, edition, effective_at=at, via="manage.py mandate")
