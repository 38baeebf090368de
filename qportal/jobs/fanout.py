"""Process-local fan-out of job events to websockets: the receiving side of ``qportal.jobs.bus``.

One event reaches every web process as one message, not one channel-layer message per socket:
the bus sends the frame, encoded to JSON once, with the names of its groups (``job.<id>``,
``team.<id>``); each web process keeps one subscription and a registry of its own sockets per
group (a ``Hub``), and writes the frame text to each of them.

- Production (``REDIS_URL``): one Redis ``PUBLISH`` per event on a pub/sub channel named after the
  Redis database (pub/sub ignores the database number, so the name keeps databases apart); one
  ``SUBSCRIBE`` connection per web process, opened with its first socket.
- Embedded default: the registry lives in the one process, and the bus hands the frame to the
  event loop that serves the sockets (``deliver_threadsafe``, from any thread), without Redis.

Delivery is best effort, as the channel layer's was: a socket whose client does not read gets its
pending frames dropped and is closed, and if the Redis subscription is lost every local socket is
closed. Either way the client reconnects, its hello frame carries ``last_seq``, and it refetches
what it missed over REST. Each socket has its own queue and writer task, so frames reach a
socket in the order the process received them and one slow client holds up no other.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]

CLOSE_LAGGING = 1013  # "try again later": the client did not read its frames fast enough
CLOSE_RESTART = 1012  # "service restart": the process lost its event subscription
QUEUE_FRAMES = 256
# A frame whose job has finished also names the group ``finished.<job id>``, which no socket joins:
# the hub remembers the last FINISHED_KEEP such jobs, so a long-poll that subscribes just after its
# job finished still learns it without reading the database (``Hub.finished``).
FINISHED_PREFIX = "finished."
FINISHED_KEEP = 4096
READY_SECONDS = 5.0
CLIENT_NAME = "qportal-fanout"  # the subscription's name in Redis CLIENT LIST


class Unavailable(Exception):
    """The process has no live event subscription, so a new socket could miss frames unnoticed."""


class Subscription:
    """One socket's place in the registry: a queue of frame texts and the task that writes them."""

    def __init__(self, hub: Hub, groups: list[str], send: Send):
        self.hub = hub
        self.groups = groups
        self._send = send
        self._queue: asyncio.Queue[str | int] = asyncio.Queue(QUEUE_FRAMES)
        self._writer: asyncio.Task | None = None
        self._started = False
        self.kicked = False
        self.closed = False

    def start(self) -> None:
        """Begin writing frames (call after the socket is accepted; earlier frames wait in the queue)."""
        self._started = True
        if not self.closed and self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def offer(self, text: str) -> None:
        if self.closed or self.kicked:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.kick(CLOSE_LAGGING)

    def kick(self, code: int) -> None:
        """Drop pending frames and close the socket with ``code`` (the client reconnects and refetches)."""
        if self.closed or self.kicked:
            return
        self.kicked = True
        self.hub.discard(self)
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(code)
        if self._started:  # otherwise the close follows the accept and hello
            self.start()

    def regroup(self, groups: Iterable[str]) -> None:
        """Move to ``groups`` (the user's teams changed); frames already queued stay queued."""
        if self.closed or self.kicked:
            return
        self.hub.discard(self)
        self.groups = list(groups)
        for group in self.groups:
            self.hub.groups.setdefault(group, {})[self] = None

    def close(self) -> None:
        """Leave every group and stop writing (on disconnect)."""
        self.closed = True
        self.hub.discard(self)
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()

    async def _write(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, int):
                    self.closed = True
                    await self._send({"type": "websocket.close", "code": item})
                    return
                await self._send({"type": "websocket.send", "text": item})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket went away under us; its disconnect() may not come
            log.debug("websocket write failed: %s", exc)
            self.closed = True
            self.hub.discard(self)


class Hub:
    """The registry of one process's sockets per group, fed by one subscription.

    ``url`` is a Redis URL, or None for the in-process transport (embedded default).  The hub binds
    to the event loop of its first subscriber; a hub whose loop has ended (one test's loop, then
    the next) starts over on the new one.
    """

    def __init__(self, url: str | None):
        self.url = url
        self.channel = events_channel(url) if url else ""
        self.groups: dict[str, dict[Subscription, None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self._finished: OrderedDict[str, None] = OrderedDict()

    # -- the sockets' side, on the event loop --------------------------------------------------

    async def subscribe(self, groups: Iterable[str], send: Send) -> Subscription:
        """Register a socket in ``groups``; frames queue until ``start()``.

        Returns once this process's subscription is live, so an event committed after this call
        returns reaches the socket.  Raises ``Unavailable`` if it is not live within a few seconds.
        """
        self._bind()
        if self.url is not None:
            if self._listener is None or self._listener.done():
                self._listener = self._loop.create_task(self._listen())
            try:
                async with asyncio.timeout(READY_SECONDS):
                    await self._ready.wait()
            except TimeoutError:
                raise Unavailable("no live event subscription") from None
        sub = Subscription(self, list(groups), send)
        for group in sub.groups:
            self.groups.setdefault(group, {})[sub] = None
        return sub

    def discard(self, sub: Subscription) -> None:
        for group in sub.groups:
            members = self.groups.get(group)
            if members is not None:
                members.pop(sub, None)
                if not members:
                    del self.groups[group]

    def deliver(self, groups: Iterable[str], text: str) -> None:
        """Queue ``text`` once for each local socket in any of ``groups`` (on the hub's loop)."""
        targets: dict[Subscription, None] = {}
        for group in groups:
            if group.startswith(FINISHED_PREFIX):
                self._remember_finished(group[len(FINISHED_PREFIX) :])
            targets.update(self.groups.get(group, ()))
        for sub in targets:
            sub.offer(text)

    def _remember_finished(self, job_id: str) -> None:
        self._finished[job_id] = None
        if len(self._finished) > FINISHED_KEEP:
            self._finished.popitem(last=False)

    def finished(self, job_id) -> bool:
        """True if a frame saying ``job_id`` finished reached this process lately (on the hub's loop).
        False proves nothing: the frame may not have come yet, or may have been lost."""
        return str(job_id) in self._finished

    def kick_all(self, code: int) -> None:
        for members in list(self.groups.values()):
            for sub in list(members):
                sub.kick(code)

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        if self._loop is not None and not self._loop.is_closed() and self._loop.is_running():
            raise RuntimeError("the event fan-out serves one event loop per process")
        self._loop = loop
        self._listener = None
        self._ready = asyncio.Event()
        self.groups.clear()

    async def _listen(self) -> None:
        """Hold the process's subscription; when it breaks, close the local sockets and resubscribe."""
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        delay = 0.5
        while True:
            # No silent reconnects inside redis-py: a gap in the subscription must close the sockets.
            client = aioredis.Redis.from_url(
                self.url, retry=Retry(NoBackoff(), 0), health_check_interval=10, client_name=CLIENT_NAME
            )
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    msg = await pubsub.get_message(timeout=5)
                    if msg is None:
                        continue
                    if msg["type"] == "subscribe":
                        self._ready.set()
                        delay = 0.5
                    elif msg["type"] == "message":
                        self._on_message(msg["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event subscription lost (%s); closing %d local sockets", exc, self.socket_count())
            finally:
                self._ready.clear()
                self.kick_all(CLOSE_RESTART)
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except Exception:
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)

    def _on_message(self, data: bytes) -> None:
        head, _, text = data.decode().partition("\n")
        self.deliver(head.split(" "), text)

    async def aclose(self) -> None:
        """Stop the subscription and forget every socket (tests; process shutdown)."""
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        self._listener = None
        self.groups.clear()
        self._loop = None

    def socket_count(self) -> int:
        return len({sub for members in self.groups.values() for sub in members})

    def deliver_threadsafe(self, groups: list[str], text: str) -> None:
        """In-process transport: ``deliver`` on the hub's loop, from any thread (dropped when no
        socket has bound the hub yet, or its loop has ended)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.deliver, groups, text)
            except RuntimeError:  # the loop closed in between
                pass


def encode(groups: list[str], text: str) -> str:
    """The Redis message of one frame for ``groups`` (``Hub._on_message`` reads it)."""
    return " ".join(groups) + "\n" + text


def events_channel(url: str) -> str:
    """The pub/sub channel of job events, named after the Redis database."""
    return f"qportal.events.{redis_db(url)}"


def redis_db(url: str) -> int:
    """The database number of a Redis URL (pub/sub names carry it: pub/sub ignores databases)."""
    from redis.connection import parse_url

    return int(parse_url(url).get("db", 0) or 0)
