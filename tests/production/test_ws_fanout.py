"""Live events across processes on the machine's real Redis: a runworker process publishes, sockets
on two web processes (uvicorn, as production runs, and daphne) receive every frame, in order, with
its sequence number."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.circuits import GHZ3
from tests.production.harness import Portal, free_port, running_portal

pytestmark = pytest.mark.production


class Socket:
    """A websocket client that reads the server's (unmasked) JSON text frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, path: str, session: str) -> Socket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
            f"Cookie: sessionid={session}\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def frame(self, timeout: float = 30) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                first, second = await self.reader.readexactly(2)
                length = second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
                payload = await self.reader.readexactly(length)
                if first & 0x0F == 0x1:
                    return json.loads(payload)
                assert first & 0x0F != 0x8, "closed by the server"

    async def until_done(self) -> list[dict]:
        frames = [await self.frame()]
        while frames[-1].get("status") != "done":
            frames.append(await self.frame())
        return frames

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
def portal(tmp_path):
    with running_portal(tmp_path, redis_db=10) as portal:
        yield portal


def start_second_web(portal: Portal) -> int:
    port = free_port()
    daphne = str(Path(sys.executable).parent / "daphne")
    portal._spawn("daphne2", [daphne, "-b", "127.0.0.1", "-p", str(port), "qportal.asgi:application"])
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)
            return port
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError("second web process (daphne) did not start")


def test_worker_events_reach_sockets_on_two_web_processes(portal):
    portal.start_web()
    second = start_second_web(portal)
    session = portal.session_cookie()

    async def scenario() -> tuple[str, list[list[dict]], list[dict]]:
        team = [await Socket.open(port, "/ws/jobs/", session) for port in (portal.port, second) for _ in range(3)]
        for sock in team:
            assert (await sock.frame())["type"] == "hello"
        status, job = await asyncio.to_thread(
            portal.request, "POST", "/jobs", {"profile": "local", "circuits": [{"qasm": GHZ3}], "shots": 300}
        )
        assert status == 201, job
        single = await Socket.open(second, f"/ws/jobs/{job['id']}/", session)
        hello = await single.frame()
        assert hello == {"type": "hello", "job": job["id"], "last_seq": 1, "status": "queued"}
        portal.start_worker("w1")  # only now: every worker event falls after the sockets joined
        got = [await sock.until_done() for sock in team]
        after_hello = await single.until_done()
        for sock in [*team, single]:
            sock.close()
        return job["id"], got, [hello, *after_hello]

    job_id, team_frames, single_frames = asyncio.run(scenario())
    status, events = portal.request("GET", f"/jobs/{job_id}/events")
    assert status == 200
    want = [(e["seq"], e["kind"], e["status"]) for e in events]
    assert want[0][1] == "queued" and want[-1][2] == "done" and len(want) >= 3  # queued, claimed (running), done
    for frames in team_frames:  # both processes, every socket: the whole history in order
        assert [(f["seq"], f["kind"], f["status"]) for f in frames] == want
        assert {f["job"] for f in frames} == {job_id}
    _hello, *rest = single_frames  # the job socket: everything after its hello's last_seq, in order
    assert [(f["seq"], f["kind"], f["status"]) for f in rest] == want[1:]
