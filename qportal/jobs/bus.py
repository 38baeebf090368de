"""The one message path: job events (websocket frames), worker wake-ups and cancel notices.

``current()`` is this process's bus: a ``RedisBus`` when ``settings.REDIS_URL`` is set (any number
of web and worker processes), a ``LocalBus`` otherwise (the embedded default, one process).  Both
carry the same three kinds of message:

- **frames** (``publish``): a job event, encoded to JSON once, for the groups ``job.<id>`` and
  ``team.<id>``.  Each process's socket fan-out (``bus.hub``, a ``qportal.jobs.fanout.Hub``)
  receives them; websocket consumers and long-polls ``subscribe`` to it.  With Redis, one
  ``PUBLISH`` per event that every web process's one subscription hears; in-process, a call on the
  loop that serves the sockets.
- **wake-ups** (``wake_workers``, or ``publish(..., wake=True)`` for a new job): to every worker.
- **cancel notices** (``notify_cancel``): to the worker running the job.
- **team notices** (``notify_teams_changed``): to one user's sockets (group ``user.<id>``), in
  every web process, when they joined or left a team; the sockets re-read their teams.

Workers are Channels background consumers: ``join`` gives a worker a channel of the bus's channel
layer (``bus.layer``, the project's configured layer), and the worker reads its wake-ups and
cancels from it with the layer's ``receive``.  With Redis that layer is channels_redis's
``RedisPubSubChannelLayer``: wake-ups go to its group ``workers``, a cancel to the group of one
worker, published in the layer's own format (its group channel name and ``serialize``) from the
sending thread, so a request thread sends without an event-loop hop, and a new job's wake-up rides
in the same round trip as its first frame.  In-process, the bus sends to each joined worker's
channel with the layer's ``send``, on that worker's loop.

Frames do not go through the channel layer: it dispatches one message per socket, and its
reconnects are silent, while a gap in the fan-out's subscription must close the sockets so their
clients refetch (bench/README.md, benchmark 5 and "What did not work").

Every message is best effort, at most once: senders log and never raise.  The database stays the
record of truth: a lost frame is repaired by the client's refetch, a lost wake-up by the worker's
sweep, a lost cancel notice by the heartbeat of the job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from qportal.jobs import fanout
from qportal.jobs.models import TERMINAL

log = logging.getLogger(__name__)

WAKE = "job.wake"
CANCEL = "job.cancel"
WORKERS_GROUP = "workers"


def worker_group(worker_id: str) -> str:
    """The group that reaches one worker (channel-layer names allow only [a-zA-Z0-9_.-])."""
    return "worker." + re.sub(r"[^a-zA-Z0-9_.-]", "-", worker_id)[:90]


TEAMS_CHANGED = json.dumps({"type": "teams.changed"})  # never reaches a client: the socket acts on it


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def frame_groups(frame: dict[str, Any], team_id: int) -> list[str]:
    """The fan-out groups of a frame; a finishing one also names ``finished.<job>`` (``Hub.finished``)."""
    groups = [f"job.{frame['job']}", f"team.{team_id}"]
    if frame.get("status") in TERMINAL:
        groups.append(fanout.FINISHED_PREFIX + frame["job"])
    return groups


class Bus:
    """The interface.  Senders (``publish``, ``wake_workers``, ``notify_cancel``) may be called from
    any thread; ``subscribe``, ``join`` and ``leave`` run on the event loop."""

    hub: fanout.Hub
    layer: Any  # the channel layer workers receive on

    def publish(self, frame: dict[str, Any], team_id: int, *, wake: bool = False) -> None:
        """Send a job event to its job's and team's sockets; ``wake``: also wake the workers for
        this (new) job."""
        job_id = str(frame["job"])
        try:
            self._publish(frame_groups(frame, team_id), json.dumps(frame), job_id if wake else None)
        except Exception as exc:
            log.warning("could not publish event %s/%s: %s", job_id, frame.get("seq"), exc)

    def notify_teams_changed(self, user_id: int) -> None:
        """Tell ``user_id``'s open sockets, in every process, to re-read which teams they follow."""
        try:
            self._publish([user_group(user_id)], TEAMS_CHANGED, None)
        except Exception as exc:
            log.warning("could not tell user %s's sockets their teams changed: %s", user_id, exc)

    def wake_workers(self, job_id) -> None:
        """Hint every worker that ``job_id`` is waiting."""
        try:
            self._to_workers(None, {"type": WAKE, "job": str(job_id)})
        except Exception as exc:
            log.debug("wake-up for %s not sent: %s", job_id, exc)

    def notify_cancel(self, job_id, worker_id: str) -> None:
        """Tell the worker running ``job_id`` to look at it now."""
        try:
            self._to_workers(worker_id, {"type": CANCEL, "job": str(job_id)})
        except Exception as exc:
            log.debug("cancel notice for %s not sent: %s", job_id, exc)

    async def subscribe(self, groups: Iterable[str], send: fanout.Send) -> fanout.Subscription:
        """Register a socket (or a long-poll) for frames of ``groups`` (``Hub.subscribe``)."""
        return await self.hub.subscribe(groups, send)

    def finished(self, job_id) -> bool:
        """True if this process lately received the frame saying ``job_id`` finished (``Hub.finished``)."""
        return self.hub.finished(job_id)

    async def join(self, worker_id: str) -> str:
        """Make a channel of ``layer`` that receives the wake-ups and ``worker_id``'s cancels."""
        raise NotImplementedError

    async def leave(self, worker_id: str, channel: str) -> None:
        """Stop sending to ``channel`` (the worker stops serving)."""
        raise NotImplementedError

    def _publish(self, groups: list[str], text: str, wake_job: str | None) -> None:
        raise NotImplementedError

    def _to_workers(self, worker_id: str | None, message: dict[str, str]) -> None:
        """Send ``message`` to one worker, or to every worker when ``worker_id`` is None."""
        raise NotImplementedError


class LocalBus(Bus):
    """One process: frames go to the hub's loop, worker messages to each joined worker's channel
    of the in-memory layer, on its loop."""

    def __init__(self, layer=None):
        self.hub = fanout.Hub(None)
        self.layer = layer if layer is not None else get_channel_layer()
        self._workers: dict[str, tuple[asyncio.AbstractEventLoop, str]] = {}

    async def join(self, worker_id: str) -> str:
        channel = await self.layer.new_channel()
        self._workers[worker_id] = (asyncio.get_running_loop(), channel)
        return channel

    async def leave(self, worker_id: str, channel: str) -> None:
        if self._workers.get(worker_id, (None, None))[1] == channel:
            del self._workers[worker_id]

    def _publish(self, groups: list[str], text: str, wake_job: str | None) -> None:
        self.hub.deliver_threadsafe(groups, text)
        if wake_job is not None:
            self.wake_workers(wake_job)

    def _to_workers(self, worker_id: str | None, message: dict[str, str]) -> None:
        if worker_id is None:
            targets = list(self._workers.values())
        else:
            target = self._workers.get(worker_id)
            targets = [target] if target is not None else []
        for loop, channel in targets:
            if loop.is_closed():
                continue
            try:
                asyncio.run_coroutine_threadsafe(self.layer.send(channel, message), loop)
            except RuntimeError:  # its loop closed in between
                pass


class RedisBus(Bus):
    """Every process on one Redis: frames on the fan-out's pub/sub channel, worker messages in the
    format of ``layer``, a ``RedisPubSubChannelLayer`` whose names start with ``prefix``."""

    def __init__(self, url: str, layer, prefix: str):
        self.hub = fanout.Hub(url)
        self.layer = layer
        self.prefix = prefix
        self._client = None
        self._client_pid = 0
        self._lock = threading.Lock()

    @classmethod
    def for_url(cls, url: str) -> RedisBus:
        """A bus on ``url`` with its own layer, configured as settings.py configures the default one."""
        from channels_redis.pubsub import RedisPubSubChannelLayer

        prefix = f"qportal.{fanout.redis_db(url)}."
        return cls(url, RedisPubSubChannelLayer(hosts=[url], prefix=prefix), prefix)

    async def join(self, worker_id: str) -> str:
        channel = await self.layer.new_channel()
        for group in (WORKERS_GROUP, worker_group(worker_id)):
            await self.layer.group_add(group, channel)
        return channel

    async def leave(self, worker_id: str, channel: str) -> None:
        for group in (WORKERS_GROUP, worker_group(worker_id)):
            await self.layer.group_discard(group, channel)

    def group_channel(self, group: str) -> str:
        """The Redis channel of a group of ``layer`` (``RedisPubSubLoopLayer._get_group_channel_name``;
        tests/test_bus.py checks that the layer receives what is sent there)."""
        return f"{self.prefix}__group__{group}"

    def _publish(self, groups: list[str], text: str, wake_job: str | None) -> None:
        message = fanout.encode(groups, text)
        if wake_job is None:
            self._redis().publish(self.hub.channel, message)
            return
        pipe = self._redis().pipeline(transaction=False)
        pipe.publish(self.hub.channel, message)
        pipe.publish(self.group_channel(WORKERS_GROUP), self.layer.serialize({"type": WAKE, "job": wake_job}))
        pipe.execute()

    def _to_workers(self, worker_id: str | None, message: dict[str, str]) -> None:
        group = WORKERS_GROUP if worker_id is None else worker_group(worker_id)
        self._redis().publish(self.group_channel(group), self.layer.serialize(message))

    def _redis(self):
        with self._lock:
            if self._client is None or self._client_pid != os.getpid():
                import redis

                self._client = redis.Redis.from_url(self.hub.url, socket_timeout=2, socket_connect_timeout=2)
                self._client_pid = os.getpid()
            return self._client


def from_settings() -> Bus:
    """The bus the settings describe: Redis with ``REDIS_URL``, in-process without."""
    layer = get_channel_layer()
    if not settings.REDIS_URL:
        return LocalBus(layer)
    from channels_redis.pubsub import RedisPubSubChannelLayer

    if not isinstance(layer, RedisPubSubChannelLayer):
        raise ImproperlyConfigured(
            "with REDIS_URL the default channel layer must be channels_redis.pubsub.RedisPubSubChannelLayer: "
            "qportal.jobs.bus sends worker wake-ups and cancel notices in its format"
        )
    return RedisBus(settings.REDIS_URL, layer, settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi"))


_current: Bus | None = None
_current_lock = threading.Lock()


def current() -> Bus:
    """This process's bus (``from_settings``, made on first use)."""
    global _current
    with _current_lock:
        if _current is None:
            _current = from_settings()
        return _current


def use(new: Bus | None) -> Bus | None:
    """Replace this process's bus (tests); returns the previous one."""
    global _current
    with _current_lock:
        old, _current = _current, new
    return old
