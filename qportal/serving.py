"""What the portal adds to uvicorn when it serves: read deadlines, a cap on connections per
client address, and worker processes that end with their master.

uvicorn closes an idle keep-alive connection after ``--timeout-keep-alive`` seconds and nothing
else: a fresh connection that sends nothing, or a request head or body sent a byte at a time, stays
open as long as its client likes (issue 16: 1000 such connections stayed open indefinitely).
``GuardedHttpProtocol`` is uvicorn's httptools protocol with, per connection:

- a head deadline: the request line and headers must arrive within ``SERVE_HEADER_TIMEOUT``
  seconds of the connection's opening (or, on a kept-alive connection, of the next request's first
  byte), and be at most ``MAX_HEAD_BYTES`` long; else 408 (431), and the connection is closed;
- a body deadline: ``SERVE_BODY_TIMEOUT`` seconds, plus one second for every
  ``SERVE_BODY_MIN_RATE`` bytes that arrived, so a large upload at a fair rate goes through and a
  trickle does not; time the server itself holds the body up (reading paused because the
  application has not read, or a ``100 Continue`` not yet sent) is not counted;
- a cap: at most ``SERVE_MAX_CONNECTIONS_PER_CLIENT`` HTTP connections from one client address in
  this process; one more is answered 503 and closed at once. A connection upgraded to a websocket
  leaves the count (its handshake was a request head under the deadline, and the application
  closes it unless it is a signed-in user's stream).

Used by ``manage.py serve`` and by the README's production command
(``uvicorn ... --http qportal.serving:GuardedHttpProtocol``).

``exit_with_master()`` (called when ``qportal.asgi`` is loaded) makes a process that uvicorn's
``--workers`` started end when its master dies: killed with SIGKILL, the master used to leave its
workers serving on the shared socket, so the restarted master failed with "Address already in use".
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import multiprocessing
import os
import signal
import sys
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024  # request line and headers; browsers send under 8 KiB
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_master() -> None:
    """In a process started by ``multiprocessing`` (uvicorn's ``--workers`` and ``--reload``
    children): ask Linux to send it SIGTERM when its parent dies, so it stops listening at once and
    ends like a worker its master stopped (requests in flight are finished). The kernel sends the
    signal, so it needs no thread of this process and no GIL; if the parent died before the request
    was made, the process ends now. A process nobody started this way (a single uvicorn process,
    ``manage.py serve``, daphne) is left alone: its parent is a shell or a supervisor."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent.pid:
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    body_min_rate: int  # bytes a second that buy a body one more second
    per_client: int  # 0: no cap

    @classmethod
    def from_settings(cls) -> ConnectionLimits:
        from django.conf import settings

        return cls(
            header_timeout=settings.SERVE_HEADER_TIMEOUT,
            body_timeout=settings.SERVE_BODY_TIMEOUT,
            body_min_rate=settings.SERVE_BODY_MIN_RATE,
            per_client=settings.SERVE_MAX_CONNECTIONS_PER_CLIENT,
        )


class ClientConnections:
    """One server's limits and its open HTTP connections per client address."""

    def __init__(self, limits: ConnectionLimits):
        self.limits = limits
        self.open: collections.Counter[str] = collections.Counter()

    @classmethod
    def of(cls, server_state) -> ClientConnections:
        """The server's own (kept on uvicorn's per-server state, made on its first connection)."""
        clients = getattr(server_state, "qportal_clients", None)
        if clients is None:
            clients = server_state.qportal_clients = cls(ConnectionLimits.from_settings())
        return clients

    def admit(self, address: str) -> bool:
        if self.limits.per_client and self.open[address] >= self.limits.per_client:
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head and body deadlines and a per-client cap."""

    def __init__(self, config, server_state, app_state, _loop=None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.clients = ClientConnections.of(server_state)
        self.limits = self.clients.limits
        self.counted_as: str | None = None  # the address this connection is counted under
        self.deadline: asyncio.TimerHandle | None = None
        self.reading_head = False
        self.head_bytes = 0
        self.body_started = 0.0
        self.body_bytes = 0

    # Connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        if address is not None:
            if not self.clients.admit(address):
                self._answer_and_close(503, "Too many connections from your address.", retry_after=5)
                return
            self.counted_as = address
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._leave()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._leave()
        super().handle_websocket_upgrade()

    def _leave(self) -> None:
        self._disarm()
        if self.counted_as is not None:
            self.clients.release(self.counted_as)
            self.counted_as = None

    # Reading
    def data_received(self, data: bytes) -> None:
        if self.reading_head:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.reading_head and self.head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._answer_and_close(431, "Request header fields too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self.reading_head:  # the next request on a kept-alive connection
            self._start_head()

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self._disarm()
        super().on_headers_complete()
        if self.parser.should_upgrade() and self._should_upgrade():
            return
        self.body_started, self.body_bytes = self.loop.time(), 0
        self._arm(self.limits.body_timeout, self._check_body)

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # Deadlines
    def _start_head(self) -> None:
        self.reading_head, self.head_bytes = True, 0
        self._arm(self.limits.header_timeout, self._head_timed_out)

    def _arm(self, delay: float, callback) -> None:
        self._disarm()
        self.deadline = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _head_timed_out(self) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        previous_running = self.cycle is not None and not self.cycle.response_complete  # pipelined
        if self.head_bytes == 0 or previous_running:
            self.transport.close()
        else:
            self._answer_and_close(408, "The request head did not arrive in time.")

    def _check_body(self) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self.flow.read_paused or self.cycle.waiting_for_100_continue:
            # The server, not the client, holds the body up: the clock starts again.
            self.body_started, self.body_bytes = now, 0
            self._arm(self.limits.body_timeout, self._check_body)
            return
        due = self.body_started + self.limits.body_timeout + self.body_bytes / self.limits.body_min_rate
        if due > now:
            self._arm(due - now, self._check_body)
            return
        cycle = self.cycle
        if cycle.response_started:
            self.transport.close()
            return
        cycle.disconnected = True  # the application's receive() answers http.disconnect
        cycle.message_event.set()
        self._answer_and_close(408, "The request body did not arrive in time.")

    def _answer_and_close(self, status: int, message: str, retry_after: int | None = None) -> None:
        body = message.encode("ascii")
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        if retry_after is not None:
            head.append(b"retry-after: %d\r\n" % retry_after)
        head += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(head))
        self.transport.close()
