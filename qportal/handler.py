"""Django's HTTP handling under ASGI with one thread hop per request.

Django's own ``ASGIHandler`` runs the middleware chain in async mode: every sync middleware
(sessions, CSRF, auth, messages... all of ours) and the sync view each cost a hop from the event
loop to a thread and back, in a thread created for that request, and the request-started and
-finished signals two more.  All our views are sync, so this handler reads the body on the event
loop, then runs the whole request (signals, the sync middleware chain, the view, closing the
response) as one call in a fixed pool of threads, and sends the answer from the event loop.

Long-poll requests (``?wait=`` with a non-zero value, ``qportal.jobs.waiting``) take Django's own
async path instead: their views are async, so the wait holds no request thread and hears the job's
events on the process's fan-out, which lives on the event loop.

Database connections are per thread in Django: the request-finished signal, sent in the same thread
as the view, gives the request's connection back (to the pool with ``QPORTAL_DB_POOL_SIZE``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections
from django.urls import set_script_prefix


class OneHopASGIHandler(ASGIHandler):
    def __init__(self, threads: int | None = None):
        self.load_middleware(is_async=False)
        self.executor = ThreadPoolExecutor(threads or settings.WEB_THREADS, thread_name_prefix="request")
        self.on_loop = ASGIHandler()  # Django's async path, for requests that wait

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        if _waits(scope):
            return await self.on_loop(scope, receive, send)
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await sync_to_async(self.respond, thread_sensitive=False, executor=self.executor)(
                scope, body_file
            )
            await self.send_response(response, send)
            if response.streaming:
                await sync_to_async(response.close, thread_sensitive=False, executor=self.executor)()
        finally:
            body_file.close()

    def respond(self, scope, body_file):
        """The whole request in this thread; a non-streaming response comes back already closed."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
        response._handler_class = self.__class__
        if response.streaming:
            # Sent later from the event loop; the database work is done, so give the connection back now.
            close_old_connections()
        else:
            response.close()  # sends request_finished here, in the thread that holds the connection
        return response


def _waits(scope) -> bool:
    """The request asks to wait (any ``wait`` value but zero; the view validates it)."""
    query = scope.get("query_string") or b""
    if b"wait=" not in query:
        return False
    values = parse_qs(query.decode("latin-1")).get("wait", [])
    return any(value.strip() not in ("", "0", "0.0") for value in values)
