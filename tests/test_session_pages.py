"""The session pages: list, detail with its jobs (and the live refetch fragment), close and cancel
forms, the job page's link to its session, and access for every view."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from qportal.jobs import services, sessions
from qportal.jobs.models import JobStatus, RuntimeSession
from tests.circuits import BELL


@pytest.fixture
def lab_session(users):
    return sessions.create_session(users["alice"], profile="local", name="vqe run", team=users["lab"].id)


def submit(user, session, **kwargs):
    return services.submit_job(
        user, services.Submission(profile=None, circuits=[{"qasm": BELL}], session=session.id, **kwargs)
    )


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-job="([0-9a-f-]+)"', html)


def test_detail_lists_its_jobs_oldest_first_and_only_them(client, users, lab_session):
    jobs = [submit(users["alice"], lab_session, name=f"step {i}") for i in range(3)]
    services.submit_job(users["alice"], services.Submission(profile="local", circuits=[{"qasm": BELL}]))
    client.force_login(users["bob"])
    url = reverse("session-detail", args=[lab_session.id])
    page = client.get(url).content.decode()
    assert row_ids(page) == [str(job.id) for job in jobs]
    assert "vqe run" in page and 'id="close-session"' in page and 'id="cancel-session"' in page
    fragment = client.get(url, {"fragment": "rows"}).json()
    assert row_ids(fragment["rows"]) == [str(job.id) for job in jobs]
    assert 'id="session-job-count">3<' in fragment["summary"]
    assert 'class="tag session"' not in page  # its own page does not repeat the session on each row
    history = re.search(r'<a href="([^"]+)" id="session-history">', page).group(1)
    assert row_ids(client.get(history).content.decode()) == [str(job.id) for job in reversed(jobs)]  # newest first
    listing = client.get(reverse("session-list")).content.decode()
    assert f'data-session="{lab_session.id}"' in listing and "vqe run" in listing
    job_page = client.get(reverse("job-detail", args=[jobs[0].id])).content.decode()
    assert f'href="{url}" id="session-link"' in job_page


def test_close_and_cancel_forms(client, users, lab_session):
    job = submit(users["alice"], lab_session)
    client.force_login(users["bob"])
    resp = client.post(reverse("session-close", args=[lab_session.id]))
    assert resp.status_code == 302 and resp["Location"] == reverse("session-detail", args=[lab_session.id])
    assert RuntimeSession.objects.get().status == "closed"
    page = client.get(resp["Location"]).content.decode()
    assert 'id="close-session"' not in page and 'id="cancel-session"' in page
    client.post(reverse("session-cancel", args=[lab_session.id]))
    assert RuntimeSession.objects.get().status == "cancelled"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_outsider_gets_404_and_viewer_cannot_close(client, users, lab_session):
    client.force_login(users["charlie"])
    for name in ("session-detail", "session-close", "session-cancel"):
        url = reverse(name, args=[lab_session.id])
        resp = client.post(url) if name != "session-detail" else client.get(url)
        assert resp.status_code == 404, name
    assert "vqe run" not in client.get(reverse("session-list")).content.decode()
    client.force_login(users["viola"])
    page = client.get(reverse("session-detail", args=[lab_session.id])).content.decode()
    assert "vqe run" in page and 'id="close-session"' not in page
    assert client.post(reverse("session-close", args=[lab_session.id])).status_code == 403
    assert RuntimeSession.objects.get().status == "open"


def test_anonymous_is_sent_to_login(client, lab_session):
    for url in (reverse("session-list"), reverse("session-detail", args=[lab_session.id])):
        resp = client.get(url)
        assert resp.status_code == 302 and resp["Location"].startswith("/login/"), url


def test_the_admin_lists_sessions(client, users, lab_session):
    users["alice"].is_staff = users["alice"].is_superuser = True
    users["alice"].save()
    client.force_login(users["alice"])
    page = client.get("/admin/jobs/runtimesession/").content.decode()
    assert str(lab_session.id) in page or "vqe run" in page
    assert client.get(f"/admin/jobs/runtimesession/{lab_session.id}/change/").status_code == 200
