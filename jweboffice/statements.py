"""Model rows with their to-one relations, read by a statement written once per shape.

Every signed-in request reads its user with contract and customer; the login reads the user
again with their registration and authenticator. Django's ORM compiles such a select_related
query anew each time: 0.35 ms for the user's three tables, more with four, against 0.3 ms for
the database to answer. `JoinedRead` writes the statement once, from the models' metadata,
and builds the instances as a queryset does: each column through the backend's and the
field's converters, each model with `Model.from_db`, each relation cached on its parent, so
that `user.contract.customer` asks nothing more. Only for these hot reads; everything else
stays with the ORM.

On PostgreSQL these statements are prepared once per connection (`execute`), and so are the
session row's, a staff member's permissions and the help desk's fixed statements: PostgreSQL
plans an ordinary statement anew each time, 0.2 ms for the session row's SELECT, 0.35–0.5 ms
for the login's five-table read and up to 1.45 ms for the permissions, several times what
running them takes. Named prepared statements live in the database session, so the portal must reach
PostgreSQL directly or through a pooler in session mode (not PgBouncer's transaction mode).
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import DatabaseError, DataError, IntegrityError, connections, router
from django.db.models import Field, Model

_names: dict[str, str] = {}  # statement → its name, the same on every connection of the process
_named: dict[str, str] = {}  # and back
_naming = threading.Lock()
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # driver connection → names prepared on it
_EXECUTE = re.compile(r"EXECUTE (jweb_\d+)\b")


def execute(connection, cursor, sql: str, params: Sequence) -> None:
    """Run `sql` on `cursor`; on PostgreSQL, as a statement prepared once per connection.

    `sql` is a fixed text (each statement becomes a prepared statement of its own), its values
    in `params`, each placeholder %s where PostgreSQL can tell its type (compared with a column).
    The first use on a connection sends PREPARE (past Django's query log and execute
    wrappers: what a request counts stays the same whichever request came first); every use
    sends EXECUTE with the parameters. A prepared statement outlives a rolled-back
    transaction, and a new connection (after an error, or CONN_MAX_AGE) prepares again.
    A statement that fails for its own sake (stale after a migration changed a column's type,
    or dropped by a pooler's DISCARD ALL) fails that once: the connection's statements are
    deallocated and prepared afresh at its next use, not after CONN_MAX_AGE.
    """
    if connection.vendor != "postgresql" or "%%" in sql:
        cursor.execute(sql, params)
        return
    name = _names.get(sql)
    if name is None:
        with _naming:
            name = _names.setdefault(sql, f"jweb_{len(_names) + 1}")
            _named[name] = sql
    count = sql.count("%s")
    driver = connection.connection
    prepared = _prepared.get(driver)
    try:
        if prepared is None:
            if driver in _prepared:  # gone stale: drop whatever is left of them first
                with connection.wrap_database_errors, driver.cursor() as raw:
                    raw.execute("DEALLOCATE ALL")
            prepared = _prepared[driver] = set()
        if name not in prepared:
            numbers = itertools.count(1)
            text = re.sub("%s", lambda _: f"${next(numbers)}", sql)
            with connection.wrap_database_errors, driver.cursor() as raw:
                raw.execute(f"PREPARE {name} AS {text}")
            prepared.add(name)
        cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}", params)
    except (IntegrityError, DataError):
        raise  # the data's fault (a key taken, a value out of range), not the statement's
    except DatabaseError:
        _prepared[driver] = None
        raise


def statement_of(logged: str) -> str:
    """Return the statement a logged `EXECUTE jweb_N(…)` ran (anything else as it is)."""
    match = _EXECUTE.match(logged)
    return _named[match.group(1)] if match else logged


@dataclass(frozen=True)
class _Part:
    model: type[Model]
    alias: str
    fields: tuple[Field, ...]
    parent: int | None  # the part whose foreign key points here
    link: Field | None  # that foreign key


class JoinedRead:
    """Read one `model` row with the to-one relations named as in select_related ("contract__customer")."""

    def __init__(self, model: type[Model], *relations: str) -> None:
        self.model = model
        parts = [_Part(model, "t0", tuple(model._meta.concrete_fields), None, None)]
        for relation in relations:
            parent = 0
            for name in relation.split("__"):
                link = parts[parent].model._meta.get_field(name)
                known = next((i for i, part in enumerate(parts) if part.parent == parent and part.link == link), None)
                if known is None:
                    related = link.related_model
                    parts.append(_Part(related, f"t{len(parts)}", tuple(related._meta.concrete_fields), parent, link))
                    known = len(parts) - 1
                parent = known
        self.parts = tuple(parts)

    def one(self, where: str, params: list, *, order_by: str = "") -> Model | None:
        """Return the first row meeting `where` (SQL over the aliases t0, t1, …; t0 is the model's table), or None."""
        db = router.db_for_read(self.model)
        connection = connections[db]
        sql, converters = self._statement(db, where, order_by)
        with connection.cursor() as cursor:
            execute(connection, cursor, sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for index, column in converters:
            # Looked up on this request's connection (a cached bound method would be another thread's).
            for function in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
                row[index] = function(row[index], column, connection)
        instances: list[Model | None] = []
        start = 0
        for part in self.parts:
            values = row[start : start + len(part.fields)]
            start += len(part.fields)
            present = values[part.fields.index(part.model._meta.pk)] is not None  # else a NULL foreign key
            parent = instances[part.parent] if part.parent is not None else None
            instance = part.model.from_db(db, [field.attname for field in part.fields], values) if present else None
            if part.link is not None and parent is not None:
                part.link.set_cached_value(parent, instance)
            instances.append(instance)
        return instances[0]

    @functools.cache  # noqa: B019 - a few module-level reads, each with a few statements, for the process's life
    def _statement(self, db: str, where: str, order_by: str) -> tuple[str, list]:
        connection = connections[db]
        quote = connection.ops.quote_name
        columns, converters = [], []
        for part in self.parts:
            for field in part.fields:
                column = field.get_col(part.alias)
                if connection.ops.get_db_converters(column) + column.get_db_converters(connection):
                    converters.append((len(columns), column))
                columns.append(f"{part.alias}.{quote(field.column)}")
        tables = [f"{quote(self.model._meta.db_table)} t0"]
        for part in self.parts[1:]:
            parent = self.parts[part.parent]
            target = quote(part.link.target_field.column)
            tables.append(
                f"LEFT JOIN {quote(part.model._meta.db_table)} {part.alias}"
                f" ON {part.alias}.{target} = {parent.alias}.{quote(part.link.column)}"
            )
        sql = f"SELECT {', '.join(columns)} FROM {' '.join(tables)} WHERE {where}"  # noqa: S608 (metadata only)
        return f"{sql}{f' ORDER BY {order_by}' if order_by else ''} LIMIT 1", converters
