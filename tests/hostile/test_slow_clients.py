"""Slow clients are dropped (issue 16: 1000 connections sending a byte at a time stayed open
indefinitely). Real sockets against a real served process, on the embedded default (``manage.py
serve``) and in production mode (README's uvicorn command, two worker processes): one address opens
1000 connections and sends each request head a byte a second; beyond the per-client cap they are
answered 503 at once, the rest are answered 408 and closed when the head deadline passes, while
another address's GET is answered in its usual time. A body sent a byte a second is dropped too; a
body sent at a fair rate gets through, though it takes longer than the body deadline."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import statistics
import subprocess
import sys
import time

import pytest

from tests.browser.conftest import start_server
from tests.hostile.memory import PeakRSS
from tests.production.harness import running_portal

HEADER_TIMEOUT = 3
BODY_TIMEOUT = 3
BODY_MIN_RATE = 10240
CAP = 100  # the default
LIMITS = {
    "QPORTAL_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    "QPORTAL_BODY_TIMEOUT": str(BODY_TIMEOUT),
    "QPORTAL_BODY_MIN_RATE": str(BODY_MIN_RATE),
    "QPORTAL_MAX_CONNECTIONS_PER_CLIENT": str(CAP),
}
ATTACKER, BYSTANDER, IDLER = "127.0.0.1", "127.0.0.2", "127.0.0.3"  # all loopback
SLACK = 2.5  # seconds: scheduling on a shared, busy 2-CPU machine
GIVE_UP = HEADER_TIMEOUT + 6  # a slow client stops after this long (without the deadlines it would not be closed)


class Served:
    def __init__(self, port: int, pids: list[int], processes: int):
        self.port, self.pids, self.processes = port, pids, processes


@pytest.fixture(params=["embedded", pytest.param("production", marks=pytest.mark.production)])
def served(request, tmp_path):
    if request.param == "embedded":
        server = start_server(tmp_path, LIMITS, setup=False)
        try:
            yield Served(int(server.base_url.rsplit(":", 1)[1]), [server.proc.pid], processes=1)
        finally:
            server.stop()
    else:
        with running_portal(tmp_path, redis_db=12) as portal:
            portal.start_web(workers=2, env=LIMITS)
            yield Served(portal.port, portal.web_worker_pids(2), processes=2)


def get_status(port: int, source: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/login/")
        return conn.getresponse().status
    finally:
        conn.close()


async def trickle(reader, writer, data: bytes) -> tuple[str, float]:
    """Send ``data`` a byte a second; return how the server ended the connection (its status code,
    "closed" or "reset") and after how long, or ("open", t) if it was still open after GIVE_UP s."""
    started = time.monotonic()
    outcome = "open"
    try:
        for byte in data:
            if time.monotonic() - started > GIVE_UP:
                break
            writer.write(bytes([byte]))
            try:
                answer = await asyncio.wait_for(reader.read(200), 1.0)
            except TimeoutError:
                continue
            outcome = answer.split(b" ")[1].decode() if answer.startswith(b"HTTP/1.1 ") else "closed"
            break
    except (ConnectionResetError, BrokenPipeError):
        outcome = "reset"
    finally:
        writer.close()
    return outcome, time.monotonic() - started


async def slow_head(port: int) -> tuple[str, float]:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
    outcome, _ = await trickle(reader, writer, SLOW_HEAD)
    return outcome, time.monotonic() - started


BYSTANDER_SCRIPT = """
import http.client, json, sys, time
port, source, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
answers, end = [], time.monotonic() + seconds
while time.monotonic() < end:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    conn.request("GET", "/login/")
    answers.append((conn.getresponse().status, time.monotonic() - started))
    conn.close()
    time.sleep(0.2)
print(json.dumps(answers))
"""


def bystander(port: int, seconds: float) -> subprocess.Popen:
    """Another address's GET every 0.2 s for ``seconds``, from a process of its own (so this
    process's own attack loop cannot delay it)."""
    args = [sys.executable, "-c", BYSTANDER_SCRIPT, str(port), BYSTANDER, str(seconds)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


SLOW_HEAD = b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: yes\r\n" * 100


def test_a_thousand_slow_connections_are_refused_or_dropped_and_others_are_answered(served):
    port = served.port
    usual = json.loads(bystander(port, 2).communicate(timeout=30)[0])

    async def idle() -> tuple[bytes, float]:
        """A connection that sends nothing: how it ended, and when."""
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(IDLER, 0))
        try:
            answer = await asyncio.wait_for(reader.read(100), GIVE_UP)
        except TimeoutError:
            answer = b"(still open)"
        writer.close()
        return answer, time.monotonic() - started

    async def attack():
        return await asyncio.gather(idle(), *(slow_head(port) for _ in range(1000)))

    with contextlib.ExitStack() as stack:
        peaks = [stack.enter_context(PeakRSS(pid, interval=0.05)) for pid in served.pids]
        other = bystander(port, HEADER_TIMEOUT + 1)
        (idle_answer, idle_for), *ends = asyncio.run(attack())
        during = json.loads(other.communicate(timeout=30)[0])

    held = served.processes * CAP
    refused = [t for outcome, t in ends if outcome in ("503", "reset", "closed") and t < SLACK]
    timed_out = [t for outcome, t in ends if outcome == "408"]
    assert [end for end in ends if end[0] == "open"] == []
    assert len(refused) >= 1000 - held, sorted(ends)[:5]
    assert 0 < len(timed_out) <= held
    assert all(HEADER_TIMEOUT - 0.5 < t < HEADER_TIMEOUT + SLACK for t in timed_out), (min(timed_out), max(timed_out))
    assert max(t for _, t in ends) < HEADER_TIMEOUT + SLACK
    assert idle_answer == b"" and HEADER_TIMEOUT - 0.5 < idle_for < HEADER_TIMEOUT + SLACK  # closed, silently

    assert {status for status, _ in usual + during} == {200} and len(during) >= 5
    usual_worst, worst = max(t for _, t in usual), max(t for _, t in during)
    assert worst < usual_worst + 1.0, (statistics.median(t for _, t in usual), usual_worst, worst)
    growth = sum(peak.peak - peak.start for peak in peaks)
    assert growth < 150 * 2**20, f"web processes grew {growth / 2**20:.0f} MiB"

    # The slots were given back: the attacking address is served again.
    assert get_status(port, ATTACKER) == 200


def test_a_trickled_body_is_dropped_and_a_fair_rate_body_is_read(served):
    port = served.port

    def post_head(length: int) -> bytes:
        return (
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % length
        )

    async def slow_body() -> tuple[str, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post_head(10_000))  # the head at once; then the body a byte a second
        return await trickle(reader, writer, b"{" + b" " * 9_999)

    async def slow_bodies():
        return await asyncio.gather(*(slow_body() for _ in range(20)))

    ends = asyncio.run(slow_bodies())
    assert {outcome for outcome, _ in ends} == {"408"}
    assert all(BODY_TIMEOUT - 0.5 < t < BODY_TIMEOUT + SLACK for _, t in ends), ends

    # 100 KiB at about 20 KiB/s: 5 s, longer than the body deadline, but above the minimum rate.
    body = b" " * (100 * 1024)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(post_head(len(body)))
        for offset in range(0, len(body), 2048):
            sock.sendall(body[offset : offset + 2048])
            time.sleep(0.1)
        sock.settimeout(10)
        answer = sock.recv(200)
    assert time.monotonic() - started > BODY_TIMEOUT + 1
    assert answer.startswith(b"HTTP/1.1 401 "), answer  # read whole, then refused for want of a key
