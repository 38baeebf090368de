"""Hand-written, parameterised SQL for the few lookups on every API request.

Building and compiling an ORM query costs a request more CPU than PostgreSQL spends running it
(bench/bench_submit_throughput.py); the lookups that authenticate a key and resolve a submission's
profile and team are fixed, so they are written once here.  ``Columns`` lists a model's concrete
columns for a SELECT and turns them back into a model instance with the same database converters
the ORM applies (datetimes and booleans on SQLite, JSON on PostgreSQL), so the objects are the ones
the ORM would have built.  Every value is a query parameter, never formatted into the SQL.
"""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import AutoField, BigAutoField, SmallAutoField

AUTO_FIELDS = (AutoField, BigAutoField, SmallAutoField)


def current():
    """This thread's database connection, looked up once per call: every attribute read through
    ``django.db.connection`` (a proxy) repeats the lookup, and the fields read it dozens of times
    per row."""
    return connections[DEFAULT_DB_ALIAS]


class Columns:
    """The concrete columns of ``model`` under table alias ``alias`` (or only the fields ``names``)."""

    def __init__(self, model, alias: str, names: tuple[str, ...] = ()):
        self.model = model
        self.alias = alias
        self.fields = [model._meta.get_field(n) for n in names] if names else list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self._converters: dict[str, list] = {}
        self._select: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def select(self) -> str:
        connection = current()
        found = self._select.get(connection.vendor)
        if found is None:
            quote = connection.ops.quote_name
            found = ", ".join(f"{quote(self.alias)}.{quote(f.column)}" for f in self.fields)
            self._select[connection.vendor] = found
        return found

    def table(self) -> str:
        quote = current().ops.quote_name
        return f"{quote(self.model._meta.db_table)} {quote(self.alias)}"

    def converters(self, connection) -> list:
        """(position, converters, column) for each column that needs converting, per database vendor.

        Built once with the first thread's connection: the backends' converters depend only on the
        vendor and the settings (e.g. the time zone), and each call passes the current connection.
        """
        found = self._converters.get(connection.vendor)
        if found is None:
            found = []
            for pos, field in enumerate(self.fields):
                col = field.get_col(self.alias)
                convs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if convs:
                    found.append((pos, convs, col))
            self._converters[connection.vendor] = found
        return found

    def build(self, values):
        """A model instance from this model's slice of a row, as the ORM would build it."""
        connection = current()
        values = list(values)
        for pos, convs, col in self.converters(connection):
            value = values[pos]
            for convert in convs:
                value = convert(value, col, connection)
            values[pos] = value
        return self.model.from_db(connection.alias, self.attnames, values)

    def values(self, row) -> dict:
        """This model's slice of a row as {attribute name: value}, converted as ``build`` converts it."""
        connection = current()
        values = list(row)
        for pos, convs, col in self.converters(connection):
            for convert in convs:
                values[pos] = convert(values[pos], col, connection)
        return dict(zip(self.attnames, values, strict=True))


@functools.cache
def columns(model, alias: str, names: tuple[str, ...] = ()) -> Columns:
    """The one ``Columns`` of ``model`` under ``alias`` (of the fields ``names``, all when empty),
    built on first use, when the app registry is ready."""
    return Columns(model, alias, names)


def quoted(model) -> str:
    """``model``'s table name, quoted for the current database (the one quoting style of every statement)."""
    return current().ops.quote_name(model._meta.db_table)


def fetch(sql: str, params: list) -> list[tuple]:
    with current().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def insert(objs: list) -> list[tuple[str, list]]:
    """Multi-row ``INSERT`` statements of new instances of one model, as ``bulk_create`` sends them.

    Values go through each field's ``pre_save(add=True)`` (defaults, ``auto_now_add``) and
    ``get_db_prep_save`` like the ORM's insert; an auto-increment primary key is left to the
    database (and not read back: callers that need it use the ORM).  A NULL is written into the
    SQL rather than sent as a parameter: a new job's statement then stays under psycopg's limit of
    50 parameters for its cache of parsed statements (it has 51 fields, a third of them empty).
    Rows are batched by the backend's limit on query parameters.  The instances are marked saved.
    """
    connection = current()
    meta = objs[0]._meta
    fields = [f for f in meta.concrete_fields if not isinstance(f, AUTO_FIELDS)]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) VALUES "
    batch = max(1, connection.ops.bulk_batch_size(fields, objs))
    statements = []
    for start in range(0, len(objs), batch):
        rows, params = [], []
        for obj in objs[start : start + batch]:
            values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
            rows.append("(" + ", ".join("NULL" if value is None else "%s" for value in values) + ")")
            params.extend(value for value in values if value is not None)
            obj._state.adding = False
            obj._state.db = connection.alias
        statements.append((head + ", ".join(rows), params))
    return statements


def execute(sql: str, params: list) -> int:
    """Run one statement; returns the number of rows it changed."""
    with current().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def returning_supported() -> bool:
    """``UPDATE ... RETURNING``: PostgreSQL, and SQLite from 3.35 (the same test as Django's for INSERT)."""
    return current().features.can_return_columns_from_insert


def db_value(model, name: str, value):
    """``value`` as the database stores field ``name`` of ``model`` (what the ORM would send)."""
    return model._meta.get_field(name).get_db_prep_save(value, current())
