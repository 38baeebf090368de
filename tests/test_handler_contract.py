"""The one-hop handler answers as Django's stock ``ASGIHandler`` does, and refuses a Django it was
not written against (qportal.handler.WRITTEN_FOR_DJANGO)."""

from __future__ import annotations

import json
import re

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.test import Client

from qportal import handler
from qportal.accounts.models import ApiKey
from qportal.handler import OneHopASGIHandler
from tests.circuits import BELL
from tests.test_handler import call, cookies

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# Headers whose values differ from one answer to the next by design.
VOLATILE = {b"set-cookie", b"date", b"vary"}
_TOKENS = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]+|("(?:created|submitted_at|id)": ?)"[^"]*"')


def comparable(answer: dict) -> tuple:
    headers = sorted((k.lower(), v if k.lower() not in VOLATILE else b"*") for k, v in answer["headers"])
    return answer["status"], headers, _TOKENS.sub(rb"\1\2*", answer["body"])


async def both(method: str, path: str, body: bytes = b"", headers: list | None = None, query: bytes = b""):
    stock = await call(ASGIHandler(), method, path, body, headers, query)
    mine = await call(OneHopASGIHandler(threads=2), method, path, body, headers, query)
    return stock, mine


@pytest.fixture
def auth(users):
    _, key = ApiKey.issue(users["alice"])
    return [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]


@pytest.fixture
def session(users):
    client = Client()
    client.force_login(users["alice"])
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def test_api_get_post_and_errors_answer_alike(auth):
    bad = json.dumps({"profile": "local", "circuits": [{"qasm": "OPENQASM 2.0; qreg q[1"}]}).encode()
    requests = [
        ("GET", "/api/v1/profiles", b"", auth),
        ("GET", "/api/v1/jobs", b"", auth),
        ("POST", "/api/v1/jobs", bad, auth),  # 400 with the parser's line
        ("POST", "/api/v1/jobs", b"{not json", auth),  # 400 from ninja
        ("GET", "/api/v1/jobs/00000000-0000-0000-0000-000000000000", b"", auth),  # 404
        ("GET", "/api/v1/profiles", b"", []),  # 401 without a key
        ("GET", "/no/such/page/", b"", []),  # Django's 404
    ]
    for method, path, body, headers in requests:
        stock, mine = await both(method, path, body, headers)
        assert comparable(stock) == comparable(mine), (method, path)


async def test_pages_with_csrf_and_session_answer_alike(users, session):
    for path in ("/login/", "/", "/profiles/", "/static/qportal.css", "/static/js/live.js"):
        stock, mine = await both("GET", path, headers=session if path != "/login/" else None)
        assert comparable(stock) == comparable(mine), path
        assert mine["status"] == 200, path
    form = await call(OneHopASGIHandler(threads=1), "GET", "/login/")
    csrf = cookies(form)["csrftoken"]
    body = f"username=alice&password=correct+horse+battery&csrfmiddlewaretoken={csrf}".encode()
    headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"cookie", f"csrftoken={csrf}".encode())]
    stock, mine = await both("POST", "/login/", body, headers)
    assert comparable(stock) == comparable(mine) and mine["status"] == 302
    stock, mine = await both("POST", "/login/", body, headers[:1])  # no CSRF cookie: 403
    assert comparable(stock) == comparable(mine) and mine["status"] == 403


async def test_streaming_and_long_poll_answer_alike(auth, session, run_jobs):
    example = sorted(settings.QASMBENCH_DIR.glob("*.qasm"))[0]
    stock, mine = await both("GET", f"/jobs/examples/{example.stem}.qasm", headers=session)
    assert comparable(stock) == comparable(mine) and mine["body"] == example.read_bytes()
    created = await call(
        OneHopASGIHandler(threads=1),
        "POST",
        "/api/v1/jobs",
        json.dumps({"profile": "local", "circuits": [{"qasm": BELL}], "shots": 64, "name": "contract"}).encode(),
        auth,
    )
    job_id = json.loads(created["body"])["id"]
    await sync_to_async(run_jobs)()
    stock, mine = await both("GET", f"/api/v1/jobs/{job_id}", headers=auth, query=b"wait=5")
    assert mine["status"] == 200 and json.loads(mine["body"])["status"] == "done"
    assert comparable(stock) == comparable(mine)


def test_refuses_a_django_it_was_not_written_for(monkeypatch):
    assert handler.check_django_version() == []
    monkeypatch.setattr(handler, "WRITTEN_FOR_DJANGO", (4, 2))
    errors = handler.check_django_version()
    assert [e.id for e in errors] == ["qportal.E001"] and "written against Django 4.2" in errors[0].msg
    with pytest.raises(ImproperlyConfigured, match="ASGIHandler's internals"):
        OneHopASGIHandler(threads=1)
