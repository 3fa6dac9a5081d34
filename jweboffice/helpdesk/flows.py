"""Bank staff's use cases: find a user, read their second-factor card, work the queue."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import Exists, Func, OuterRef, Prefetch, Q, TextField, Value
from django.db.models.functions import Upper
from django.http import HttpRequest
from django.utils import timezone

from auth_enforcement import flows
from auth_enforcement.models import Authenticator, AuthEvent, Registration
from jweboffice import statements
from jweboffice.contracts.models import Contract, Customer, User, fold_kana, normalize_login_id

PER_PAGE = 20
MAX_QUERY = 64
# Two characters: a trigram index cannot narrow one, and one kana matches half the bank.
MIN_PARTIAL = 2
RECENT_EVENTS = 30
BIGRAMS = ArrayField(TextField())

# What a person must look at: a denial the user said was not them, a locked credential or login.
QUEUE_KINDS = [AuthEvent.Kind.PUSH_NOT_ME, AuthEvent.Kind.LOCKED, AuthEvent.Kind.PASSWORD_LOCKED]
# What settles a queue item: a later unlock, reset, loss report or a note that it was handled.
SETTLING_KINDS = [
    AuthEvent.Kind.UNLOCKED,
    AuthEvent.Kind.PASSWORD_UNLOCKED,
    AuthEvent.Kind.RESET,
    AuthEvent.Kind.LOST,
    AuthEvent.Kind.HANDLED,
]


def normalize_query(raw: str) -> str:
    """Fold full-width and half-width forms (IME input) and collapse spaces."""
    return " ".join(unicodedata.normalize("NFKC", raw).split())


def to_katakana(text: str) -> str:
    """Return the text as kana names are stored: hiragana as katakana, small kana written large."""
    return fold_kana("".join(chr(ord(char) + 0x60) if "\u3041" <= char <= "\u3096" else char for char in text))


def _users():
    return User.objects.customers().select_related("contract__customer").with_factor()


@dataclass(slots=True)
class FoundUser:
    """A customer user as the result table shows them: contract, company and active credential."""

    pk: int
    login_id: str
    name: str
    edition: str
    role: str
    contract_number: str
    company: str
    kana: str
    method: str | None  # the active credential's kind; None without one
    serial: str | None
    locked: bool

    def __getitem__(self, name: str):
        # A template looks `person.login_id` up as person["login_id"] first, and as an attribute
        # only once that raised: nine exceptions a row. A page of 20 takes 4 % fewer instructions.
        try:
            return getattr(self, name)
        except (AttributeError, TypeError):
            raise KeyError(name) from None


# The result rows: each user with contract and company, ordered and cut to the page first, then
# each row's active credential (contracts and auth_enforcement tables, names from the models).
# Joined before the cut, the credentials of every user of the page's customers were read (216
# for a page of 20: 1.5 ms), and the planner weighed five tables instead of three and two.
# `{cut}` orders and cuts the page (ROW_ORDER or KANA_ORDER, columns the cut and the rows both name).
_FOUND_SQL = (
    "SELECT p.id, p.login_id, p.name, p.edition, p.role, p.contract_number, p.company, p.kana,"  # noqa: S608
    " a.kind, a.serial, a.locked_at IS NOT NULL FROM ("
    "SELECT u.id, u.login_id, u.name, u.edition, u.role, c.contract_number, k.name AS company, k.kana,"
    " c.customer_id, u.account_key"
    f" FROM {User._meta.db_table} u"
    f" JOIN {Contract._meta.db_table} c ON c.id = u.contract_id"
    f" JOIN {Customer._meta.db_table} k ON k.id = c.customer_id"
    " WHERE {condition}{cut}) p"
    f" LEFT JOIN {Registration._meta.db_table} r ON r.user_id = p.id AND r.revoked_at IS NULL"
    f" LEFT JOIN {Authenticator._meta.db_table} a ON a.id = r.authenticator_id"
    " ORDER BY {outer_order}"
)
# Customer users by login ID, contract number or serial (each through its unique or plain index),
# written once like the rows: the ORM took 0.6 ms to build this union.
_EXACT_SQL = (
    f"SELECT id FROM {User._meta.db_table} WHERE contract_id IS NOT NULL AND login_id = %s"  # noqa: S608
    f" UNION SELECT u.id FROM {User._meta.db_table} u"
    f" JOIN {Contract._meta.db_table} c ON c.id = u.contract_id"
    " WHERE c.contract_number = %s"
    f" UNION SELECT r.user_id FROM {Registration._meta.db_table} r"
    f" JOIN {Authenticator._meta.db_table} a ON a.id = r.authenticator_id WHERE a.serial = %s"
)
# How many users each customer has (the numbers before a page beyond the first).
_SIZES_SQL = (
    f"SELECT c.customer_id, COUNT(*) FROM {User._meta.db_table} u"  # noqa: S608
    f" JOIN {Contract._meta.db_table} c ON c.id = u.contract_id WHERE {{condition}} GROUP BY c.customer_id"
)
KANA_ORDER = ("kana", "customer_id", "account_key")
ROW_ORDER = ("account_key",)
# A page reached by its Next link starts after the last user of the page before, in KANA_ORDER:
# that user's position (the key below) instead of an offset, so page 5 costs what page 1 costs
# (an offset of 80 made the customers of four pages be found, counted and skipped: 7 ms for
# 「シヨウジ」 at 1,000,000 users against 1 ms for its first page).
_POSITION_SQL = (
    f"SELECT k.kana, c.customer_id, u.account_key FROM {User._meta.db_table} u"  # noqa: S608
    f" JOIN {Contract._meta.db_table} c ON c.id = u.contract_id"
    f" JOIN {Customer._meta.db_table} k ON k.id = c.customer_id WHERE u.id = %s"
)
_AFTER_POSITION = "(k.kana, c.customer_id, u.account_key) > (%s, %s, %s)"
# Next links carry the positions of the pages before, for their Previous links: up to this many.
MAX_TRAIL = 100


def _found_users(
    condition: str,
    params: list,
    order_by: tuple[str, ...],
    start: int = 0,
    stop: int | None = None,
    *,
    prepare: bool = True,
) -> list[FoundUser]:
    """Return a slice of the users meeting `condition` (SQL over u, c and k) as result rows, in one statement.

    One row per user: at most one active registration each (a database constraint), and
    customer users only (a contract, and through it a company). The statement is written once:
    built by the ORM on every search, its joins cost 0.9 ms. With a fixed `condition` (the
    lists of `_in`) it is prepared once per connection on PostgreSQL (planning took 0.7-0.9 ms);
    not with a LIKE in it, whose selectivity a generic plan cannot see.
    """
    cut = ""  # all of them: ordered once, outside
    if stop is not None:
        cut, params = f" ORDER BY {', '.join(order_by)} LIMIT %s OFFSET %s", [*params, stop - start, start]
    outer_order = ", ".join(f"p.{column}" for column in order_by)
    sql = _FOUND_SQL.format(condition=condition, cut=cut, outer_order=outer_order)
    with connection.cursor() as cursor:
        if prepare:
            statements.execute(connection, cursor, sql, params)
        else:
            cursor.execute(sql, params)
        return [FoundUser(*row[:-1], locked=bool(row[-1])) for row in cursor.fetchall()]


def _in(column: str, ids, *, negate: bool = False) -> tuple[str, list]:
    """Return `column IN (…)` (or NOT IN); an empty list matches nothing (NOT: everything).

    On PostgreSQL one array parameter (`= ANY`, `<> ALL`): the text stays the same whatever the
    ids, so the statement is prepared once. Elsewhere one parameter per id.
    """
    ids = list(ids)
    if connection.vendor == "postgresql":
        return (f"{column} <> ALL(%s)" if negate else f"{column} = ANY(%s)"), [ids]
    if not ids:
        return ("1 = 1" if negate else "1 = 0"), []
    return f"{column} {'NOT IN' if negate else 'IN'} ({', '.join(['%s'] * len(ids))})", ids


@dataclass
class SearchResult:
    query: str
    exact: list[FoundUser] = field(default_factory=list)
    partial: list[FoundUser] = field(default_factory=list)
    page: int = 1
    has_next: bool = False
    # The last user of each page before this one (each page's position), when it was reached by
    # Next links; empty when it was asked for by its number.
    trail: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.exact and not self.partial

    def _link(self, page: int, trail: tuple[int, ...]) -> str:
        parameters = {"q": self.query, "page": page}
        if trail and len(trail) <= MAX_TRAIL:
            parameters["after"] = ",".join(map(str, trail))
        return urlencode(parameters)

    @property
    def next_link(self) -> str:
        """The query string of the next page: where it starts, and where the pages before it did."""
        known = len(self.trail) == self.page - 1  # reached by Next links (page 1: by none)
        return self._link(self.page + 1, (*self.trail, self.partial[-1].pk) if known and self.partial else ())

    @property
    def previous_link(self) -> str:
        return self._link(self.page - 1, self.trail[:-1])


def search(raw: str, page: int = 1, trail: tuple[int, ...] = ()) -> SearchResult:
    """Find customer users by exact login ID, contract number or serial, or part of a company name or kana.

    Exact matches come first on the first page; each goes through a unique or plain index.
    Company name and kana parts find the page's customers first (in kana order, through the
    kana order or the trigram and bigram indexes on PostgreSQL), then only their users, and
    are paginated without a count: a broad word costs one page, not a million rows. `trail`:
    the last user of each page before (the Next links' `after`); the page starts after the
    last of them. Without it, or if it does not lead to this page, the page is counted out.
    """
    query = normalize_query(raw)[:MAX_QUERY]
    result = SearchResult(query=query, page=page)
    if not query:
        return result
    # One round trip for the three exact kinds; every holder of the serial, past ones too. On
    # every page: listed on the first, they are left out of the company pages on all of them.
    with connection.cursor() as cursor:
        statements.execute(connection, cursor, _EXACT_SQL, [normalize_login_id(query), query, query.upper()])
        exact_ids = {pk for (pk,) in cursor.fetchall()}
    if exact_ids and page == 1:
        condition, params = _in("u.id", exact_ids)
        result.exact = _found_users(condition, params, ROW_ORDER)
    if len(query) >= MIN_PARTIAL:
        position = _position(trail[-1]) if trail and len(trail) == page - 1 else None
        if position is not None:
            result.trail = tuple(trail)
        result.partial, result.has_next = _partial_page(query, page, exact_ids, position)
    return result


def _position(pk: int) -> tuple | None:
    """Return the customer user's place in KANA_ORDER, or None if there is no such user."""
    with connection.cursor() as cursor:
        statements.execute(connection, cursor, _POSITION_SQL, [pk])
        return cursor.fetchone()


def matching_customers(query: str):
    """Customers whose name or kana contains the words (trigram or bigram indexes on PostgreSQL)."""
    kana = to_katakana(query)
    if len(query) == 2 and connection.vendor == "postgresql":
        # Two characters have no trigram: each name's set of two-character parts (contracts 0005).
        words = Func(Upper(Value(query)), template="ARRAY[%(expressions)s]", output_field=BIGRAMS)
        return (
            Customer.objects.alias(
                name_bigrams=Func(Upper("name"), function="jweb_bigrams", output_field=BIGRAMS),
                kana_bigrams=Func("kana", function="jweb_bigrams", output_field=BIGRAMS),
            )
            .filter(Q(name_bigrams__contains=words) | Q(kana_bigrams__contains=[kana]))
            .order_by()
        )
    # The lookups write exactly the expressions the indexes of migration contracts 0004 cover.
    return Customer.objects.filter(Q(name__icontains=query) | Q(kana__contains=kana)).order_by()


# A word that matches densely (株式会社, a frequent trade) fills a page among the first customers in
# kana order: this many, at least, are read through the index customer_kana_order (contracts
# 0005) before the matches are looked up instead (0.5 ms for 1,000 at 1,000,000 users).
WALK_ROWS = 1000
WALK_RATIO = 10  # and ten per customer asked for: a word found in one customer in ten is dense
# Up to this many matches are fetched through the trigram or bigram indexes and sorted by kana
# (3 ms for the 2,268 of 「商事」); a word that matches more is frequent enough to walk on.
# Not much lower: told that only the first few hundred of thousands estimated are needed, the
# planner scans the table instead of the indexes, to its end if the estimate was wrong (at
# 1,000,000 users 「デンセ」 with a limit of 300: 15,097 customers read for 301 matches, 9 ms).
SORT_LIMIT = 3000
# A word found in the walk, but too few times for the page, is walked on (from its last match)
# for as many rows again as its density says the rest needs, times this margin, up to
# WALK_ON_ROWS; beyond that, or if the rest is not there, its matches are sorted instead.
WALK_ON_MARGIN = 1.5
WALK_ON_ROWS = 2000
WHOLE_ORDER = 2**62  # as a walk's bound: no bound
# Pages that need more customers than this (page 150 of a word each customer has one user of)
# are read the old way, in one query: nobody pages that far, but the form lets them.
MAX_PAGE_CUSTOMERS = 3000


# "The name or the kana contains the words" over a customer row, written once: the conditions
# of matching_customers (on PostgreSQL the expressions the indexes of contracts 0004 and 0005
# cover; on SQLite, whose LIKE folds ASCII letters anyway, with UPPER as well). Built by the ORM
# on every search, the statement cost 0.4-0.8 ms. test_search_pages checks that both agree.
_CONTAINS = "UPPER(name) LIKE UPPER(%s) ESCAPE '\\' OR kana LIKE %s ESCAPE '\\'"
_CONTAINS_BIGRAMS = "jweb_bigrams(UPPER(name)) @> ARRAY[UPPER(%s)] OR jweb_bigrams(kana) @> ARRAY[%s]::text[]"


def _contains(query: str, *, indexed: bool = True) -> tuple[str, list]:
    """Return the condition that a customer's name or kana contains the words, with its parameters.

    `indexed`: as the indexes read it (two characters by bigrams on PostgreSQL); otherwise as
    a LIKE, for rows already at hand (the walk's).
    """
    kana = to_katakana(query)
    if indexed and len(query) == 2 and connection.vendor == "postgresql":
        return _CONTAINS_BIGRAMS, [query, kana]
    like = connection.ops.prep_for_like_query
    return _CONTAINS, [f"%{like(query)}%", f"%{like(kana)}%"]


def _from(start: tuple | None) -> tuple[str, list]:
    """Return the condition that a customer comes at `start` (kana, id) or after it in kana order."""
    if start is None:
        return "1 = 1", []
    return "(kana, id) >= (%s, %s)", list(start)


def _walk_kana_order(query: str, rows: int, count: int, start: tuple | None = None) -> list[tuple[int, str]]:
    """Return the first `count` matching customers (id, kana) among the first `rows` in kana order (from `start`)."""
    # A subquery with a LIMIT bounds the walk: ordered by kana with a LIMIT, the planner would
    # walk the whole kana order when the matches lie at its end (東京 read 27,638 customers).
    table = connection.ops.quote_name(Customer._meta.db_table)
    contains, params = _contains(query, indexed=False)
    after, after_params = _from(start)
    sql = (
        f"SELECT id, kana FROM (SELECT id, kana, name FROM {table} WHERE {after} ORDER BY kana, id LIMIT %s) walked"  # noqa: S608
        f" WHERE {contains} ORDER BY kana, id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*after_params, rows, *params, count])
        return cursor.fetchall()


def _sort_matches(query: str, count: int, start: tuple | None = None) -> list[int] | None:
    """Return the first `count` matching customers in kana order (from `start`); None if over SORT_LIMIT match."""
    table = connection.ops.quote_name(Customer._meta.db_table)
    contains, params = _contains(query)
    after, after_params = _from(start)
    sql = (
        f"SELECT id, COUNT(*) OVER () FROM (SELECT id, kana FROM {table} WHERE ({contains}) AND {after}"  # noqa: S608
        " LIMIT %s) found ORDER BY kana, id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *after_params, SORT_LIMIT + 1, count])
        rows = cursor.fetchall()
    if rows and rows[0][1] > SORT_LIMIT:
        return None
    return [pk for pk, _ in rows]


def first_matching_customers(query: str, count: int, start: tuple | None = None) -> list[int]:
    """Return the first `count` customers in kana order (from `start`: kana, id) whose name or kana has the words."""
    # Whichever is cheaper for the word: a dense one is found at once in kana order, a rare one
    # through the indexes (cost ∝ its matches). A broad word clustered in kana order (a place's
    # reading at the start of a name) is neither: walk on until its matches begin. Latin letters
    # and digits (user IDs, contract numbers and serials go in the same box) are rare in
    # registered company names: their matches are looked up at once.
    if not query.isascii():
        rows = max(WALK_ROWS, WALK_RATIO * count)
        walked = _walk_kana_order(query, rows, count, start)
        if walked and len(walked) < count:
            walked += _walk_further(query, walked, rows, count)
        if len(walked) == count:
            return [pk for pk, _ in walked]
    rare = _sort_matches(query, count, start)
    if rare is not None:
        return rare
    return [pk for pk, _ in _walk_kana_order(query, WHOLE_ORDER, count, start)]


def _walk_further(query: str, walked: list[tuple[int, str]], rows: int, count: int) -> list[tuple[int, str]]:
    """Return the matches that follow the walk's last, if the walk's density says they are near; else none."""
    # Most words fill a page in the first thousand customers, or nearly (「コウサ」: 16 of 21
    # there, 2,314 in all; sorting them all took 6 ms against 0.5 ms for a thousand more
    # rows). At the density found so far, walk on far enough for the rest, with a margin.
    further = math.ceil(WALK_ON_MARGIN * (count - len(walked)) * rows / len(walked))
    if further > WALK_ON_ROWS:
        return []  # too rare here: the indexes find it cheaper
    last, kana = walked[-1]
    more = [row for row in _walk_kana_order(query, further, count - len(walked) + 1, (kana, last)) if row[0] != last]
    return more if len(walked) + len(more) == count else []


def _partial_page(query: str, page: int, exact_ids: set[int], position: tuple | None = None) -> tuple[list, bool]:
    """Return one page of the users of matching customers (by kana), and whether more follow.

    `position`: the page starts after this user's place in KANA_ORDER (kana, customer, account
    key) instead of after (page - 1) pages counted out.
    """
    offset = 0 if position else (page - 1) * PER_PAGE
    wanted = PER_PAGE + 1  # the page and one more user, which tells whether a next page follows
    # The customers first, then their users: a customer has users, so the first offset + wanted
    # matching customers hold this page and the user after it.
    count = offset + wanted
    others, other_params = _in("u.id", exact_ids, negate=True)  # the exact matches are listed above
    start = None
    if position:
        # From the customer of the user before, whose next users may open the page; it may have
        # none left (the page before ended on its last user): one customer more.
        start, count = position[:2], wanted + 1
        others, other_params = f"{others} AND {_AFTER_POSITION}", [*other_params, *position]
    while count <= MAX_PAGE_CUSTOMERS:
        customer_ids = first_matching_customers(query, count, start)
        page_ids, skip = customer_ids, offset
        if offset:
            # Page 5 of a broad word: count the users of its 101 customers through an index rather
            # than fetch and sort a thousand, then fetch those of the customers around the page.
            customers, customer_params = _in("c.customer_id", customer_ids)
            with connection.cursor() as cursor:
                statements.execute(
                    connection,
                    cursor,
                    _SIZES_SQL.format(condition=f"{customers} AND {others}"),
                    [*customer_params, *other_params],
                )
                sizes = dict(cursor.fetchall())
            page_ids, skip = _customers_around(customer_ids, sizes, offset, wanted)
        customers, customer_params = _in("c.customer_id", page_ids)
        found = (
            _found_users(
                f"{customers} AND {others}", [*customer_params, *other_params], KANA_ORDER, skip, skip + wanted
            )
            if page_ids
            else []  # no customer matches: no statement
        )
        # A short page with as many customers as asked for means that some had no user left (none
        # yet, only exact matches, or only users before the position): ask for more customers.
        if len(found) == wanted or len(customer_ids) < count:
            return found[:PER_PAGE], len(found) == wanted
        count *= 4
    # Page 150 and beyond: one ordered query over every matching customer's users, rather than
    # lists of thousands of customer ids (slow on PostgreSQL, refused by SQLite past 32,766).
    matching, matching_params = matching_customers(query).values("pk").query.sql_with_params()
    found = _found_users(
        f"c.customer_id IN ({matching}) AND {others}",
        [*matching_params, *other_params],
        KANA_ORDER,
        offset,
        offset + wanted,
        prepare=False,
    )
    return found[:PER_PAGE], len(found) == wanted


def _customers_around(customer_ids: list[int], sizes: dict[int, int], offset: int, wanted: int) -> tuple[list, int]:
    """Return the customers whose users take positions offset to offset + wanted - 1, and how many users precede."""
    around, skip, position = [], 0, 0
    for pk in customer_ids:
        size = sizes.get(pk, 0)
        if position + size > offset and position < offset + wanted:
            if not around:
                skip = offset - position
            around.append(pk)
        position += size
    return around, skip


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
