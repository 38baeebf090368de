"""Production mode in the browser: daphne serves the page, a separate runworker process runs the job
over the machine's real Redis and a throwaway PostgreSQL database; the page goes live to done."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser.conftest import ROOT, SETUP_USERS, login, manage, save_shot, wait_http
from tests.circuits import BELL
from tests.production.harness import free_port, postgres_database

pytestmark = [pytest.mark.production, pytest.mark.browser]

REDIS_DB = 7


def test_worker_process_drives_a_page_served_by_daphne(chromium, tmp_path):
    import os

    import redis

    with postgres_database() as (database_url, _name):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "QPORTAL_EMBEDDED_WORKER": "False",
            "QPORTAL_DATA_DIR": str(tmp_path / "data"),
            "QPORTAL_LEASE_SECONDS": "4",
            "QPORTAL_SWEEP_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        manage(env, "migrate", "--noinput")
        manage(env, "shell", "-c", SETUP_USERS)
        port = free_port()
        web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
        web = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=web_log.open("w"),
            stderr=subprocess.STDOUT,
        )
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "--worker-id", "browser-w1"],
            cwd=ROOT,
            env=env,
            stdout=worker_log.open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/login/", web, web_log)
            page = login(chromium, base, "bob")
            page.locator("#live.live").wait_for()
            page.goto(f"{base}/jobs/new/")
            page.fill("textarea[name=qasm]", BELL)
            page.fill("input[name=name]", "bell over redis")
            page.select_option("select[name=team]", label="lab")
            page.fill("input[name=shots]", "1000")
            page.click("#submit")
            page.wait_for_url(f"{base}/jobs/*/")
            job_id = page.url.rstrip("/").rsplit("/", 1)[-1]
            page.evaluate("window.__sameDocument = true")
            page.locator("#status", has_text="done").wait_for(timeout=60_000)
            assert page.evaluate("window.__sameDocument === true")
            page.locator("#result .bar-row").first.wait_for()
            bars = {
                r.get_attribute("data-key"): int(r.get_attribute("data-count"))
                for r in page.locator("#result .bar-row").all()
            }
            assert set(bars) == {"00", "11"} and sum(bars.values()) == 1000, bars
            claimed = page.locator("#events li.ev-claimed .msg").inner_text()
            assert "browser-w1" in claimed  # run by the other process
            save_shot(page, tmp_path, "production-detail", full_page=False)

            import psycopg

            with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
                row = conn.execute("SELECT status, worker_id FROM jobs_job WHERE id = %s", (job_id,)).fetchone()
            assert row == ("done", "browser-w1")
            page.context.close()
        finally:
            for proc in (web, worker):
                proc.terminate()
            for proc in (web, worker):
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            redis.Redis.from_url(env["REDIS_URL"]).flushdb()
