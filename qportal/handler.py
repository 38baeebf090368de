"""Django's HTTP handling under ASGI with one thread hop per request.

Django's own ``ASGIHandler`` runs the middleware chain in async mode: every sync middleware
(sessions, CSRF, auth, messages... all of ours) and the sync view each cost a hop from the event
loop to a thread and back, in a thread created for that request, and the request-started and
-finished signals two more.  All our views are sync, so this handler reads the body on the event
loop, then runs the whole request (signals, the sync middleware chain, the view, closing the
response) as one call in a fixed pool of threads, and sends the answer from the event loop.

A view may answer with a response that is finished later (``FinishedLater``, the long-poll
``?wait=`` of ``qportal.jobs.waiting``): the request thread is released, the handler awaits the
response's completion on the event loop (where the process's event fan-out lives), and the body is
rendered in a request thread once more.  So a waiting request holds no thread, and costs two hops.
Requests carry ``finished_later_ok`` so that ``finish_later_middleware`` leaves that to the handler.

Database connections are per thread in Django: the request-finished signal, sent in the same thread
as the view, gives the request's connection back (to the pool with ``QPORTAL_DB_POOL_SIZE``).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import checks, signals
from django.core.exceptions import ImproperlyConfigured, RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections
from django.http import HttpResponse, JsonResponse
from django.urls import set_script_prefix
from django.utils.decorators import sync_and_async_middleware

RunSync = Callable[..., Awaitable[Any]]

# OneHopASGIHandler skips ASGIHandler.__init__ and calls its load_middleware, read_body,
# create_request, get_response and send_response: internals that may change between releases.
WRITTEN_FOR_DJANGO = (5, 2)


def django_version_problem() -> str | None:
    """Why this handler must not start on the installed Django, or None."""
    if django.VERSION[:2] == WRITTEN_FOR_DJANGO:
        return None
    found = ".".join(map(str, django.VERSION[:2]))
    wanted = ".".join(map(str, WRITTEN_FOR_DJANGO))
    return (
        f"qportal.handler was written against Django {wanted}, and Django {found} is installed. "
        "It relies on ASGIHandler's internals (load_middleware, read_body, create_request, "
        "get_response, send_response): compare them with django/core/handlers/asgi.py of the new "
        "release, run tests/test_handler.py (the contract test against Django's stock handler), "
        "then update WRITTEN_FOR_DJANGO."
    )


@checks.register(checks.Tags.compatibility)
def check_django_version(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problem = django_version_problem()
    return [checks.Error(problem, id="qportal.E001")] if problem else []


class FinishedLater:
    """Mixin for a response whose body is completed after the view returned, on the event loop.

    ``finish(run_sync)`` completes it, where ``run_sync(fn, *args)`` runs a sync function in a
    thread.  The one-hop handler awaits it on its loop with its request threads; under Django's
    own handlers (the test clients, plain ASGI or WSGI) ``finish_later_middleware`` does.
    """

    async def finish(self, run_sync: RunSync) -> None:
        raise NotImplementedError


async def in_sync_thread(fn, *args):
    """``run_sync`` for Django's own handlers: asgiref's thread-sensitive thread, as for a sync view."""
    return await sync_to_async(fn)(*args)


@sync_and_async_middleware
def finish_later_middleware(get_response):
    """Completes ``FinishedLater`` responses that the one-hop handler will not (first in MIDDLEWARE)."""
    if iscoroutinefunction(get_response):

        async def finish_on_loop(request):
            response = await get_response(request)
            if isinstance(response, FinishedLater):
                await response.finish(in_sync_thread)
            return response

        return finish_on_loop

    def finish_here(request):
        response = get_response(request)
        if isinstance(response, FinishedLater) and not getattr(request, "finished_later_ok", False):
            async_to_sync(response.finish)(in_sync_thread)  # Django's sync handler: this thread waits
        return response

    return finish_here


def set_body(response: HttpResponse, content: bytes) -> None:
    """Replace a finished response's body (middleware may have set Content-Length for the old one)."""
    response.content = content
    if response.has_header("Content-Length"):
        response.headers["Content-Length"] = str(len(response.content))


class OneHopASGIHandler(ASGIHandler):
    def __init__(self, threads: int | None = None):
        problem = django_version_problem()
        if problem:
            raise ImproperlyConfigured(problem)
        self.load_middleware(is_async=False)
        self.executor = ThreadPoolExecutor(threads or settings.WEB_THREADS, thread_name_prefix="request")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        except BodyTooLarge as too_large:
            await self.send_response(JsonResponse({"detail": str(too_large)}, status=413), send)
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await sync_to_async(self.respond, thread_sensitive=False, executor=self.executor)(
                scope, body_file
            )
            if isinstance(response, FinishedLater) and not await self._finish_unless_gone(response, receive):
                return
            await self.send_response(response, send)
            if response.streaming:
                await sync_to_async(response.close, thread_sensitive=False, executor=self.executor)()
        finally:
            body_file.close()

    async def read_body(self, receive):
        """Django's ``read_body``, stopped at ``DATA_UPLOAD_MAX_MEMORY_SIZE`` however the body is sent.

        Django checks the limit against Content-Length only, so a chunked body of any size was read
        (and spooled) whole before a view saw it.
        """
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body_file = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body_file.close()
                raise RequestAborted()
            chunk = message.get("body", b"")
            size += len(chunk)
            if limit is not None and size > limit:
                body_file.close()
                raise BodyTooLarge(f"the request body is over the limit of {limit} bytes")
            body_file.write(chunk)
            if not message.get("more_body", False):
                break
        body_file.seek(0)
        return body_file

    def respond(self, scope, body_file):
        """The whole request in this thread; a non-streaming response comes back already closed."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            request.finished_later_ok = True
            response = self.get_response(request)
        response._handler_class = self.__class__
        if response.streaming:
            # Sent later from the event loop; the database work is done, so give the connection back now.
            close_old_connections()
        else:
            response.close()  # sends request_finished here, in the thread that holds the connection
        return response

    async def _finish_unless_gone(self, response: FinishedLater, receive) -> bool:
        """Await the response's completion; False (and the completion cancelled) if the client leaves first."""
        finishing = asyncio.ensure_future(response.finish(self.run_sync))
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((finishing, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not finishing.done():
            finishing.cancel()
            await asyncio.gather(finishing, return_exceptions=True)
            return False
        finishing.result()  # its failure is the request's
        return True

    async def run_sync(self, fn, *args):
        """``fn(*args)`` in a request thread, its database connection given back as a request's is."""

        def call():
            close_old_connections()
            try:
                return fn(*args)
            finally:
                close_old_connections()

        return await sync_to_async(call, thread_sensitive=False, executor=self.executor)()


class BodyTooLarge(Exception):
    """A request body past ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (answered 413 before any view runs)."""


async def _disconnected(receive) -> None:
    """Return when the client has gone (the request body was read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass
