"""IBM ``Session``/``Batch`` objects that outlive a job: one per portal session, shared by its jobs.

:class:`RemoteSessions` belongs to one :class:`~executors.ibm_cloud.IBMCloudExecutor`.  The first
job of a portal session opens the remote session and hands its id to the request's
``on_session_id`` before any job is sent into it; a later job, in this process or in another one
after a crash, joins it with ``Session.from_id`` / ``Batch.from_id``.  Nothing here closes a
session after a job: :meth:`RemoteSessions.end` closes or cancels one by id when the portal
session ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from qiskit_ibm_runtime import Batch, Session

from executors.base import (
    AuthenticationError,
    ExecutorError,
    InvalidRequest,
    RemoteJobFailed,
    SessionRequest,
    TransientError,
)

logger = logging.getLogger(__name__)


def _mode_class(mode: str) -> type[Session]:
    return Batch if mode == "batch" else Session


class RemoteSessions:
    """Open remote sessions by portal session key; ``executor`` gives ``_call`` and ``_service``."""

    def __init__(self, executor: Any):
        self._executor = executor
        self._open: dict[str, Session] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def join(self, ref: SessionRequest, backend: Any) -> Session:
        """The remote session of ``ref``: cached, joined by its known id, or opened now (its id is
        then saved through ``ref.on_session_id`` before this returns)."""
        lock = self._locks.setdefault(ref.key, asyncio.Lock())
        async with lock:
            mode = self._open.get(ref.key)
            if mode is not None and (ref.remote_id in (None, mode.session_id)):
                return mode
            cls = _mode_class(ref.mode)
            call = self._executor._call
            if ref.remote_id:
                mode = await call(cls.from_id, ref.remote_id, await self._executor._service())
                logger.info("joined IBM %s %s", ref.mode, ref.remote_id)
            else:
                mode = await call(cls, backend=backend, max_time=ref.max_time)
                logger.info("opened IBM %s %s for portal session %s", ref.mode, mode.session_id, ref.key)
                chosen = mode.session_id
                if ref.on_session_id is not None:
                    chosen = await ref.on_session_id(mode.session_id, mode.backend() or "")
                if chosen != mode.session_id:  # another worker saved its own first: use that one
                    await self._quietly(mode.close, mode.session_id)
                    mode = await call(cls.from_id, chosen, await self._executor._service())
            ref.remote_id = mode.session_id
            self._open[ref.key] = mode
            return mode

    def refused(self, ref: SessionRequest, error: ExecutorError) -> ExecutorError:
        """The error to raise when IBM refused a job of ``ref``'s session: a transient fault or a
        refused credential as it is; otherwise (the session closed or expired at IBM) a final
        failure that names the session, which is forgotten here."""
        if isinstance(error, (TransientError, AuthenticationError)):
            return error
        self._open.pop(ref.key, None)
        return RemoteJobFailed(
            f"IBM {ref.mode} {ref.remote_id} took no job ({error}); it may have reached its max_time: "
            "open a new portal session"
        )

    async def end(self, remote_id: str, mode: str, *, cancel: bool) -> None:
        """Close (or cancel) the remote session ``remote_id``; one IBM no longer knows is ended."""
        for key, session in list(self._open.items()):
            if session.session_id == remote_id:
                del self._open[key]
                self._locks.pop(key, None)
        try:
            session = await self._executor._call(_mode_class(mode).from_id, remote_id, await self._executor._service())
        except InvalidRequest as error:  # "Session not found"
            logger.info("IBM %s %s is gone: %s", mode, remote_id, error)
            return
        await self._executor._call(session.cancel if cancel else session.close)
        logger.info("%s IBM %s %s", "cancelled" if cancel else "closed", mode, remote_id)

    async def _quietly(self, fn: Any, remote_id: str) -> None:
        try:
            await self._executor._call(fn)
        except ExecutorError as error:
            logger.warning("could not close IBM session %s: %s", remote_id, error)
