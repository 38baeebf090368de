"""Websocket paths that name no stream are closed with 4404 (an HTTP 500 before), and an Origin
must match the page's scheme, host and port, as Django's CSRF check requires."""

from __future__ import annotations

import pytest

from tests.test_websockets import app, connect, fresh_layer  # noqa: F401  (fixtures)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("path", ["/ws/jobs/not-a-uuid/", "/ws/nothing/", "/ws/jobs/1/2/"])
async def test_a_websocket_path_naming_no_stream_is_closed_with_4404(app, users, path):  # noqa: F811
    comm, connected, code = await connect(app, path, users["alice"])
    assert connected
    assert (await comm.receive_output(5)) == {"type": "websocket.close", "code": 4404}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(
    "origin, host, allowed",
    [
        (b"http://127.0.0.1:8000", b"127.0.0.1:8000", True),
        (b"http://127.0.0.1:9999", b"127.0.0.1:8000", False),  # same host, another port
        (b"https://127.0.0.1:8000", b"127.0.0.1:8000", False),  # another scheme
        (b"http://localhost:8000", b"127.0.0.1:8000", False),
        (b"null", b"127.0.0.1:8000", False),
    ],
)
async def test_websocket_origin_must_match_scheme_host_and_port(app, users, origin, host, allowed):  # noqa: F811
    comm, connected, _ = await connect(app, "/ws/jobs/", users["alice"], origin=(b"origin", origin), host=host)
    assert connected == allowed
    if connected:
        await comm.disconnect()
