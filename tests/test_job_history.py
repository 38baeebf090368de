"""A long history a page at a time: cursor walks (while jobs arrive), every sort by cursor, the
list page's links, bad cursors, and counts that stop at a cap (search: tests/test_job_search.py).

Also run on PostgreSQL: ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/test pytest tests/test_job_history.py``.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from qportal.jobs import history, services
from qportal.jobs.models import Job, JobStatus
from tests.circuits import BELL

START = datetime(2024, 3, 5, 14, 7, tzinfo=UTC)


def submit(user, team, **kwargs) -> Job:
    return services.submit_job(
        user, services.Submission(profile="local", circuits=[{"qasm": BELL}], shots=100, team=team.id, **kwargs)
    )


def make_history(users, count: int, *, tie: int = 4, **fields) -> list[Job]:
    """``count`` lab jobs, ``tie`` of them at each instant (the id must break the tie), oldest first;
    names repeat every 5 and statuses every 3 so that every sort has ties too."""
    seed = submit(users["alice"], users["lab"], name="seed")
    creators = [users["alice"], users["bob"], None]
    copies = []
    for i in range(count):
        copy = Job.objects.get(id=seed.id)
        copy.id, copy.name = uuid.uuid4(), f"job {i % 5}"
        copy.created_by = creators[i % 3]
        copy.status = [JobStatus.DONE, JobStatus.FAILED, JobStatus.QUEUED][i % 3]
        copy.num_circuits = i % 4
        for name, value in fields.items():
            setattr(copy, name, value(i) if callable(value) else value)
        copies.append(copy)
    Job.objects.filter(id=seed.id).delete()
    made = Job.objects.bulk_create(copies)
    for i, job in enumerate(made):  # created is auto_now_add: set afterwards
        Job.objects.filter(id=job.id).update(created=START + timedelta(seconds=i // tie))
    return made


def walk(get, **params) -> list[dict]:
    """Every page from the first by following ``next``; ``get(params)`` answers one page."""
    items, cursor = [], None
    while True:
        body = get({**params, **({"cursor": cursor} if cursor else {})})
        items += body["items"]
        cursor = body["next"]
        if cursor is None:
            return items


def api_page(client):
    def get(params):
        resp = client.get("/api/v1/jobs", params)
        assert resp.status_code == 200, resp.content
        return resp.json()

    return get


def newest_first(jobs) -> list[str]:
    ordered = Job.objects.filter(id__in=[j.id for j in jobs]).order_by("-created", "-id")
    return [str(i) for i in ordered.values_list("id", flat=True)]


# -- walks ------------------------------------------------------------------------------------


def test_a_cursor_walk_returns_every_job_once_while_jobs_arrive(client, users):
    old = make_history(users, 53)
    client.force_login(users["alice"])
    arrived = []
    page = api_page(client)

    def get_then_add(params):
        body = page(params)
        arrived.append(str(submit(users["bob"], users["lab"], name="arrived").id))  # at the head, mid-walk
        return body

    seen = [item["id"] for item in walk(get_then_add, page_size=5)]
    assert len(arrived) == 11
    assert seen == newest_first(old)  # each old job once, in order; the new ones are all before the start
    head = page({"page_size": 11})["items"]
    assert [item["id"] for item in head] == arrived[::-1]


def test_previous_walks_back_through_the_same_pages(client, users):
    make_history(users, 23)
    client.force_login(users["alice"])
    page = api_page(client)
    forward, cursor = [], None
    while True:
        body = page({"page_size": 4, **({"cursor": cursor} if cursor else {})})
        forward.append([item["id"] for item in body["items"]])
        if body["next"] is None:
            break
        cursor = body["next"]
    assert [len(p) for p in forward] == [4, 4, 4, 4, 4, 3] and body["previous"]
    back, cursor = [], body["previous"]
    while cursor:
        body = page({"page_size": 4, "cursor": cursor})
        back.append([item["id"] for item in body["items"]])
        cursor = body["previous"]
    assert back == forward[:-1][::-1]
    assert page({"page_size": 4})["previous"] is None


@pytest.mark.parametrize(
    "sort", ["-created", "created", "name", "-name", "status", "-status", "creator", "-circuits", "profile", "team"]
)
def test_every_sort_walks_in_the_order_of_one_big_page(client, users, sort):
    make_history(users, 31, tie=3)
    client.force_login(users["alice"])
    page = api_page(client)
    whole = [item["id"] for item in page({"sort": sort, "page_size": 200})["items"]]
    assert len(whole) == 31
    assert [item["id"] for item in walk(page, sort=sort, page_size=4)] == whole


def test_a_cursor_walk_with_filters_keeps_them(client, users):
    made = make_history(users, 40, tags=lambda i: ["sweep"] if i % 2 else ["other"])
    Job.objects.filter(id__in=[j.id for j in made]).update(tag_index="")  # the tag filter must not need it on PG
    for job in made:
        Job.objects.filter(id=job.id).update(tag_index="".join(f"|{t}" for t in job.tags) + "|")
    client.force_login(users["alice"])
    page = api_page(client)
    found = walk(page, tag="sweep", status="failed", sort="name", page_size=3)
    expected = [j for j in made if j.tags == ["sweep"] and j.status == JobStatus.FAILED]
    assert sorted(item["id"] for item in found) == sorted(str(j.id) for j in expected)
    assert [item["name"] for item in found] == sorted(item["name"] for item in found)


def test_the_list_page_links_next_and_previous(client, users):
    old = make_history(users, 12)
    client.force_login(users["alice"])
    shown, html = [], client.get("/", {"page_size": "25", "status": "done"}).content.decode()
    assert 'id="previous-page"' not in html and 'id="first-page"' not in html
    expected = [i for i in newest_first(old) if Job.objects.get(id=i).status == JobStatus.DONE]
    html = client.get("/", {"status": "done"}).content.decode()
    assert re.findall(r'<tr data-job="([0-9a-f-]+)"', html) == expected  # 4 done jobs: one page
    many = make_history(users, 60)
    html = client.get("/").content.decode()
    while True:
        shown += re.findall(r'<tr data-job="([0-9a-f-]+)"', html)
        submit(users["bob"], users["lab"], name="arrived")  # arrives at the head while the list is read
        following = re.search(r'href="\?cursor=([\w-]+)" id="next-page"', html)
        if not following:
            break
        resp = client.get("/", {"cursor": following.group(1)})
        html = resp.content.decode()
        assert 'id="previous-page"' in html and 'href="?" id="first-page"' in html
        assert '<table class="jobs" id="jobs" data-query="" data-cursor="' + following.group(1) + '"' in html
    assert shown == newest_first(old + many)
    earlier = re.search(r'href="\?cursor=([\w-]+)" id="previous-page"', html).group(1)
    assert len(re.findall(r"<tr data-job=", client.get("/", {"cursor": earlier}).content.decode())) == 25


# -- bad cursors ------------------------------------------------------------------------------


def forged(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("cursor", "said"),
    [
        ("nonsense", "invalid cursor"),
        ("%%%", "invalid cursor"),
        (forged([1, 2]), "invalid cursor"),
        (forged({"s": "-created", "b": False, "k": ["yesterday", "x"]}), "invalid cursor"),
        (forged({"s": "-created", "b": False, "k": ["2024-03-05T14:07:00", str(uuid.uuid4())]}), "invalid cursor"),
        (forged({"s": "-created", "b": "no", "k": ["2024-03-05T14:07:00+00:00", str(uuid.uuid4())]}), "invalid"),
        (forged({"s": "name", "b": False, "k": ["a", "2024-03-05T14:07:00+00:00", str(uuid.uuid4())]}), "sort 'name'"),
        ("A" * 1001, "longer than 1000 characters"),
    ],
)
def test_a_bad_cursor_is_a_400_that_says_so(client, users, cursor, said):
    make_history(users, 3)
    client.force_login(users["alice"])
    api = client.get("/api/v1/jobs", {"cursor": cursor})
    assert api.status_code == 400 and said in api.json()["detail"]
    page = client.get("/", {"cursor": cursor})
    assert page.status_code == 400 and said.replace("'", "&#x27;") in page.content.decode()
    assert "<tr data-job=" not in page.content.decode()


def test_a_cursor_for_another_sort_is_refused(client, users):
    make_history(users, 6)
    client.force_login(users["alice"])
    by_name = client.get("/api/v1/jobs", {"sort": "name", "page_size": 2}).json()["next"]
    resp = client.get("/api/v1/jobs", {"cursor": by_name})
    assert resp.status_code == 400 and "belongs to sort 'name', not '-created'" in resp.json()["detail"]
    assert client.get("/api/v1/jobs", {"cursor": by_name, "sort": "name"}).status_code == 200


# -- counts -----------------------------------------------------------------------------------


def test_the_count_stops_at_the_cap_and_says_so(client, users, monkeypatch):
    make_history(users, 30)
    client.force_login(users["alice"])
    exact = client.get("/api/v1/jobs", {"page_size": 2}).json()
    assert (exact["count"], exact["count_capped"]) == (30, False)
    monkeypatch.setattr(history, "COUNT_CAP", 5)
    capped = client.get("/api/v1/jobs", {"page_size": 2}).json()
    assert (capped["count"], capped["count_capped"]) == (5, True)
    later = client.get("/api/v1/jobs", {"page_size": 2, "cursor": capped["next"]}).json()
    assert (later["count"], later["count_capped"]) == (5, True)
    whole = client.get("/api/v1/jobs", {"page_size": 50}).json()  # one page is the whole list: its length
    assert (whole["count"], whole["count_capped"], len(whole["items"])) == (30, False, 30)
    assert '<span id="job-count">more than 5 jobs</span>' in client.get("/").content.decode()
    assert '<span id="job-count">10 jobs</span>' in client.get("/", {"status": "failed"}).content.decode()
    monkeypatch.setattr(history, "COUNT_CAP", 30)
    assert client.get("/api/v1/jobs", {"page_size": 2}).json()["count_capped"] is False  # the cap is not more
