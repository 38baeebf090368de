"""Finding jobs in a long history: the tag filter matches one whole tag, ``q`` finds a job by the
start of its id through a range on the primary key, SQLite searches a bounded window, and on
PostgreSQL each of them is served by an index of migration 0008.

Also run on PostgreSQL: ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/test pytest tests/test_job_search.py``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from qportal.jobs import filters, services
from qportal.jobs.models import Job
from qportal.jobs.schemas import JobFilters
from tests.circuits import BELL

START = datetime(2024, 3, 5, 14, 7, tzinfo=UTC)
postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's indexes")
sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="SQLite's bounded search")


def submit(user, team, **kwargs) -> Job:
    return services.submit_job(
        user, services.Submission(profile="local", circuits=[{"qasm": BELL}], shots=100, team=team.id, **kwargs)
    )


def test_the_tag_filter_matches_one_whole_tag(client, users):
    tagged = {
        "exact": ["sweep"],
        "second": ["a", "sweep"],
        "longer": ["sweeper"],
        "prefixed": ["big-sweep"],
        "spaced": ["sweep 2"],
        "none": [],
    }
    for name, tags in tagged.items():
        submit(users["alice"], users["lab"], name=name, tags=tags)
    client.force_login(users["alice"])
    found = {item["name"] for item in client.get("/api/v1/jobs", {"tag": "sweep"}).json()["items"]}
    assert found == {"exact", "second"}
    assert {item["name"] for item in client.get("/api/v1/jobs", {"tag": "sweep 2"}).json()["items"]} == {"spaced"}
    assert client.get("/api/v1/jobs", {"tag": "swee"}).json()["count"] == 0
    assert len(re.findall(r"<tr data-job=", client.get("/", {"tag": "sweep"}).content.decode())) == 2
    by_search = {item["name"] for item in client.get("/api/v1/jobs", {"q": "SWEEP"}).json()["items"]}
    assert by_search == {"exact", "second", "longer", "prefixed", "spaced"}  # q: any part, any case


def test_id_range_spans_every_id_with_the_prefix():
    low, high = filters.id_range("1234ABCD-5")
    assert (str(low), str(high)) == ("1234abcd-5000-0000-0000-000000000000", "1234abcd-5fff-ffff-ffff-ffffffffffff")
    assert filters.id_range("kilo") is None


@sqlite_only
def test_sqlite_searches_the_newest_window(client, users, monkeypatch):
    for i in range(6):
        job = submit(users["alice"], users["lab"], name=f"find me {i}", tags=["t"])
        Job.objects.filter(id=job.id).update(created=START + timedelta(seconds=i))
    monkeypatch.setattr(filters, "SQLITE_SEARCH_WINDOW", 4)
    client.force_login(users["alice"])
    names = [item["name"] for item in client.get("/api/v1/jobs", {"q": "find"}).json()["items"]]
    assert names == ["find me 5", "find me 4", "find me 3", "find me 2"]
    assert client.get("/api/v1/jobs", {"tag": "t"}).json()["count"] == 4
    assert client.get("/api/v1/jobs").json()["count"] == 6  # no search: the whole history


@postgres_only
def test_postgres_serves_search_tag_and_id_from_indexes(users):
    """The indexes of migration 0008 match the SQL Django writes (``UPPER(name::text) LIKE``, ``@>``,
    a range on the uuid): with sequential and plain index scans off, the plans name them."""
    for i in range(20):
        submit(users["alice"], users["lab"], name=f"job {i}", tags=[f"t{i}"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")

    def plan(**given) -> str:
        return filters.filter_jobs(Job.objects.all(), JobFilters(**given)).order_by().explain()

    assert "jobs_job_name_trgm" in plan(q="job 3") and "jobs_job_tag_index_trgm" in plan(q="job 3")
    assert "jobs_job_tags_path" in plan(tag="t7")
    assert "jobs_job_pkey" in plan(q="1234abcd")
    assert "jobs_job_status_created" in plan(status="failed")
