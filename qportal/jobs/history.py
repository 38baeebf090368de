"""A job list a page at a time, however long the history: keyset (cursor) pages and capped counts.

A page is found from the row before it (its sort key: ``filters.sort_keys``, which ends with the
id, so the order is total), never by counting the rows before it: the thousandth page costs what
the first costs, and a job added while someone walks the list never moves the rows they have not
seen yet (new jobs arrive at the head, newest first).  A count stops at ``COUNT_CAP``: counting a
million rows costs more than a page of them, and "more than 1,000" says what a person needs.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import reduce

from django.db.models import Q, QuerySet

from executors.base import InvalidRequest

COUNT_CAP = 1000
MAX_CURSOR_LENGTH = 1000
# How a sort key's value is read back from a cursor (anything else is text).
_READ = {"created": datetime.fromisoformat, "id": uuid.UUID, "status_rank": int, "num_circuits": int}
Keys = tuple[tuple[str, bool], ...]  # (field, descending), as ``filters.sort_keys`` gives them


@dataclass(frozen=True)
class Page:
    items: list
    next: str | None  # the cursor of the page after this one, None on the last
    previous: str | None  # the cursor of the page before it, None on the first


def page(jobs: QuerySet, keys: Keys, sort: str, cursor: str | None, size: int) -> Page:
    """The ``size`` jobs of ``jobs`` (ordered by ``keys``) after, or before, the row ``cursor`` names."""
    if not cursor:
        rows = list(jobs[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        return Page(rows, cursor_after(rows[-1], keys, sort) if more else None, None)
    before, values = read_cursor(cursor, keys, sort)
    if before:
        rows = list(jobs.filter(_beyond(keys, values, backwards=True)).reverse()[: size + 1])
        more = len(rows) > size
        rows = rows[:size][::-1]
        if not rows:  # the rows before it went meanwhile: the list's first page is the way on
            return Page(rows, None, None)
        return Page(rows, cursor_after(rows[-1], keys, sort), cursor_before(rows[0], keys, sort) if more else None)
    rows = list(jobs.filter(_beyond(keys, values, backwards=False))[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if not rows:
        return Page(rows, None, None)
    return Page(rows, cursor_after(rows[-1], keys, sort) if more else None, cursor_before(rows[0], keys, sort))


def count(jobs: QuerySet, found: Page, cursor: str | None) -> tuple[int, bool]:
    """``capped_count`` of ``jobs``, or, when ``found`` is the first page and the last, its length."""
    if not cursor and found.next is None:
        return len(found.items), False
    return capped_count(jobs)


def capped_count(jobs: QuerySet, cap: int | None = None) -> tuple[int, bool]:
    """(how many jobs, whether there are more than that): counts at most ``cap`` + 1 rows.  They are
    the first in the list's own order, so the database takes the page's plan (for a common tag: the
    newest rows, until enough match) rather than collecting every match from another index."""
    cap = COUNT_CAP if cap is None else cap
    found = jobs.values("pk")[: cap + 1].count()
    return min(found, cap), found > cap


def cursor_after(job, keys: Keys, sort: str) -> str:
    return _encode(sort, False, _values(job, keys))


def cursor_before(job, keys: Keys, sort: str) -> str:
    return _encode(sort, True, _values(job, keys))


def read_cursor(text: str, keys: Keys, sort: str) -> tuple[bool, list]:
    """(whether it asks for the rows before it, its sort key's values); a cursor this list did not
    give, or one given for another sort, is refused saying so."""
    if len(text) > MAX_CURSOR_LENGTH:
        raise InvalidRequest(f"invalid cursor: longer than {MAX_CURSOR_LENGTH} characters; use the one a list gave")
    bad = "invalid cursor: not one this list gave (use `next` or `previous` as given)"
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        given_sort, before, raw = data["s"], data["b"], data["k"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidRequest(bad) from None
    if given_sort != sort:
        raise InvalidRequest(f"this cursor belongs to sort {given_sort!r}, not {sort!r}: start again without it")
    try:
        if not isinstance(raw, list) or len(raw) != len(keys) or not isinstance(before, bool):
            raise ValueError
        values = [_READ.get(field, str)(value) for (field, _), value in zip(keys, raw, strict=True)]
    except (ValueError, TypeError, OverflowError):
        raise InvalidRequest(bad) from None
    if isinstance(values[0], datetime) and values[0].tzinfo is None:
        raise InvalidRequest(bad)
    return before, values


def _encode(sort: str, before: bool, values: list) -> str:
    raw = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v for v in values]
    text = json.dumps({"s": sort, "b": before, "k": raw}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _values(job, keys: Keys) -> list:
    return [reduce(getattr, field.split("__"), job) for field, _ in keys]


def _beyond(keys: Keys, values: list, *, backwards: bool) -> Q:
    """The rows after ``values`` in the order ``keys`` (before them, ``backwards``).  The first key's
    bound is also given alone (``created <= c AND (created < c OR (created = c AND id < i))``), so
    that an index on it starts the scan at the cursor instead of filtering every row before it."""
    condition = None
    for (field, descending), value in reversed(list(zip(keys, values, strict=True))):
        op = "lt" if descending != backwards else "gt"
        past = Q(**{f"{field}__{op}": value})
        condition = past if condition is None else past | (Q(**{field: value}) & condition)
    (first, descending), start = keys[0], values[0]
    return Q(**{f"{first}__{'lte' if descending != backwards else 'gte'}": start}) & condition
