"""The worker's part in portal sessions (``qportal.jobs.sessions``).

:func:`bind` gives a session job's request the callback that saves a newly opened IBM session's id
at once (before any job is sent into it), so the next job, on any worker, joins the same session.
:func:`run_forever` is one of the worker's extra loops (``WORKER_LOOPS``): every sweep interval it
expires sessions past their ``max_time`` or idle timeout, then ends those that stopped taking
jobs: it closes (or cancels) their IBM session and marks them ended.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings

from executors.base import ExecutionRequest, ExecutorError, SessionExecutor
from qportal.jobs import sessions
from qportal.jobs.models import SessionStatus

log = logging.getLogger(__name__)


def _db(fn):
    return sync_to_async(fn, thread_sensitive=True)


def bind(request: ExecutionRequest) -> None:
    """Make ``request.session.on_session_id`` save the IBM session id (first saved wins)."""
    ref = request.session
    if ref is None:
        return

    async def save(remote_id: str, backend: str) -> str:
        return await _db(sessions.record_remote_id)(ref.key, remote_id, backend)

    ref.on_session_id = save


async def sweep(runner) -> list:
    """Expire due sessions, then end those whose end is due; the ids of the sessions ended.  The
    executors this worker kept for sessions that have ended (here or on another worker) go."""
    await _db(sessions.expire_due)()
    for key in await _db(sessions.ended_among)(runner.kept_sessions()):
        runner.forget_session(key)
    ended = []
    for ending in await _db(sessions.due_to_end)():
        kept = runner.forget_session(str(ending.session_id))
        if ending.remote_id and ending.spec is not None:
            from qportal.jobs import worker  # the runner's module builds executors (tests adjust it)

            executor = kept if isinstance(kept, SessionExecutor) else worker.build_executor(ending.spec)
            try:
                if ending.status == SessionStatus.CANCELLED:
                    await executor.cancel_session(ending.remote_id, ending.mode)
                else:
                    await executor.close_session(ending.remote_id, ending.mode)
            except ExecutorError as exc:  # tried again at the next sweep
                log.warning("session %s: IBM session %s not ended yet: %s", ending.session_id, ending.remote_id, exc)
                continue
        if await _db(sessions.mark_ended)(ending.session_id):
            ended.append(ending.session_id)
            log.info("session %s ended (%s)", ending.session_id, ending.status)
    return ended


async def run_forever(runner) -> None:
    """The worker's session loop (started by ``JobRunner.serve`` from ``WORKER_LOOPS``)."""
    while True:
        try:
            await sweep(runner)
        except Exception:
            log.exception("session sweep failed; retrying")
        await asyncio.sleep(settings.WORKER_SWEEP_SECONDS)
