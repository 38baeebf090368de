"""A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is refused however it is sent: with Content-Length
(Django's own check) and chunked, without one (issue 16: 294 MB were stored that way)."""

from __future__ import annotations

import json

import pytest

from qportal.handler import OneHopASGIHandler
from qportal.jobs.models import Job
from tests.test_handler import http_scope

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


async def send_chunked(app, chunks: int, chunk_size: int) -> tuple[dict, int]:
    """POST a body in ``chunks`` pieces with no Content-Length; returns the answer and how many
    pieces the handler read before it answered."""
    read = 0
    messages: list[dict] = []

    async def receive():
        nonlocal read
        read += 1
        if read > chunks:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"x" * chunk_size, "more_body": read < chunks}

    async def send(message):
        messages.append(message)

    await app(http_scope("POST", "/api/v1/jobs"), receive, send)
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return {"status": messages[0]["status"], "body": body}, read


async def test_a_chunked_body_over_the_limit_is_413_before_it_is_read_whole(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    app = OneHopASGIHandler(threads=1)
    answer, sent = await send_chunked(app, chunks=64, chunk_size=64 * 1024)  # 4 MiB offered
    assert answer["status"] == 413 and "over the limit of 1048576 bytes" in json.loads(answer["body"])["detail"]
    assert sent == 17  # it stopped reading at the first piece past 1 MiB
    assert await Job.objects.acount() == 0


async def test_a_chunked_body_under_the_limit_reaches_the_view(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    app = OneHopASGIHandler(threads=1)
    answer, _ = await send_chunked(app, chunks=4, chunk_size=1024)
    assert answer["status"] == 401  # read whole, then refused for want of a key
