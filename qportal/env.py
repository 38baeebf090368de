"""Strict readers for settings from the environment (healthchecks style).

A value that does not parse stops start-up with a message naming the variable, rather than being
silently replaced by a default.  Secrets may also come from a file named by ``<NAME>_FILE``.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str | None = None) -> str | None:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            with open(file_path, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path!r} cannot be read: {exc.strerror}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw in ("True", "true", "1"):
        return True
    if raw in ("False", "false", "0"):
        return False
    raise ImproperlyConfigured(f"{name} must be True or False, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.upper() not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw.upper()


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int_list(name: str, default: list[int]) -> list[int]:
    """Comma-separated non-negative integers."""
    raw = env_list(name, [str(v) for v in default])
    try:
        values = [int(item) for item in raw]
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be comma-separated integers, not {','.join(raw)!r}") from None
    if any(v < 0 for v in values):
        raise ImproperlyConfigured(f"{name} may not hold a negative number")
    return values


RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """``"1200/minute"`` -> (1200, 60): N requests per second, minute, hour or day; empty: None (no limit)."""
    raw = (os.environ.get(name, default) or "").strip().lower()
    if not raw:
        return None
    found = re.fullmatch(r"(\d+)\s*/\s*(second|minute|hour|day)", raw)
    if found is None or int(found.group(1)) < 1:
        raise ImproperlyConfigured(
            f"{name}={raw!r}: expected N/second, N/minute, N/hour or N/day (N at least 1), or empty for no limit"
        )
    return int(found.group(1)), RATE_PERIODS[found.group(2)]


def parse_database_url(url: str, *, base_dir: str, pool_size: int = 0, sqlite_synchronous: str = "NORMAL") -> dict:
    """``sqlite:///relative/or/absolute.sqlite3`` or ``postgres://user:pass@host:port/name``.

    SQLite connections stay open (per thread) and run in WAL mode with ``PRAGMA
    synchronous=<sqlite_synchronous>``: NORMAL syncs the WAL at checkpoints rather than at every
    commit (a crashed process loses nothing; a power loss or OS crash may lose the last commits,
    never corrupting the file); FULL syncs every commit.

    With ``pool_size`` > 0, PostgreSQL connections come from a psycopg pool of at most that many per
    process: a request borrows one and returns it when it ends, instead of connecting (a new server
    process) for every request.  Plain ``CONN_MAX_AGE`` cannot do this under an ASGI server, where
    each request runs its sync code in a new thread and a thread-local connection would leak.
    """
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path[1:] if parsed.path.startswith("//") else parsed.path.lstrip("/"))
        if parsed.path.startswith("//"):
            path = "/" + path.lstrip("/")
        elif not os.path.isabs(path):
            path = os.path.join(base_dir, path)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            # Kept open per thread: opening one (WAL and pragmas) on every request costs CPU, and
            # the threads that use it are a fixed pool (qportal.handler) and the worker's thread.
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": (
                    f"PRAGMA journal_mode=WAL; PRAGMA synchronous={sqlite_synchronous}; PRAGMA busy_timeout=30000;"
                ),
            },
        }
    if parsed.scheme in ("postgres", "postgresql"):
        options: dict = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        if pool_size > 0:
            options["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 30}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "OPTIONS": options,
            "CONN_MAX_AGE": 0,
        }
    raise ImproperlyConfigured(
        "DATABASE_URL must start with sqlite:/// or postgres://, "
        f"not {parsed.scheme + '://' if parsed.scheme else url!r}"
    )
