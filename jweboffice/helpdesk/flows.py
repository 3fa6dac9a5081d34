"""Bank staff's use cases: find a user, read their second-factor card, work the queue."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.http import HttpRequest
from django.utils import timezone

from auth_enforcement import flows
from auth_enforcement.models import Authenticator, AuthEvent, Registration
from jweboffice.contracts.models import Customer, User, normalize_login_id

PER_PAGE = 20
MAX_QUERY = 64
# Two characters: a trigram index cannot narrow one, and one kana matches half the bank.
MIN_PARTIAL = 2
RECENT_EVENTS = 30

# What a person must look at: a denial the user said was not them, a locked credential.
QUEUE_KINDS = [AuthEvent.Kind.PUSH_NOT_ME, AuthEvent.Kind.LOCKED]
# What settles a queue item: a later unlock, reset, loss report or a note that it was handled.
SETTLING_KINDS = [AuthEvent.Kind.UNLOCKED, AuthEvent.Kind.RESET, AuthEvent.Kind.LOST, AuthEvent.Kind.HANDLED]


def normalize_query(raw: str) -> str:
    """Fold full-width and half-width forms (IME input) and collapse spaces."""
    return " ".join(unicodedata.normalize("NFKC", raw).split())


def to_katakana(text: str) -> str:
    """Return the text with hiragana turned into katakana (kana names are stored in katakana)."""
    return "".join(chr(ord(char) + 0x60) if "\u3041" <= char <= "\u3096" else char for char in text)


def _users():
    return User.objects.customers().select_related("contract__customer").with_factor()


@dataclass
class SearchResult:
    query: str
    exact: list = field(default_factory=list)
    partial: list = field(default_factory=list)
    page: int = 1
    has_next: bool = False

    @property
    def empty(self) -> bool:
        return not self.exact and not self.partial


def search(raw: str, page: int = 1) -> SearchResult:
    """Find customer users by exact login ID, contract number or serial, or part of a company name or kana.

    Exact matches come first on the first page; each goes through a unique or plain index.
    Company name and kana parts go through trigram indexes on PostgreSQL and are paginated
    without a count, so a broad word costs one page, not a million rows.
    """
    query = normalize_query(raw)[:MAX_QUERY]
    result = SearchResult(query=query, page=page)
    if not query:
        return result
    exact_ids: set[int] = set()
    if page == 1:
        # One round trip for the three exact kinds; every holder of the serial, past ones too.
        exact_ids.update(
            User.objects.customers()
            .filter(login_id=normalize_login_id(query))
            .order_by()
            .values_list("pk", flat=True)
            .union(
                User.objects.filter(contract__contract_number=query).order_by().values_list("pk", flat=True),
                Registration.objects.filter(authenticator__serial=query.upper())
                .order_by()
                .values_list("user_id", flat=True),
            )
        )
        result.exact = list(_users().filter(pk__in=exact_ids).order_by("account_key"))
    if len(query) >= MIN_PARTIAL:
        result.partial, result.has_next = _partial_page(query, page, exact_ids)
    return result


def matching_customers(query: str):
    """Customers whose name or kana contains the words (trigram indexes on PostgreSQL)."""
    # The lookups write exactly the expressions the indexes of migration contracts 0004 cover.
    return Customer.objects.filter(Q(name__icontains=query) | Q(kana__contains=to_katakana(query))).order_by()


def _partial_page(query: str, page: int, exact_ids: set[int]) -> tuple[list, bool]:
    """Return one page of the users of matching customers (by kana), and whether more follow."""
    offset = (page - 1) * PER_PAGE
    found = list(
        _users()
        .filter(contract__customer__in=matching_customers(query).values("pk"))
        .exclude(pk__in=exact_ids)
        .order_by("contract__customer__kana", "contract__customer_id", "account_key")[offset : offset + PER_PAGE + 1]
    )
    return found[:PER_PAGE], len(found) > PER_PAGE


@dataclass
class UserCard:
    user: User
    registration: Registration | None
    shared_with: list
    last_factor_ok: AuthEvent | None
    events: list

    @property
    def authenticator(self) -> Authenticator | None:
        return self.registration.authenticator if self.registration else None


def user_card(user: User) -> UserCard:
    """Gather what the help desk needs to answer a call about this user (no secret in it)."""
    registration = user.factor
    shared_with = []
    if registration is not None:
        # The same credential may also be bound in the other edition (start of use).
        shared_with = list(registration.authenticator.registrations.active().exclude(user=user).select_related("user"))
    last_factor_ok = AuthEvent.objects.filter(subject=user, kind=AuthEvent.Kind.FACTOR_OK).order_by("-at").first()
    events = list(AuthEvent.objects.filter(subject=user).select_related("actor").order_by("-at")[:RECENT_EVENTS])
    return UserCard(user, registration, shared_with, last_factor_ok, events)


def find_customer_user(pk: int) -> User | None:
    """Return the customer user the help desk asks for, with their factor loaded."""
    return _users().filter(pk=pk).first()


def queue(days: int | None = None) -> list[AuthEvent]:
    """Return the unsettled not-me denials and locks of the last days, newest first, with their users."""
    since = timezone.now() - timedelta(days=days or settings.JWEB_HELPDESK_QUEUE_DAYS)
    settled = AuthEvent.objects.filter(subject=OuterRef("subject"), kind__in=SETTLING_KINDS, at__gt=OuterRef("at"))
    return list(
        AuthEvent.objects.filter(kind__in=QUEUE_KINDS, at__gte=since, subject__contract__isnull=False)
        .exclude(Exists(settled))
        .select_related("subject__contract__customer")
        .prefetch_related(
            Prefetch(
                "subject__registration_set",
                queryset=Registration.objects.active().select_related("authenticator"),
                to_attr="active_registrations",
            )
        )
        .order_by("-at")[:100]
    )


def record_view(request: HttpRequest, user: User) -> None:
    """Audit that a member of staff opened a customer's card (who looked at whom, and when)."""
    flows.record(AuthEvent.Kind.USER_VIEWED, request, subject=user)


def mark_handled(request: HttpRequest, user: User, *, reason: str) -> None:
    """Settle the user's queue items with a note of what was done."""
    flows.record(AuthEvent.Kind.HANDLED, request, subject=user, reason=reason)
