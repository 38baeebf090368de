"""The job list and ``GET /api/v1/jobs``: sorting, page size, finding a job by its id prefix, times
as ISO instants for the viewer's zone, and the count line the live refetch replaces.

The id lookup is also run on PostgreSQL, whose uuid column compares as text with dashes:
``DATABASE_URL=postgres://... pytest tests/test_job_list.py``.
"""

from __future__ import annotations

import html as htmlmod
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from qportal.jobs import services
from qportal.jobs.filters import id_prefix
from qportal.jobs.models import Job, JobStatus
from tests.circuits import BELL, GHZ3

START = datetime(2024, 3, 5, 14, 7, tzinfo=UTC)


def submit(user, team, qasm=BELL, **kwargs) -> Job:
    circuits = kwargs.pop("circuits", 1)
    return services.submit_job(
        user,
        services.Submission(
            profile=kwargs.pop("profile", "local"),
            circuits=[{"qasm": qasm}] * circuits,
            shots=100,
            team=team.id,
            **kwargs,
        ),
    )


@pytest.fixture
def four(users):
    """Four lab jobs with names, statuses, sizes, profiles and creation times that each sort differently."""
    alice, bob, lab = users["alice"], users["bob"], users["lab"]
    spec = [  # name, creator, status, circuits, profile, minutes after START
        ("kilo", alice, JobStatus.DONE, 2, "local", 0),
        ("polo", bob, JobStatus.QUEUED, 1, "fake_manila", 30),
        ("rum", alice, JobStatus.RUNNING, 4, "local", 10),
        ("tux", bob, JobStatus.FAILED, 3, "local", 20),
    ]
    jobs = {}
    for name, user, status, circuits, profile, minutes in spec:
        qasm = GHZ3 if profile == "fake_manila" else BELL
        job = submit(user, lab, qasm, name=name, circuits=circuits, profile=profile)
        Job.objects.filter(id=job.id).update(status=status, created=START + timedelta(minutes=minutes))
        jobs[name] = job
    return jobs


def names(resp) -> list[str]:
    assert resp.status_code == 200
    return re.findall(r'<td class="job-name"><a href="[^"]+">([^<]+)</a>', resp.content.decode())


def api_names(client, **params) -> list[str]:
    resp = client.get("/api/v1/jobs", params)
    assert resp.status_code == 200, resp.content
    return [job["name"] for job in resp.json()["items"]]


# -- sorting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["polo", "tux", "rum", "kilo"]),  # newest first
        ("-created", ["polo", "tux", "rum", "kilo"]),
        ("created", ["kilo", "rum", "tux", "polo"]),
        ("name", ["kilo", "polo", "rum", "tux"]),
        ("-name", ["tux", "rum", "polo", "kilo"]),
        ("status", ["polo", "rum", "kilo", "tux"]),  # queued, running, done, failed: as a job lives
        ("-status", ["tux", "kilo", "rum", "polo"]),
        ("circuits", ["polo", "kilo", "tux", "rum"]),
        ("-circuits", ["rum", "tux", "kilo", "polo"]),
        ("profile", ["polo", "tux", "rum", "kilo"]),  # fake_manila, then local newest first
        ("creator", ["rum", "kilo", "polo", "tux"]),  # alice, then bob; newest first within
    ],
)
def test_page_and_api_sort_the_same_way(client, users, four, sort, expected):
    client.force_login(users["alice"])
    assert names(client.get("/", {"sort": sort} if sort else {})) == expected
    assert api_names(client, **({"sort": sort} if sort else {})) == expected


def test_an_unknown_sort_is_refused_and_said(client, users, four):
    client.force_login(users["alice"])
    resp = client.get("/", {"sort": "-password"})
    assert names(resp) == [] and "unknown sort &#x27;-password&#x27;" in resp.content.decode()
    api = client.get("/api/v1/jobs", {"sort": "-password"})
    assert api.status_code == 400 and "unknown sort" in api.json()["detail"]


def headers(resp) -> dict[str, tuple[str | None, str | None]]:
    """Each sortable header's key: (its aria-sort, the sort its link asks for)."""
    found = {}
    for key, rest in re.findall(r'<th[^>]* data-sort="(\w+)"([^>]*>(?:<a href="[^"]*")?)', resp.content.decode()):
        aria = re.search(r'aria-sort="(\w+)"', rest)
        link = re.search(r'href="\?([^"]*)"', rest)
        query = dict(p.split("=", 1) for p in htmlmod.unescape(link.group(1)).split("&")) if link else {}
        found[key] = (aria.group(1) if aria else None, query.get("sort"))
    return found


def test_headers_link_to_their_sort_and_turn_it_round(client, users, four):
    client.force_login(users["alice"])
    default = headers(client.get("/"))
    assert default["created"] == ("descending", "created")  # shown newest first; a click turns it round
    assert default["name"] == (None, "name") and default["circuits"] == (None, "-circuits")
    assert set(default) == {"name", "status", "circuits", "profile", "creator", "created"}
    by_name = client.get("/", {"sort": "name", "status": "done", "page": "2"})
    assert headers(by_name)["name"] == ("ascending", "-name") and headers(by_name)["created"] == (None, "-created")
    assert 'href="?status=done&amp;sort=-name"' in by_name.content.decode()  # keeps filters, drops the page
    assert '<input type="hidden" name="sort" value="name">' in by_name.content.decode()  # filtering keeps it


# -- page size and count ----------------------------------------------------------------------


def clone(job: Job, count: int) -> None:
    copies = []
    for i in range(count):
        copy = Job.objects.get(id=job.id)
        copy.id, copy.name = uuid.uuid4(), f"copy {i}"
        copies.append(copy)
    Job.objects.bulk_create(copies)


def test_page_size_is_chosen_from_the_offered_sizes(client, users, four):
    clone(four["kilo"], 56)  # 60 jobs
    client.force_login(users["alice"])
    assert len(names(client.get("/"))) == 25
    fifty = client.get("/", {"page_size": "50"})
    assert len(names(fifty)) == 50 and '<span id="job-count">60 jobs</span>' in fifty.content.decode()
    assert "<option selected>50</option>" in fifty.content.decode()
    following = re.search(r'href="\?page_size=50&amp;cursor=([\w-]+)" id="next-page"', fifty.content.decode())
    assert following  # the next page keeps the size
    assert len(names(client.get("/", {"page_size": "50", "cursor": following.group(1)}))) == 10
    assert len(names(client.get("/", {"page_size": "100"}))) == 60
    assert len(names(client.get("/", {"page_size": "7"}))) == 25  # not offered: the default
    assert len(api_names(client, page_size=7)) == 7  # the API keeps its own page_size


def test_the_count_line_is_shown_on_one_page_and_sent_with_the_live_rows(client, users, four):
    client.force_login(users["alice"])
    page = client.get("/").content.decode()
    assert '<span id="job-count">4 jobs</span>' in page
    submit(users["bob"], users["lab"], name="arrived")
    fragment = client.get("/", {"fragment": "rows", "status": "queued"}).json()
    assert '<span id="job-count">2 jobs</span>' in fragment["pager"]
    assert re.findall(r'<td class="job-name"><a href="[^"]+">([^<]+)</a>', fragment["rows"]) == ["arrived", "polo"]


# -- id prefix --------------------------------------------------------------------------------


def test_id_prefix_is_canonical():
    assert id_prefix("ABCD") == "abcd"
    assert id_prefix("1234abcd5678") == "1234abcd-5678"
    assert id_prefix("1234abcd-56") == "1234abcd-56"
    assert id_prefix(str(uuid.UUID(int=7)).replace("-", "")) == str(uuid.UUID(int=7))
    assert id_prefix("abc") is None and id_prefix("kilo") is None and id_prefix("1234abcd5678a" * 3) is None


def test_a_job_is_found_by_its_id_prefix(client, users, four):
    """Also meant for PostgreSQL (native uuid): see the module's docstring."""
    client.force_login(users["alice"])
    job = four["rum"]
    text = str(job.id)
    for q in (text[:8], text[:8].upper(), text[:13], text[:13].replace("-", ""), text, f" {text[:6]} "):
        assert names(client.get("/", {"q": q})) == ["rum"], q
        assert api_names(client, q=q) == ["rum"], q
    others = {str(j.id)[:3] for j in four.values() if j != job}
    if text[:3] not in others:
        assert names(client.get("/", {"q": text[:3]})) == []  # under 4 digits: names and tags only
    assert names(client.get("/", {"q": "kilo"})) == ["kilo"]  # names still match
    client.force_login(users["charlie"])
    assert names(client.get("/", {"q": text[:8]})) == []  # not another team's job


# -- times ------------------------------------------------------------------------------------


def test_times_are_iso_instants_the_script_shows_in_the_viewers_zone(client, users, four):
    client.force_login(users["alice"])
    page = client.get("/", {"sort": "created"}).content.decode()
    instant = "2024-03-05T14:07:00+00:00"
    assert f'<time datetime="{instant}" title="{instant}">2024-03-05 14:07</time>' in page
    assert '<span class="tz" id="time-zone">(UTC)</span>' in page  # until the script names the viewer's zone
