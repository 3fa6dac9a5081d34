"""Django's database sessions, with the round trips a login does not need taken out.

The session row is what a login writes most: Django's store asks whether a fresh key exists
before inserting it, and on login (`cycle_key`) inserts a copy under a new key, reads the old
row back and deletes it — seven statements, four of them inside the transaction that marks the
code used. Here the login renames the row in the one UPDATE that saves it, a new key is
inserted without asking first (the primary key refuses a collision; Django's `create()` then
draws another), and a request that already saved exactly this data does not save it again.
Behaviour is Django's: the old key stops working at login, a session deleted meanwhile still
raises `UpdateError` (the middleware answers 400), the expiry moves on each write.
Every request reads and writes its row with statements written once: the ORM built the same
SELECT anew each time, twice as long as the database takes to answer it, and wrapped a new
row's INSERT in a transaction of its own; on PostgreSQL they are prepared once per connection.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext
from typing import NamedTuple

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.contrib.sessions.models import Session
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string

from jweboffice.statements import execute


class SessionStore(db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._stored_key: str | None = None  # the row's key while a new one waits for the next save
        self._written: tuple[str, str] | None = None  # (key, encoded data) this store last wrote

    def _get_session_from_db(self) -> Session | None:
        """Return the unexpired row of this key (its data only), or forget the key."""
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        with connection.cursor() as cursor:
            execute(
                connection,
                cursor,
                _statements(self.model, alias).select,
                [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return self.model(session_key=self.session_key, session_data=row[0])

    def _get_new_session_key(self) -> str:
        # 32 characters of 36: 165 random bits. No EXISTS query first: the INSERT that creates
        # the row (or the UPDATE that renames it) fails on the primary key in the one case in
        # 2^165 that would need it.
        return get_random_string(32, VALID_KEY_CHARS)

    def cycle_key(self) -> None:
        """Give the session a new key (at login); the next save renames its row."""
        data = self._session  # loads the row, or finds it gone (then the key is None)
        if self.session_key is None:
            super().cycle_key()
            return
        self._stored_key = self._stored_key or self.session_key
        self._session_key = self._get_new_session_key()
        self._session_cache = data
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        alias = router.db_for_write(self.model)
        connection = connections[alias]
        statements = _statements(self.model, alias)
        encoded = self.encode(self._get_session(no_load=must_create))
        if not must_create and self._written == (self.session_key, encoded):
            return  # a view saved it inside its transaction; the middleware need not again
        expiry = connection.ops.adapt_datetimefield_value(self.get_expiry_date())
        if must_create:
            try:
                # A savepoint only inside a transaction, which a refused INSERT must not spoil;
                # outside one the statement commits by itself (Django's store wraps it in a
                # transaction of its own: two more round trips).
                with transaction.atomic(using=alias) if connection.in_atomic_block else nullcontext():
                    with connection.cursor() as cursor:
                        execute(connection, cursor, statements.insert, [self.session_key, encoded, expiry])
            except IntegrityError as error:
                raise CreateError from error  # the key is taken: create() draws another
        else:
            with connection.cursor() as cursor:
                execute(
                    connection,
                    cursor,
                    statements.update,
                    [self.session_key, encoded, expiry, self._stored_key or self.session_key],
                )
                if cursor.rowcount != 1:
                    raise UpdateError  # deleted meanwhile (logged out elsewhere, or expired and cleared)
        self._stored_key, self._written = None, (self.session_key, encoded)

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self._stored_key or self.session_key
            self._stored_key = None
        self.model.objects.filter(session_key=session_key).delete()
        self._written = None


class _Statements(NamedTuple):
    select: str  # the data of an unexpired row (key, now)
    insert: str  # a new row (key, data, expiry)
    update: str  # rename and rewrite a row (new key, data, expiry, stored key)


@functools.cache
def _statements(model: type[Session], alias: str) -> _Statements:
    """Return the session row's statements on the database `alias`, identifiers from the model."""
    quote = connections[alias].ops.quote_name
    meta = model._meta
    key, data, expiry = (quote(meta.get_field(name).column) for name in ("session_key", "session_data", "expire_date"))
    table = quote(meta.db_table)
    return _Statements(
        select=f"SELECT {data} FROM {table} WHERE {key} = %s AND {expiry} > %s",  # noqa: S608
        insert=f"INSERT INTO {table} ({key}, {data}, {expiry}) VALUES (%s, %s, %s)",  # noqa: S608
        update=f"UPDATE {table} SET {key} = %s, {data} = %s, {expiry} = %s WHERE {key} = %s",  # noqa: S608
    )
