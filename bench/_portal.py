"""Shared by the portal benchmarks: a real portal on loopback, a minimal websocket client, stats.

Every benchmark starts what it needs itself (a temp data dir and secrets, or a throwaway
PostgreSQL database and a flushed Redis db), binds only 127.0.0.1 and tears everything down.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import secrets
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DAPHNE = str(Path(sys.executable).parent / "daphne")
BELL = 'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; h q[0]; cx q[0],q[1]; measure q -> c;'
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(samples)
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


def summary_ms(samples: list[float]) -> str:
    ms = [s * 1e3 for s in samples]
    return (
        f"p50 {statistics.median(ms):7.2f} ms  p95 {percentile(ms, 95):7.2f} ms  "
        f"p99 {percentile(ms, 99):7.2f} ms  (n={len(ms)})"
    )


class Portal:
    """A portal process tree on loopback: ``manage()`` commands, ``spawn()`` servers, ``stop()``."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "QPORTAL_LOG_LEVEL": "WARNING", **env}
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []
        self.port = free_port()
        self.key = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        out = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300
        )
        if out.returncode:
            raise RuntimeError(f"manage.py {' '.join(args[:1])} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def setup(self, username: str = "bench") -> None:
        self.manage("migrate", "--noinput")
        self.key = self.manage("create_api_key", username).strip().splitlines()[-1]

    def session_cookie(self, username: str = "bench") -> str:
        """A logged-in session for ``username``, written straight into the session store."""
        code = (
            "from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY\n"
            "from django.contrib.sessions.backends.db import SessionStore\n"
            f"u = get_user_model().objects.get(username={username!r})\n"
            "s = SessionStore()\n"
            "s[SESSION_KEY] = str(u.pk)\n"
            "s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
            "s[HASH_SESSION_KEY] = u.get_session_auth_hash()\n"
            "s.create()\n"
            "print(s.session_key)\n"
        )
        return self.manage("shell", "-c", code).strip().splitlines()[-1]

    def spawn(self, name: str, args: list[str], port: int | None = None, wait: bool = True) -> subprocess.Popen:
        """Start a server process; with ``wait``, return once it answers HTTP on ``port``."""
        log = open(self.log_dir / f"{name}.log", "w")
        proc = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        if wait:
            self.wait_listening(port or self.port, proc, name)
        return proc

    def wait_listening(self, port: int, proc: subprocess.Popen, name: str, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log_dir / name}.log")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)
                return
            except (TimeoutError, urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise RuntimeError(f"{name} did not start in {timeout:.0f} s; see {self.log_dir / name}.log")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def sql(self, query: str) -> list[tuple]:
        """Run ``query`` on the production-mode PostgreSQL database."""
        import psycopg

        with psycopg.connect(self.env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)) as conn:
            return conn.execute(query).fetchall()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def _secrets_env(data_dir: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        "QPORTAL_DATA_DIR": str(data_dir),
        "QPORTAL_SECRET_KEY": secrets.token_urlsafe(40),
        "QPORTAL_FERNET_KEYS": Fernet.generate_key().decode(),
        "QPORTAL_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "qportal.settings",
        # One key submits thousands of jobs a minute: limits far above it (the rate limit then
        # counts in each process and rarely reaches Redis; bench/README.md, benchmark 6).
        "QPORTAL_API_RATE": "1000000000/minute",
        "QPORTAL_MAX_UNFINISHED_PER_USER": "1000000000",
        "QPORTAL_MAX_UNFINISHED_PER_TEAM": "1000000000",
    }


@contextmanager
def embedded_portal(**extra_env: str) -> Iterator[Portal]:
    """The embedded default (SQLite, in-memory layer, worker in the web process) via ``manage.py serve``."""
    data_dir = Path(tempfile.mkdtemp(prefix="qportal-bench-"))
    portal = Portal({**_secrets_env(data_dir), **extra_env}, data_dir)
    for var in ("DATABASE_URL", "REDIS_URL", "QPORTAL_EMBEDDED_WORKER"):
        portal.env.pop(var, None)
    try:
        portal.setup()
        portal.spawn("serve", [PYTHON, "manage.py", "serve", "--port", str(portal.port)])
        yield portal
    finally:
        portal.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def production_portal(redis_db: int = 13, **extra_env: str) -> Iterator[Portal]:
    """Production mode: a throwaway PostgreSQL database, Redis db ``redis_db`` flushed, no web worker.

    Start daphne with ``portal.spawn("daphne", daphne_args(portal.port), ...)`` and workers as needed.
    """
    import psycopg
    import redis

    name = f"qportal_bench_{uuid.uuid4().hex[:8]}"
    data_dir = Path(tempfile.mkdtemp(prefix="qportal-bench-"))
    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    portal = Portal(
        {
            **_secrets_env(data_dir),
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}",
            "REDIS_URL": redis_url,
            "QPORTAL_EMBEDDED_WORKER": "False",
            **extra_env,
        },
        data_dir,
    )
    redis.Redis.from_url(redis_url).flushdb()
    try:
        portal.setup()
        yield portal
    finally:
        portal.stop()
        redis.Redis.from_url(redis_url).flushdb()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(data_dir, ignore_errors=True)


def daphne_args(port: int) -> list[str]:
    return [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "qportal.asgi:application"]


# ---- a minimal websocket client (RFC 6455, receive side; no extensions) ---------------------------


class WebSocket:
    """Just enough of a websocket client on asyncio streams to read JSON text frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, path: str, session: str) -> WebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
                f"Cookie: sessionid={session}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            raise ConnectionError(f"websocket upgrade refused: {head.splitlines()[0].decode()}")
        return cls(reader, writer)

    async def recv(self) -> dict[str, Any]:
        """The next text frame, parsed as JSON (answers pings; raises ConnectionError on close)."""
        while True:
            first, second = await self.reader.readexactly(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(length)
            if opcode == 0x1:
                return json.loads(payload)
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the server")
            if opcode == 0x9:
                self._send(0xA, payload)

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    async def close(self) -> None:
        try:
            self._send(0x8, struct.pack("!H", 1000))
            await self.writer.drain()
        except ConnectionError:
            pass
        self.writer.close()


def uvicorn_args(port: int, workers: int = 1) -> list[str]:
    """uvicorn with uvloop and httptools, ``workers`` processes sharing one listening socket."""
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    return [
        uvicorn, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--loop", "uvloop",
        "--http", "httptools", "--lifespan", "off", "--no-access-log", "--log-level", "warning",
        "qportal.asgi:application",
    ]  # fmt: skip
