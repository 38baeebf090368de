"""Start the portal in production mode for a test: throwaway PostgreSQL database, a Redis db,
uvicorn (as README's production mode) and worker processes. Everything runs on loopback and is torn
down afterwards."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_database():
    name = f"qportal_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}", name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_portal(log_dir: Path, redis_db: int, **extra_env: str):
    """A set-up portal (migrated, alice's API key) on a throwaway database; afterwards its processes
    are stopped and its Redis db flushed.  ``portal.db_name`` names the database."""
    with postgres_database() as (url, name):
        portal = Portal(url, redis_db=redis_db, log_dir=log_dir, **extra_env)
        portal.db_name = name
        portal.setup()
        try:
            yield portal
        finally:
            portal.stop()
            import redis

            redis.Redis.from_url(portal.env["REDIS_URL"]).flushdb()


SESSION_SCRIPT = """
from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
u = get_user_model().objects.get(username={username!r})
s = SessionStore()
s[SESSION_KEY] = str(u.pk)
s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
s[HASH_SESSION_KEY] = u.get_session_auth_hash()
s.create()
print(s.session_key)
"""


class Portal:
    """A production-mode portal: ``start_web()``, ``start_worker(id)``, HTTP helpers, SQL helpers."""

    def __init__(self, database_url: str, redis_db: int, log_dir: Path, **extra_env: str):
        self.database_url = database_url
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
            "QPORTAL_EMBEDDED_WORKER": "False",
            "QPORTAL_LEASE_SECONDS": "4",
            "QPORTAL_SWEEP_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.port = free_port()
        self.key: str | None = None

    def manage(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300
        )
        if out.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def setup(self, username: str = "alice") -> None:
        import redis

        redis.Redis.from_url(self.env["REDIS_URL"]).flushdb()
        self.manage("migrate", "--noinput")
        self.key = self.manage("create_api_key", username).strip().splitlines()[-1]

    def session_cookie(self, username: str = "alice") -> str:
        """A logged-in session for ``username`` (for websockets), written straight into the session store."""
        return self.manage("shell", "-c", SESSION_SCRIPT.format(username=username)).strip().splitlines()[-1]

    def _spawn(self, name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "w")
        proc = subprocess.Popen(args, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def start_web(self, workers: int = 1, env: dict | None = None, name: str = "web", port: int | None = None) -> int:
        """uvicorn with ``workers`` processes on one port, as README's production command; another
        ``name`` and ``port`` start a second, separate web server. Returns its port."""
        port = port or self.port
        uvicorn = str(Path(sys.executable).parent / "uvicorn")
        args = [uvicorn, "qportal.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
        args += ["--workers", str(workers), "--loop", "uvloop", "--lifespan", "off"]
        args += ["--http", "qportal.serving:GuardedHttpProtocol"]
        self._spawn(name, args, env={**self.env, **(env or {})})
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.procs[name].returncode}; see {name}.log")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)
                return port
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise RuntimeError(f"uvicorn did not start; see {name}.log")

    def web_worker_pids(self, count: int, timeout: float = 60) -> list[int]:
        """The pids of the ``count`` processes uvicorn ``--workers`` started, once each has loaded
        the application (its "Started server process" line is in web.log)."""
        master = self.procs["web"].pid
        deadline = time.time() + timeout
        while time.time() < deadline:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
            workers = [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            log = (self.log_dir / "web.log").read_text()
            if len(workers) == count and all(f"Started server process [{pid}]" in log for pid in workers):
                return workers
            time.sleep(0.2)
        raise AssertionError(f"uvicorn did not start {count} workers; see {self.log_dir / 'web.log'}")

    def start_worker(self, worker_id: str, concurrency: int = 4) -> subprocess.Popen:
        return self._spawn(
            worker_id,
            [sys.executable, "manage.py", "runworker", "--worker-id", worker_id, "--concurrency", str(concurrency)],
        )

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def request(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def sql(self, query: str, *params):
        with psycopg.connect(self.database_url.replace("postgres://", "postgresql://")) as conn:
            return conn.execute(query, params).fetchall()

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; logs in {self.log_dir}")
