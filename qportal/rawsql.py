"""Hand-written, parameterised SQL for the few lookups on every API request.

Building and compiling an ORM query costs a request more CPU than PostgreSQL spends running it
(bench/bench_submit_throughput.py); the lookups that authenticate a key and resolve a submission's
profile and team are fixed, so they are written once here.  ``Columns`` lists a model's concrete
columns for a SELECT and turns them back into a model instance with the same database converters
the ORM applies (datetimes and booleans on SQLite, JSON on PostgreSQL), so the objects are the ones
the ORM would have built.  Every value is a query parameter, never formatted into the SQL.
"""

from __future__ import annotations

from django.db import connection


class Columns:
    """The concrete columns of ``model`` under table alias ``alias``."""

    def __init__(self, model, alias: str):
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self._converters: dict[str, list] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def select(self) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{quote(self.alias)}.{quote(f.column)}" for f in self.fields)

    def table(self) -> str:
        quote = connection.ops.quote_name
        return f"{quote(self.model._meta.db_table)} {quote(self.alias)}"

    def converters(self) -> list:
        """(position, converters, column) for each column that needs converting, per database vendor."""
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
        values = list(values)
        for pos, convs, col in self.converters():
            value = values[pos]
            for convert in convs:
                value = convert(value, col, connection)
            values[pos] = value
        return self.model.from_db(connection.alias, self.attnames, values)


def fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
