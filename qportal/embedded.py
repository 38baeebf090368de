"""The embedded default: the job worker runs on the web server's own event loop.

The in-process message bus (``qportal.jobs.bus.LocalBus``) serves one process, so the worker is
started as a task on the loop that serves requests and websockets, once.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

from django.conf import settings

log = logging.getLogger(__name__)
_started: asyncio.Task | None = None


def ensure_embedded_worker() -> None:
    """Start the in-process worker on the running loop if configured and not yet started."""
    global _started
    if _started is not None or not settings.EMBEDDED_WORKER:
        return
    from qportal.jobs.worker import JobRunner

    runner = JobRunner()
    # A fresh context: started from inside a request, the task would otherwise inherit that
    # request's thread-sensitive context, whose sync thread ends with the request.
    _started = asyncio.get_event_loop().create_task(runner.serve(), context=contextvars.Context())
    log.info("embedded worker %s scheduled", runner.worker_id)


class EmbeddedWorkerApp:
    """ASGI wrapper that starts the embedded worker on the first connection."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        ensure_embedded_worker()
        return await self.app(scope, receive, send)
