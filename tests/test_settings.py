"""Settings come from the environment with strict parsing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from qportal.env import env_bool, env_choice, env_int, env_list, env_str, parse_database_url

ROOT = Path(__file__).resolve().parents[1]


def test_env_bool_accepts_only_true_and_false(monkeypatch):
    monkeypatch.setenv("X_FLAG", "True")
    assert env_bool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "yes")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be True or False"):
        env_bool("X_FLAG", False)


def test_env_int_rejects_junk_and_small_values(monkeypatch):
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be an integer"):
        env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("X_NUM", 1, minimum=1)


def test_secret_from_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_str("X_SECRET") == "s3cret"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE"):
        env_str("X_SECRET")


def test_env_list(monkeypatch):
    monkeypatch.setenv("X_HOSTS", "a.example, b.example,")
    assert env_list("X_HOSTS", []) == ["a.example", "b.example"]


def test_env_choice(monkeypatch):
    assert env_choice("X_SYNC", "NORMAL", ("NORMAL", "FULL")) == "NORMAL"
    monkeypatch.setenv("X_SYNC", "full")
    assert env_choice("X_SYNC", "NORMAL", ("NORMAL", "FULL")) == "FULL"
    monkeypatch.setenv("X_SYNC", "OFF")
    with pytest.raises(ImproperlyConfigured, match="X_SYNC must be one of NORMAL, FULL"):
        env_choice("X_SYNC", "NORMAL", ("NORMAL", "FULL"))


def test_sqlite_pragmas_apply_to_real_connections(tmp_path):
    import sqlite3

    for level, number in (("NORMAL", 1), ("FULL", 2)):
        options = parse_database_url(f"sqlite:///{tmp_path}/{level}.sqlite3", base_dir="/", sqlite_synchronous=level)
        conn = sqlite3.connect(options["NAME"])
        for command in options["OPTIONS"]["init_command"].split(";"):
            if command.strip():
                conn.execute(command)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (number,)
        conn.close()


def test_database_urls(tmp_path):
    pg = parse_database_url("postgres://u:p%40ss@db.example:5433/qp?sslmode=require", base_dir="/x")
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql",
        "qp",
        "u",
        "p@ss",
        "db.example",
        "5433",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    pooled = parse_database_url("postgres://u@db.example/qp", base_dir="/x", pool_size=6)
    assert pooled["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 6, "timeout": 30}
    assert pooled["CONN_MAX_AGE"] == 0  # Django refuses persistent connections together with a pool
    lite = parse_database_url("sqlite:///data/q.sqlite3", base_dir="/srv")
    assert lite["NAME"] == "/srv/data/q.sqlite3" and "journal_mode=WAL" in lite["OPTIONS"]["init_command"]
    assert lite["CONN_MAX_AGE"] is None  # persistent: a request does not pay for opening one
    assert "synchronous=NORMAL" in lite["OPTIONS"]["init_command"]
    durable = parse_database_url("sqlite:///q.sqlite3", base_dir="/srv", sqlite_synchronous="FULL")
    assert "synchronous=FULL" in durable["OPTIONS"]["init_command"]
    assert parse_database_url("sqlite:////abs/q.sqlite3", base_dir="/srv")["NAME"] == "/abs/q.sqlite3"
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must start with"):
        parse_database_url("mysql://x/y", base_dir="/srv")


def run_check(extra_env: dict, *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("QPORTAL_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update({"DJANGO_SETTINGS_MODULE": "qportal.settings", **extra_env})
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_secret_key_required_unless_debug(tmp_path):
    out = run_check({"QPORTAL_DATA_DIR": str(tmp_path)})
    assert out.returncode != 0 and "QPORTAL_SECRET_KEY" in out.stderr
    assert run_check({"QPORTAL_DATA_DIR": str(tmp_path), "QPORTAL_DEBUG": "True"}).returncode == 0


def test_bad_value_stops_startup_naming_the_variable(tmp_path):
    out = run_check(
        {"QPORTAL_DATA_DIR": str(tmp_path), "QPORTAL_SECRET_KEY": "x" * 60, "QPORTAL_LEASE_SECONDS": "soon"}
    )
    assert out.returncode != 0 and "QPORTAL_LEASE_SECONDS must be an integer" in out.stderr


def test_check_deploy_passes_under_production_settings(tmp_path):
    out = run_check(
        {
            "QPORTAL_DATA_DIR": str(tmp_path),
            "QPORTAL_SECRET_KEY": "k" * 20 + "A9#x" * 12,
            "QPORTAL_HTTPS": "True",
            "QPORTAL_ALLOWED_HOSTS": "portal.example",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert out.returncode == 0, out.stdout + out.stderr
