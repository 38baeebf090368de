"""What the API refuses in any input before a view sees it: NUL characters, lone surrogates and
integers no column can hold, in the JSON body and in the query string (one parser for all routes).

PostgreSQL refuses NUL in text and SQLite's driver refuses integers past 64 bits, each with an
exception that became a 500; a lone surrogate cannot be encoded for either database.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination
from ninja.parser import Parser

from executors.base import InvalidRequest

MAX_INT = 2**63 - 1  # what a 64-bit column (ids, seeds) holds
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
MAX_DEPTH = 64


def text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def check_value(value: Any, where: str = "body", depth: int = 0) -> None:
    """Raise :class:`InvalidRequest` naming the first bad string or integer in ``value``."""
    if depth > MAX_DEPTH:
        raise InvalidRequest(f"{where}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise InvalidRequest(f"{where} {problem}")
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return
    elif isinstance(value, int):
        if abs(value) > MAX_INT:
            raise InvalidRequest(f"{where}: {str(value)[:20]}... is out of range (integers are at most 2^63-1)")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_value(key, f"{where} key", depth + 1)
            check_value(item, f"{where}.{key}" if len(key) <= 40 else where, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_value(item, f"{where}[{index}]", depth + 1)


class StrictParser(Parser):
    def parse_body(self, request):
        try:
            data = json.loads(request.body)
        except RecursionError:
            raise InvalidRequest("the JSON body is nested too deeply") from None
        check_value(data)
        return data

    def parse_querydict(self, data, list_fields, request):
        result = super().parse_querydict(data, list_fields, request)
        for key, value in result.items():
            check_value(key, "query parameter name")
            for item in value if isinstance(value, list) else [value]:
                check_value(item, f"query parameter {key!r}")
                if _INTEGER.match(item) and abs(int(item[:30])) > MAX_INT:
                    raise InvalidRequest(f"query parameter {key!r} is out of range (integers are at most 2^63-1)")
        return result


class BoundedLimitOffset(LimitOffsetPagination):
    """ninja's limit/offset pagination with both numbers bounded (an offset past the end is empty)."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=200)
        offset: int = Field(0, ge=0, le=1_000_000)
