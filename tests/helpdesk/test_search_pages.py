"""Company name and kana pages: customers first, then their users, the same pages whichever way they are found."""

from __future__ import annotations

import random
from urllib.parse import parse_qs

import pytest
from django.db.models import Q

from jweboffice.contracts.models import Contract, Customer, Edition, User
from jweboffice.helpdesk import flows
from jweboffice.statements import statement_of
from tests.conftest import add_users

# (name, kana, users): kana order is the order of the results. 「株式会社」 is in every name,
# 「商事」 in one in three, 「東京」 at the end of the kana order (トウキヨウ...); some customers
# have no user, four of them first in kana order, and user "abc" of ABC商事 is also an exact match.
COMPANIES = [
    *((f"アイ空{n}株式会社", f"アイカラ{n}(カ", 0) for n in range(4)),
    *((f"アイ空{n}株式会社", f"アイカラ{n}(カ", 2) for n in range(4, 6)),
    *((f"アオバ{n:02d}{'商事' if n % 3 == 0 else '物産'}株式会社", f"アオバ{n:02d}(カ", n % 4) for n in range(24)),
    ("ABC商事株式会社", "エービーシーシヨウジ(カ", 5),
    *((f"株式会社東京{n:02d}", f"トウキヨウ{n:02d}(カ", (n + 1) % 3) for n in range(12)),
]


@pytest.fixture
def companies(db) -> list[Customer]:
    customers = []
    for number, (name, kana, users) in enumerate(COMPANIES):
        customer = Customer.objects.create(name=name, kana=kana, cif_number=f"{number:07d}")
        contract = Contract.objects.create(customer=customer, edition=Edition.FX, contract_number=f"F-{number:07d}")
        add_users(contract, users, start=number * 10)
        customers.append(customer)
    abc = User.objects.filter(contract__customer__name="ABC商事株式会社").order_by("pk").first()
    User.objects.filter(pk=abc.pk).update(login_id="abc", account_key="fx:abc")
    return customers


def one_ordered_query(words: str, page: int, exact_ids: set[int]) -> tuple[list[int], bool]:
    """The page as the single ordered query over every matching customer's users (the search before)."""
    offset = (page - 1) * flows.PER_PAGE
    matching = Customer.objects.filter(Q(name__icontains=words) | Q(kana__contains=flows.to_katakana(words)))
    users = list(
        User.objects.filter(contract__customer__in=matching)
        .exclude(pk__in=exact_ids)
        .order_by("contract__customer__kana", "contract__customer_id", "account_key")
        .values_list("pk", flat=True)[offset : offset + flows.PER_PAGE + 1]
    )
    return users[: flows.PER_PAGE], len(users) > flows.PER_PAGE


@pytest.fixture
def ways(monkeypatch) -> list[str]:
    """Record how each search found its customers: walk (bounded or not), or sort."""
    taken = []
    walk, sort = flows._walk_kana_order, flows._sort_matches

    def walk_kana_order(query, rows, count, start=None):
        taken.append("walk on" if rows == flows.WHOLE_ORDER else "walk")
        return walk(query, rows, count, start)

    def sort_matches(query, count, start=None):
        taken.append("sort")
        return sort(query, count, start)

    monkeypatch.setattr(flows, "_walk_kana_order", walk_kana_order)
    monkeypatch.setattr(flows, "_sort_matches", sort_matches)
    monkeypatch.setattr(flows, "PER_PAGE", 3)  # many pages out of few users
    return taken


@pytest.mark.parametrize(
    ("words", "walk_rows", "walk_on_rows", "sort_limit", "way"),
    [
        ("株式会社", 1000, 0, 3000, ["walk"]),  # dense: found among the first customers in kana order
        ("とうきよう", 0, 0, 3000, ["walk", "sort"]),  # at the end of the kana order: through the indexes
        ("東京", 0, 0, 3000, ["walk", "sort"]),  # two characters: the bigram indexes on PostgreSQL
        ("東京", 0, 0, 5, ["walk", "sort", "walk on"]),  # too many to sort: walk the kana order on
        ("商事", 0, 0, 3000, ["walk", "sort"]),
        ("商事", 8, 2000, 3000, ["walk", "walk"]),  # once in the first 8 customers: walked on to the rest
        ("商事", 8, 10, 3000, ["walk", "sort"]),  # the rest too far for its density: sorted
        ("abc", 1000, 0, 3000, ["sort"]),  # Latin letters: through the indexes; user abc (exact) not repeated
    ],
)
@pytest.mark.parametrize("follow", ["page numbers", "next links"])
def test_pages_are_those_of_one_ordered_query(
    companies, ways, monkeypatch, words, walk_rows, walk_on_rows, sort_limit, way, follow
):
    monkeypatch.setattr(flows, "WALK_ROWS", walk_rows)
    monkeypatch.setattr(flows, "WALK_RATIO", 1)
    monkeypatch.setattr(flows, "WALK_ON_ROWS", walk_on_rows)
    monkeypatch.setattr(flows, "SORT_LIMIT", sort_limit)
    exact_ids = {user.pk for user in flows.search(words).exact}  # listed on page 1, left out of every page
    page, trail, pages = 1, (), []
    while True:
        ways.clear()
        result = flows.search(words, page, trail)
        assert ([user.pk for user in result.partial], result.has_next) == one_ordered_query(words, page, exact_ids)
        if page == 1 or follow == "page numbers":  # from a position, fewer matches are left to sort
            assert ways[: len(way)] == way, (page, ways)
        pages.append(result.partial)
        if not result.has_next:
            break
        page, trail = next_page(result) if follow == "next links" else (page + 1, ())
        assert page == result.page + 1
    assert len(pages) > 1 and pages[-1]
    assert flows.search(words, page + 1).partial == []


def next_page(result: flows.SearchResult, link: str = "next") -> tuple[int, tuple[int, ...]]:
    """Return the page number and trail a result's Next (or Previous) link asks for."""
    parameters = parse_qs(result.next_link if link == "next" else result.previous_link)
    assert parameters["q"] == [result.query]
    after = parameters.get("after", [""])[0]
    return int(parameters["page"][0]), tuple(int(pk) for pk in after.split(",") if pk)


def test_a_page_reached_by_its_next_link_counts_out_no_page_before(companies, ways, django_assert_max_num_queries):
    # Page 5 by its number: the customers of five pages found and their users counted, then
    # the page cut out of them. By the Next link of page 4: found from where page 4 ended.
    trail, numbered = (), []
    for page in range(1, 6):
        result = flows.search("株式会社", page, trail)
        numbered = flows.search("株式会社", page)
        assert result.partial == numbered.partial and result.has_next == numbered.has_next
        page, trail = next_page(result)
    ways.clear()
    with django_assert_max_num_queries(4) as queries:  # exact kinds, position, walk, page's users
        result = flows.search("株式会社", 6, trail)
    assert len(trail) == 5 and result.trail == trail
    assert not any("GROUP BY" in statement_of(query["sql"]) for query in queries.captured_queries)
    assert ways == ["walk"]
    assert [user.pk for user in result.partial] == one_ordered_query("株式会社", 6, set())[0]


def test_a_next_link_asks_once_when_each_customer_has_one_user(db, django_assert_max_num_queries):
    # The page before ended on its customer's last user: that customer opens the next page's
    # customers with none left, and one customer more keeps the page from coming back short.
    for number in range(50):
        customer = Customer.objects.create(name=f"株式会社{number}", kana=f"カ{number:02d}", cif_number=f"{number:07d}")
        contract = Contract.objects.create(customer=customer, edition=Edition.FX, contract_number=f"F-{number:07d}")
        add_users(contract, 1, start=number)
    page, trail = next_page(flows.search("株式会社"))
    with django_assert_max_num_queries(4):  # exact kinds, position, walk, the page's users
        result = flows.search("株式会社", page, trail)
    assert [user.pk for user in result.partial] == one_ordered_query("株式会社", 2, set())[0]


def test_previous_links_lead_back_to_the_same_pages(companies, ways):
    trail, seen = (), {}
    for page in range(1, 5):
        result = flows.search("株式会社", page, trail)
        seen[page] = [user.pk for user in result.partial]
        if page > 1:
            back, back_trail = next_page(result, "previous")
            assert back == page - 1 and back_trail == trail[:-1]
            assert [user.pk for user in flows.search("株式会社", back, back_trail).partial] == seen[page - 1]
        page, trail = next_page(result)


@pytest.mark.parametrize(
    "trail",
    [
        (10**9,),  # nobody
        (1, 2),  # two pages before page 2
    ],
)
def test_a_trail_that_does_not_lead_to_the_page_counts_it_out(companies, trail):
    # Typed or stale: the page is found by its number, and its links by number too.
    result = flows.search("株式会社", 2, trail)
    assert [user.pk for user in result.partial] == one_ordered_query("株式会社", 2, set())[0]
    assert result.trail == () and "after" not in parse_qs(result.next_link)


def test_next_links_stop_carrying_the_trail_when_it_grows_too_long(companies, monkeypatch):
    monkeypatch.setattr(flows, "MAX_TRAIL", 2)
    trail = ()
    for page in range(1, 4):
        result = flows.search("株式会社", page, trail)
        page, trail = next_page(result)
    assert page == 4 and trail == ()  # page 4 is counted out
    assert [user.pk for user in flows.search("株式会社", 4).partial] == one_ordered_query("株式会社", 4, set())[0]


def test_customers_without_users_are_passed_over(companies, ways):
    # The four customers asked for first have no user: the search asks for more.
    result = flows.search("アイ空", 1)
    assert ([user.pk for user in result.partial], result.has_next) == one_ordered_query("アイ空", 1, set())
    assert len(result.partial) == 3 and result.has_next
    assert ways.count("walk") == 2


@pytest.mark.parametrize("words", ["株式会社", "アイ空"])
def test_far_pages_are_read_in_one_query_and_are_the_same(companies, ways, monkeypatch, words):
    monkeypatch.setattr(flows, "MAX_PAGE_CUSTOMERS", 12)
    for page in range(1, 8):
        ways.clear()
        result = flows.search(words, page)
        assert ([user.pk for user in result.partial], result.has_next) == one_ordered_query(words, page, set())
        # From page 4 on, a page needs 13 customers or more: the customers step is skipped.
        assert bool(ways) == (page <= 3), (page, ways)


def test_a_page_beyond_the_last_is_empty(companies):
    result = flows.search("株式会社", 500)
    assert result.partial == [] and not result.has_next


def test_found_users_carry_what_the_table_shows(companies, fx_user, fx_totp):
    (found,) = flows.search("taro01").exact
    assert (found.pk, found.login_id, found.edition, found.role, found.contract_number) == (
        fx_user.pk,
        "taro01",
        Edition.FX,
        User.Role.MANAGER,
        "F-0012345-01",
    )
    assert (found.company, found.kana) == ("常陽商事株式会社", "ジヨウヨウシヨウジ(カ")
    assert (found.method, found.serial, found.locked) == ("totp", fx_totp.authenticator.serial, False)
    assert flows.search("taro01").partial == []


def test_a_search_that_finds_nobody_asks_twice(companies, django_assert_num_queries):
    with django_assert_num_queries(2):  # the exact kinds, the matching customers; no users of none
        assert flows.search("zq000001").empty


def test_a_page_of_a_word_asks_at_most_five_times(companies, django_assert_max_num_queries):
    # Exact kinds, the walk, the walk on from its last match, the indexes' matches, the page's users.
    with django_assert_max_num_queries(5):
        assert flows.search("商事").partial


WORDS = ["株式会社", "東京", "とうきよう", "商事", "abc", "ABC", "(カ", "アイ空", "ウキ"]
# LIKE's wildcards and escape character, in names and in words, are matched as themselves.
LITERALS = ["%", "_", "\\", "100%", "0%商", "a_b", "k\\s", "%純"]


@pytest.mark.parametrize("words", WORDS + LITERALS)
def test_the_written_statements_find_what_the_orm_finds(companies, words):
    # The walk and the sort write the conditions of matching_customers by hand (the ORM cost
    # 0.4-0.8 ms a search to build them): the same customers, in the same kana order.
    for number, name in enumerate(["100%商事株式会社", "a_b株式会社", "k\\s工業株式会社", "純%物産株式会社"]):
        Customer.objects.create(name=name, kana=f"リテラル{number}(カ", cif_number=f"9{number:06d}")
    expected = list(flows.matching_customers(words).order_by("kana", "id").values_list("id", flat=True))
    assert expected or words == "%純"  # 「純%」 does not contain 「%純」
    assert flows._sort_matches(words, 100) == expected
    assert [pk for pk, _ in flows._walk_kana_order(words, flows.WHOLE_ORDER, 100)] == expected


def test_found_users_read_the_same_by_key_as_by_attribute(companies):
    # Templates try person["login_id"] before person.login_id.
    (found, *_) = flows.search("株式会社").partial
    assert [found[name] for name in ("pk", "login_id", "company", "kana")] == [
        found.pk,
        found.login_id,
        found.company,
        found.kana,
    ]
    with pytest.raises(KeyError):
        found["password"]


def varied_customers(seed: int) -> None:
    """Sixty customers with shared kana (ties), none to five users, some in both editions."""
    rng = random.Random(seed)
    kanas = ["アイ", "アオ", "アオ", "カキ", "カキ", "カキ", "サシ", "ソウ", "ソウ", "トウ"]
    for number in range(60):
        trade = rng.choice(["シヨウジ", "ブツサン"])
        customer = Customer.objects.create(
            name=f"{'商事' if trade == 'シヨウジ' else '物産'}{number}株式会社",
            kana=f"{rng.choice(kanas)}{trade}(カ",
            cif_number=f"{number:07d}",
        )
        for edition in rng.sample([Edition.FX, Edition.DOMESTIC], rng.choice([1, 1, 2])):
            contract = Contract.objects.create(
                customer=customer, edition=edition, contract_number=f"{edition[0].upper()}-{number:07d}"
            )
            for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 5])):
                login_id = f"u{rng.randrange(10**9):09d}"
                User.objects.create(
                    login_id=login_id,
                    account_key=f"{edition}:{login_id}",
                    edition=edition,
                    contract=contract,
                    role=User.Role.STAFF,
                    password="!",
                )


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    ("walk_rows", "walk_on_rows", "sort_limit", "max_customers"),
    [(1000, 2000, 3000, 3000), (2, 3, 3000, 3000), (0, 0, 2, 3000), (1, 5, 3000, 10)],
)
@pytest.mark.parametrize("words", ["商事", "カキ"])
@pytest.mark.parametrize("exact", [False, True])
def test_next_links_numbers_and_previous_links_give_the_same_pages(
    db, monkeypatch, seed, walk_rows, walk_on_rows, sort_limit, max_customers, words, exact
):
    # Found by review with a wider version of this test: every way to a page, every path through
    # the walk, the walk on, the sort and the far pages' single query, over ties in kana,
    # customers without users and customers whose users are exact matches (one in three).
    varied_customers(seed)
    if exact:
        monkeypatch.setattr(flows, "_EXACT_SQL", flows._EXACT_SQL.replace("login_id = %s", "id % 3 = 0 AND %s <> ''"))
    for name, value in [("PER_PAGE", 3), ("WALK_ROWS", walk_rows), ("WALK_RATIO", 1), ("WALK_ON_ROWS", walk_on_rows)]:
        monkeypatch.setattr(flows, name, value)
    monkeypatch.setattr(flows, "SORT_LIMIT", sort_limit)
    monkeypatch.setattr(flows, "MAX_PAGE_CUSTOMERS", max_customers)
    exact_ids = {user.pk for user in flows.search(words).exact}
    assert bool(exact_ids) == exact
    page, trail, seen = 1, (), {}
    while True:
        result = flows.search(words, page, trail)
        found = ([user.pk for user in result.partial], result.has_next)
        assert found == one_ordered_query(words, page, exact_ids), (page, trail)
        numbered = flows.search(words, page)
        assert ([user.pk for user in numbered.partial], numbered.has_next) == found
        seen[page] = found[0]
        if page > 1:
            back, back_trail = next_page(result, "previous")
            assert [user.pk for user in flows.search(words, back, back_trail).partial] == seen[back]
        if not result.has_next:
            break
        page, trail = next_page(result)
        assert len(trail) == page - 1
    assert page > 2
