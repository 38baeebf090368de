"""Server-rendered pages: contents, filters, downloads, and an access-denied test for every view."""

from __future__ import annotations

import csv
import html as htmlmod
import io
import json
import re

import pytest
from django.urls import reverse

from qportal.jobs import services
from qportal.jobs.models import Job
from qportal.profiles.models import ExecutorProfile
from tests.circuits import BELL, GHZ3


def submit(user, team, qasm=BELL, **kwargs) -> Job:
    kwargs.setdefault("shots", 400)
    return services.submit_job(
        user,
        services.Submission(profile=kwargs.pop("profile", "local"), circuits=[{"qasm": qasm}], team=team.id, **kwargs),
    )


@pytest.fixture
def lab_job(users):
    return submit(users["alice"], users["lab"], name="bell pair", tags=["calib"])


@pytest.fixture
def as_user(client, users):
    def login(name):
        client.force_login(users[name])
        return client

    return login


def job_views(job_id):
    return {
        "detail": reverse("job-detail", args=[job_id]),
        "row": reverse("job-row", args=[job_id]),
        "panels": reverse("job-panels", args=[job_id]),
        "jsonl": reverse("job-results-download", args=[job_id, "jsonl"]),
        "csv": reverse("job-results-download", args=[job_id, "csv"]),
        "npz": reverse("job-results-download", args=[job_id, "npz"]),
        "diagram": reverse("job-circuit-diagram", args=[job_id, 0]),
    }


# -- access -----------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, lab_job):
    urls = [
        reverse("job-list"),
        reverse("job-submit"),
        reverse("profile-list"),
        reverse("profile-new"),
        reverse("qasm-example", args=["bell_n4"]),
        *job_views(lab_job.id).values(),
    ]
    for url in urls:
        resp = client.get(url)
        assert resp.status_code == 302 and resp["Location"].startswith("/login/"), url
    for url in (reverse("job-cancel", args=[lab_job.id]), reverse("job-rerun", args=[lab_job.id])):
        assert client.post(url).status_code == 302
    assert Job.objects.count() == 1 and not Job.objects.get().cancel_requested


def test_outsider_gets_404_for_every_job_view(as_user, lab_job):
    client = as_user("charlie")
    for name, url in job_views(lab_job.id).items():
        assert client.get(url).status_code == 404, name
    assert client.post(reverse("job-cancel", args=[lab_job.id])).status_code == 404
    assert client.post(reverse("job-rerun", args=[lab_job.id])).status_code == 404
    assert "bell pair" not in client.get(reverse("job-list")).content.decode()
    lab_job.refresh_from_db()
    assert lab_job.status == "queued" and Job.objects.count() == 1


def test_viewer_reads_but_cannot_cancel_rerun_or_submit(as_user, users, lab_job):
    client = as_user("viola")
    page = client.get(reverse("job-detail", args=[lab_job.id])).content.decode()
    assert "bell pair" in page and 'id="cancel"' not in page and 'id="rerun"' not in page
    assert "data-cancel" not in client.get(reverse("job-list")).content.decode()

    resp = client.post(reverse("job-cancel", args=[lab_job.id]))
    assert resp.status_code == 403 and "viewer" in resp.content.decode()
    resp = client.post(reverse("job-rerun", args=[lab_job.id]))
    assert resp.status_code == 403 and "viewer" in resp.content.decode()
    resp = client.post(
        reverse("job-submit"), {"qasm": BELL, "profile": "local", "shots": "10", "team": users["lab"].id}
    )
    assert resp.status_code == 403 and "viewer" in resp.content.decode()
    lab_job.refresh_from_db()
    assert lab_job.status == "queued" and Job.objects.count() == 1


def test_member_cancels_from_the_list_and_lands_back_on_it(as_user, lab_job):
    client = as_user("bob")
    assert "data-cancel" in client.get(reverse("job-list")).content.decode()
    resp = client.post(reverse("job-cancel", args=[lab_job.id]), {"next": "/?status=queued"})
    assert resp.status_code == 302 and resp["Location"] == "/?status=queued"
    lab_job.refresh_from_db()
    assert lab_job.status == "cancelled"
    assert client.post(reverse("job-cancel", args=[lab_job.id]), {"next": "//evil.example/"})["Location"] == "/"


def test_rerun_creates_a_linked_job(as_user, lab_job):
    resp = as_user("bob").post(reverse("job-rerun", args=[lab_job.id]))
    new = Job.objects.exclude(id=lab_job.id).get()
    assert resp.status_code == 302 and resp["Location"] == reverse("job-detail", args=[new.id])
    assert new.rerun_of_id == lab_job.id and new.created_by.username == "bob" and new.team_id == lab_job.team_id


# -- list -------------------------------------------------------------------------------------


def row_ids(resp) -> list[str]:
    return re.findall(r'<tr data-job="([0-9a-f-]+)"', resp.content.decode())


def test_list_filters_search_and_pagination(as_user, users, run_jobs):
    alice, lab = users["alice"], users["lab"]
    done = submit(alice, lab, name="done one", tags=["sweep"])
    run_jobs()
    queued = submit(alice, lab, GHZ3, name="ghz waiting", tags=["ghz"], profile="fake_manila")
    client = as_user("alice")
    assert row_ids(client.get("/")) == [str(queued.id), str(done.id)]
    assert row_ids(client.get("/?status=done")) == [str(done.id)]
    assert row_ids(client.get("/?profile=fake_manila")) == [str(queued.id)]
    assert row_ids(client.get("/?tag=sweep")) == [str(done.id)]
    assert row_ids(client.get("/?q=GHZ")) == [str(queued.id)]
    assert row_ids(client.get("/?created_after=2000-01-01&created_before=2000-01-02")) == []
    assert row_ids(client.get("/?q=sweep")) == [str(done.id)]  # names and tags, as in the API
    api_ids = [job["id"] for job in client.get("/api/v1/jobs?q=sweep").json()["items"]]
    assert api_ids == [str(done.id)]
    assert row_ids(client.get("/?created_before=2000-01-01")) == []
    assert len(row_ids(client.get("/?created_after=2000-01-01"))) == 2
    bad = client.get("/?created_after=yesterday&status=done")
    assert bad.status_code == 200 and row_ids(bad) == [] and "invalid filter: created_after" in bad.content.decode()
    assert "unknown status" in client.get("/?status=lost").content.decode()
    assert "No jobs match" in client.get("/?tag=nothing").content.decode()
    fragment = client.get("/?status=done&fragment=rows").content.decode()
    assert "<html" not in fragment and str(done.id) in fragment and str(queued.id) not in fragment

    for i in range(26):
        submit(alice, lab, name=f"bulk {i}")
    first = client.get("/")
    following = re.search(r'href="\?cursor=([\w-]+)" id="next-page"', first.content.decode()).group(1)
    second = client.get(f"/?cursor={following}")
    assert len(row_ids(first)) == 25 and len(row_ids(second)) == 3
    assert not set(row_ids(first)) & set(row_ids(second))
    assert '<span id="job-count">28 jobs</span>' in first.content.decode()
    assert row_ids(client.get("/?page=2")) == row_ids(first)  # an old page link: the first page


def test_row_partial_shows_status_profile_submitter_and_times(as_user, lab_job, run_jobs):
    run_jobs()
    html = as_user("bob").get(reverse("job-row", args=[lab_job.id])).content.decode()
    assert html.lstrip().startswith("<tr") and 'class="badge done"' in html
    assert "alice" in html and "local" in html and "calib" in html and "1/1" in html
    assert f'data-seq="{Job.objects.get().last_seq}"' in html


# -- detail -----------------------------------------------------------------------------------


def test_detail_shows_histogram_diagram_timeline_and_downloads(as_user, users, run_jobs):
    job = submit(users["alice"], users["lab"], GHZ3, shots=1000, name="ghz")
    run_jobs()
    client = as_user("alice")
    html = client.get(reverse("job-detail", args=[job.id])).content.decode()
    bars = {k: int(v) for k, v in re.findall(r'data-key="(\d+)" data-count="(\d+)"', html)}
    assert set(bars) == {"000", "111"} and sum(bars.values()) == 1000
    assert "q_0" in html and "1 of 1 circuit done" in html
    assert "q_2" in client.get(reverse("job-circuit-diagram", args=[job.id, 0])).content.decode()
    assert client.get(reverse("job-circuit-diagram", args=[job.id, 5])).status_code == 404
    seqs = [int(s) for s in re.findall(r'<li data-seq="(\d+)"', html)]
    assert seqs == list(range(1, Job.objects.get().last_seq + 1))
    assert f'data-seq="{seqs[-1]}"' in html

    panels = client.get(reverse("job-panels", args=[job.id])).json()
    assert panels["status"] == "done" and panels["last_seq"] == seqs[-1]
    assert 'data-key="000"' in panels["result"] and "badge big done" in panels["summary"]
    assert panels["result_final"] is True and 'data-index="0" class="selected"' in panels["table"]

    resp = client.get(reverse("job-results-download", args=[job.id, "csv"]))
    assert resp["Content-Type"].startswith("text/csv") and "attachment" in resp["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.getvalue().decode())))
    assert {r["bitstring"]: int(r["count"]) for r in rows} == bars
    assert abs(sum(float(r["probability"]) for r in rows) - 1) < 1e-4


def test_failed_job_shows_its_error_first(as_user, lab_job):
    Job.objects.filter(id=lab_job.id).update(status="failed", error="backend said no: qubit 3 is broken")
    html = as_user("alice").get(reverse("job-detail", args=[lab_job.id])).content.decode()
    assert html.index('id="error"') < html.index("Circuit 0")
    assert "backend said no: qubit 3 is broken" in html


def test_estimator_values_with_error_bars(as_user, users, run_jobs):
    job = submit(
        users["alice"],
        users["lab"],
        BELL.replace("measure q -> c;\n", ""),
        primitive="estimator",
        observables=[["ZZ", "XX", "ZI"]],
        shots=4000,
    )
    run_jobs()
    client = as_user("alice")
    html = client.get(reverse("job-detail", args=[job.id])).content.decode()
    values = [(float(a), float(b)) for a, b in re.findall(r'data-ev="([-\d.e]+)" data-std="([-\d.e]+)"', html)]
    assert len(values) == 3 and 'class="err"' in html
    spans = [float(w) for w in re.findall(r'class="err" style="left: [\d.]+%; width: ([\d.]+)%"', html)]
    # +-std on a 2-wide axis; a bar past +-1 is clipped at the edge of the axis
    assert len(spans) == 3 and all(0 <= w < 10 for w in spans) and spans[2] > 0
    for (ev, std), exact in zip(values, (1.0, 1.0, 0.0), strict=True):
        assert 0 < std < 0.1 and abs(ev - exact) < 5 * std + 1e-9
    resp = client.get(reverse("job-results-download", args=[job.id, "csv"]))
    rows = list(csv.DictReader(io.StringIO(resp.getvalue().decode())))
    assert [r["observable"] for r in rows] == ["ZZ", "XX", "ZI"]


# -- submit -----------------------------------------------------------------------------------


def test_submit_error_is_inline_and_keeps_the_text(as_user, users):
    broken = BELL.replace("cx q[0],q[1];", "cx q[0],q[9];")
    resp = as_user("bob").post(
        reverse("job-submit"), {"qasm": broken, "profile": "local", "shots": "77", "name": "mine", "tags": "a, b"}
    )
    html = resp.content.decode()
    assert resp.status_code == 400 and 'id="circuit-error-0"' in html
    assert "q[9]" in html and 'value="77"' in html and 'value="mine"' in html and 'value="a, b"' in html
    assert Job.objects.count() == 0
    resp = as_user("bob").post(reverse("job-submit"), {"qasm": BELL, "profile": "local", "shots": "many"})
    assert resp.status_code == 400 and "whole number" in resp.content.decode()


def test_every_bundled_example_offered_passes_validation(as_user):
    from qportal.jobs.views import qasmbench_examples

    offered = qasmbench_examples()
    assert len(offered) >= 50 and "vqe_uccsd_n4" not in offered  # that program uses q before declaring it
    html = as_user("alice").get(reverse("job-submit")).content.decode()
    assert "<option>bell_n4</option>" in html


def test_the_page_starts_with_a_real_circuit_that_submits(as_user):
    import html as html_text

    client = as_user("bob")
    html = client.get(reverse("job-submit")).content.decode()
    start = re.search(r'<textarea id="qasm-0" name="qasm"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert "cx q[0],q[1];" in start
    resp = client.post(reverse("job-submit"), {"qasm": html_text.unescape(start), "profile": "local", "shots": "50"})
    assert resp.status_code == 302 and Job.objects.get().num_circuits == 1


def test_one_job_of_typed_and_uploaded_circuits(as_user):
    import base64 as b64
    import io as stdio

    from django.core.files.uploadedfile import SimpleUploadedFile
    from qiskit import QuantumCircuit, qpy

    circuit = QuantumCircuit(1, 1, name="x-gate")
    circuit.x(0)
    circuit.measure(0, 0)
    blob = stdio.BytesIO()
    qpy.dump(circuit, blob)
    files = [
        SimpleUploadedFile("ghz3.qasm", GHZ3.encode(), content_type="text/plain"),
        SimpleUploadedFile("flip.qpy", blob.getvalue(), content_type="application/octet-stream"),
    ]
    resp = as_user("bob").post(
        reverse("job-submit"),
        {"qasm": [BELL, "  "], "files": files, "profile": "local", "shots": "20", "name": "three"},
    )
    assert resp.status_code == 302
    job = Job.objects.get()
    rows = list(job.circuits.order_by("index").values_list("name", "source_format", "num_qubits"))
    assert rows == [("", "qasm2", 2), ("ghz3", "qasm2", 3), ("flip", "qpy", 1)]
    assert b64.b64decode(job.circuits.get(index=2).source) == blob.getvalue()


def test_errors_are_shown_once_at_their_circuit_on_their_line(as_user):
    missing_semicolon = BELL.replace("h q[0];", "h q[0]")
    resp = as_user("bob").post(
        reverse("job-submit"), {"qasm": [BELL, missing_semicolon], "profile": "local", "shots": "20"}
    )
    html = resp.content.decode()
    assert resp.status_code == 400 and 'id="circuit-error-0"' not in html
    error = re.search(r'id="circuit-error-1"[^>]*>(.*?)</div>', html, re.S).group(1)
    line = BELL.splitlines().index("h q[0];") + 1
    assert error.startswith(f"Line {line}: ") and error.count(str(line)) == 1 and "circuit 1" not in error
    assert f'data-error-line="{line}"' in html and Job.objects.count() == 0
    bad_file = as_user("bob").post(
        reverse("job-submit"),
        {"qasm": [""], "files": [_upload("oops.qasm", missing_semicolon)], "profile": "local", "shots": "20"},
    )
    assert bad_file.status_code == 400 and f"oops line {line}: invalid OpenQASM 2:" in bad_file.content.decode()
    nothing = as_user("bob").post(reverse("job-submit"), {"qasm": [""], "profile": "local", "shots": "20"})
    assert nothing.status_code == 400 and "write a circuit" in nothing.content.decode()


def _upload(name: str, text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode(), content_type="text/plain")


def test_submit_creates_the_job_in_the_chosen_team(as_user, users):
    resp = as_user("bob").post(
        reverse("job-submit"),
        {
            "qasm": GHZ3,
            "profile": "local",
            "shots": "123",
            "name": "from page",
            "tags": "x, y",
            "team": users["lab"].id,
        },
    )
    job = Job.objects.get()
    assert resp.status_code == 302 and resp["Location"] == reverse("job-detail", args=[job.id])
    assert (job.team_id, job.shots, job.tags, job.name) == (users["lab"].id, 123, ["x", "y"], "from page")


def test_qasmbench_examples(as_user, settings, tmp_path):
    (tmp_path / "tiny_n1.qasm").write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\n')
    (tmp_path / "broken_n2.qasm").write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nh q[0];\n')
    settings.QASMBENCH_DIR = tmp_path
    client = as_user("alice")
    html = client.get(reverse("job-submit")).content.decode()
    assert "<option>tiny_n1</option>" in html and "broken_n2" not in html  # refused programs are not offered
    resp = client.get(reverse("qasm-example", args=["tiny_n1"]))
    assert resp.status_code == 200 and b"qreg q[1]" in b"".join(resp.streaming_content)
    assert client.get(reverse("qasm-example", args=["..%2Fsettings"])).status_code == 404
    settings.QASMBENCH_DIR = tmp_path / "missing"
    resp = client.get(reverse("job-submit"))
    assert resp.status_code == 200 and 'id="example"' not in resp.content.decode()


# -- profiles ---------------------------------------------------------------------------------


def profile_post(**overrides):
    data = {
        "name": "aer-fast",
        "kind": "local",
        "backend": "",
        "shots": "2000",
        "mode": "job",
        "single_job": "on",
        "local_transpile": "on",
        "selector": "cyclic",
        "options": '{"seed": 7}',
    }
    return {**data, **overrides}


def test_member_creates_and_edits_a_team_profile(as_user, users):
    client = as_user("bob")
    resp = client.post(reverse("profile-new"), profile_post(team=users["lab"].id))
    assert resp.status_code == 302, resp.content.decode()[:2000]
    profile = ExecutorProfile.objects.get(name="aer-fast")
    assert (profile.team_id, profile.shots, profile.options, profile.max_qubits is not None) == (
        users["lab"].id,
        2000,
        {"seed": 7},
        True,
    )
    assert "aer-fast" in as_user("viola").get(reverse("profile-list")).content.decode()

    client = as_user("bob")
    resp = client.post(reverse("profile-edit", args=[profile.id]), profile_post(team=users["lab"].id, shots="10"))
    assert resp.status_code == 302
    profile.refresh_from_db()
    assert profile.shots == 10


def test_profile_validation_errors_are_inline(as_user, users):
    client = as_user("bob")
    resp = client.post(reverse("profile-new"), profile_post(team=users["lab"].id, options='{"optimization_level": 9}'))
    html = resp.content.decode()
    assert (
        resp.status_code == 400
        and "options.optimization_level: must be between 0 and 3" in html
        and 'value="aer-fast"' in html
    )
    resp = client.post(reverse("profile-new"), profile_post(team=users["lab"].id, options="{not json"))
    assert resp.status_code == 400 and "not valid JSON" in resp.content.decode()
    resp = client.post(reverse("profile-new"), profile_post(team=users["lab"].id, kind="ibm_cloud", ibm_backend="x"))
    assert resp.status_code == 400 and "needs a credential" in resp.content.decode()
    assert not ExecutorProfile.objects.filter(team__isnull=False).exists()


def test_viewer_cannot_create_or_edit_team_profiles(as_user, users):
    profile = ExecutorProfile.objects.create(team=users["lab"], name="labsim", kind="local")
    client = as_user("viola")
    html = client.get(reverse("profile-list")).content.decode()
    assert "labsim" in html and reverse("profile-edit", args=[profile.id]) not in html and "read-only" in html
    resp = client.post(reverse("profile-edit", args=[profile.id]), profile_post(team=users["lab"].id))
    assert resp.status_code == 403 and "viewer" in resp.content.decode()
    # Her personal team is writable, the lab is not a choice for her.
    resp = client.post(reverse("profile-new"), profile_post(team=users["lab"].id))
    assert resp.status_code == 400 and not ExecutorProfile.objects.filter(name="aer-fast").exists()
    profile.refresh_from_db()
    assert profile.shots == 1024


def test_outsider_and_builtin_profiles(as_user, users):
    profile = ExecutorProfile.objects.create(team=users["lab"], name="labsim", kind="local")
    client = as_user("charlie")
    assert "labsim" not in client.get(reverse("profile-list")).content.decode()
    assert client.get(reverse("profile-edit", args=[profile.id])).status_code == 404
    builtin = ExecutorProfile.objects.get(name="local", team__isnull=True)
    assert client.get(reverse("profile-edit", args=[builtin.id])).status_code == 403


def test_the_500_page_renders_without_a_request():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")  # as django.views.defaults.server_error renders it
    assert "Something went wrong" in html and "/static/qportal.css" in html and 'href="/"' in html


def test_scripts_get_their_urls_and_status_sets_from_the_page(as_user, lab_job):
    html = as_user("alice").get(reverse("job-detail", args=[lab_job.id])).content.decode()
    body = re.search(r"<body ([^>]*)>", html).group(1)
    urls = json.loads(htmlmod.unescape(re.search(r'data-urls="([^"]*)"', body).group(1)))
    job = str(lab_job.id)
    assert urls["events"].replace("{id}", job) == f"/api/v1/jobs/{job}/events"
    assert urls["row"].replace("{id}", job) == reverse("job-row", args=[lab_job.id])
    assert 'data-unfinished="queued running submitting"' in body and 'data-finished="cancelled done failed"' in body
    template = re.search(r'<template id="event-template">(.*?)</template>', html, re.S).group(1)
    first = re.search(r'<li data-seq="1".*?</li>', html, re.S).group(0)
    assert re.sub(r">[^<]*<", "><", template.strip()).replace('data-seq=""', 'data-seq="1"').replace(
        'class="ev-"', 'class="ev-queued"'
    ).replace('datetime=""', re.search(r'datetime="[^"]*"', first).group(0)) == re.sub(r">[^<]*<", "><", first)


def test_deleting_a_profile_from_the_page_asks_first(as_user, users):
    profile = ExecutorProfile.objects.create(team=users["lab"], name="labsim", kind="local")
    url = reverse("profile-delete", args=[profile.id])
    client = as_user("bob")
    html = client.get(reverse("profile-list")).content.decode()
    assert f'action="{url}"' in html and 'data-confirm="Delete profile labsim?' in html
    assert client.get(url).status_code == 405
    asked = client.post(url)  # no confirm=yes: the page asks instead of deleting
    assert asked.status_code == 200 and "Delete profile labsim?" in asked.content.decode()
    assert 'name="confirm" value="yes"' in asked.content.decode()
    assert ExecutorProfile.objects.filter(id=profile.id).exists()
    resp = client.post(url, {"confirm": "yes"}, follow=True)
    assert "Deleted profile labsim." in resp.content.decode()
    assert not ExecutorProfile.objects.filter(id=profile.id).exists()


def test_a_profile_in_use_is_not_deleted_and_the_list_says_why(as_user, users):
    profile = ExecutorProfile.objects.create(team=users["lab"], name="labsim", kind="local")
    submit(users["alice"], users["lab"], profile="labsim")
    resp = as_user("alice").post(reverse("profile-delete", args=[profile.id]), {"confirm": "yes"}, follow=True)
    refusal = 'class="error" id="message">1 job uses profile &#x27;labsim&#x27;, so it cannot be deleted.'
    assert refusal in resp.content.decode()
    assert ExecutorProfile.objects.filter(id=profile.id).exists() and profile.jobs.count() == 1


def test_viewers_outsiders_and_built_ins_cannot_delete_profiles(as_user, users):
    profile = ExecutorProfile.objects.create(team=users["lab"], name="labsim", kind="local")
    builtin = ExecutorProfile.objects.get(name="local", team__isnull=True)
    url = reverse("profile-delete", args=[profile.id])
    viola = as_user("viola")
    assert "data-delete" not in viola.get(reverse("profile-list")).content.decode()
    assert viola.post(url, {"confirm": "yes"}).status_code == 403
    assert as_user("charlie").post(url, {"confirm": "yes"}).status_code == 404
    resp = as_user("alice").post(reverse("profile-delete", args=[builtin.id]), {"confirm": "yes"})
    assert resp.status_code == 403 and "cannot be deleted" in resp.content.decode()
    assert ExecutorProfile.objects.filter(id__in=[profile.id, builtin.id]).count() == 2
