"""Fifty concurrent submissions against a budget that fits ten, on an SQLite file and on the
machine's PostgreSQL (``tests/budget_race.py`` in a process of its own: a database of its own,
threads with their own connections)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from contextlib import contextmanager

import psycopg
import pytest

from tests.budget_race import FITS, SUBMITTERS
from tests.production.harness import PG_ADMIN, ROOT


@contextmanager
def usage_postgres(prefix: str = "qp_usage"):
    """A throwaway PostgreSQL database named ``qp_usage_...``; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(vendor: str, tmp_path):
    if vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'race.sqlite3'}"
        return
    with usage_postgres("qp_usage_race") as url:
        yield url


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_fifty_at_once_exactly_ten_fit_and_nothing_is_overspent(vendor, tmp_path):
    with database(vendor, tmp_path) as url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "QPORTAL_DB_POOL_SIZE": "0",  # a connection per thread
            "QPORTAL_DATA_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
        }
        env.pop("REDIS_URL", None)
        out = subprocess.run(
            [sys.executable, "-m", "tests.budget_race"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
    assert out.returncode == 0, out.stderr[-4000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["vendor"] == vendor
    estimate_ms = round(seen["estimate"] * 1000)
    assert seen["limit_ms"] == FITS * estimate_ms
    assert seen["outcomes"] == ["accepted"] * FITS + ["refused"] * (SUBMITTERS - FITS)
    # Held at submission: exactly the ten accepted estimates, one hold each, ten job rows.
    assert seen["before"] == {"held_ms": FITS * estimate_ms, "used_ms": 0, "jobs": FITS, "holds": FITS}
    # Settled: nothing held, the real usage used, never past the limit.
    assert seen["done"] == FITS and seen["unsettled"] == 0 and seen["records"] == FITS
    assert seen["after"] == {"held_ms": 0, "used_ms": FITS * estimate_ms}
    assert seen["after"]["used_ms"] <= seen["limit_ms"]
    assert seen["recorded_qpu"] == pytest.approx(seen["charged"], abs=1e-9)
    assert seen["charged"] == pytest.approx(FITS * seen["estimate"], abs=1e-9)
