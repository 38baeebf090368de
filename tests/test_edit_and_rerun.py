""" "Edit and run again": the submit page filled in from a job (``/jobs/new/?from=<id>``)."""

from __future__ import annotations

import base64
import html
import io
import re

import pytest
from django.urls import reverse
from qiskit import QuantumCircuit, qpy

from qportal.jobs import services
from qportal.jobs.models import Job
from tests.circuits import BELL, GHZ3, bell

QASM3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n'


def page_from(client, job_id) -> str:
    response = client.get(reverse("job-submit"), {"from": str(job_id)})
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def editors(body: str) -> list[str]:
    return re.findall(r'<textarea id="qasm-\d+" name="qasm"[^>]*>(.*?)</textarea>', body, re.S)


def value_of(body: str, name: str) -> str:
    return re.search(rf'<input name="{name}" value="([^"]*)"', body).group(1)


def selected(body: str, name: str) -> str:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', body, re.S).group(1)
    return re.search(r'<option value="([^"]*)" selected', select).group(1)


def qpy_of(circuit: QuantumCircuit) -> str:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def test_the_submit_page_is_filled_in_with_the_jobs_inputs(client, users):
    job = services.submit_job(
        users["bob"],
        services.Submission(
            profile="local",
            circuits=[{"qasm": BELL}, {"qasm": QASM3}, {"qpy": qpy_of(bell())}],
            shots=777,
            name="sweep 3",
            tags=["calib", "night"],
            team=users["lab"].id,
        ),
    )
    client.force_login(users["alice"])
    body = page_from(client, job.id)
    texts = editors(body)
    assert texts[:2] == [BELL, QASM3]
    assert texts[2].startswith("OPENQASM 2.0;") and "cx q[0],q[1];" in texts[2]  # QPY, written as OpenQASM 2
    assert "circuit 3 was QPY, written here as OpenQASM 2" in body
    assert value_of(body, "shots") == "777" and value_of(body, "name") == "sweep 3"
    assert value_of(body, "tags") == "calib, night"
    assert selected(body, "profile") == "local" and selected(body, "team") == str(users["lab"].id)
    assert f'name="from" value="{job.id}"' in body and "Filled in from job" in body


def test_an_estimator_job_brings_its_primitive_and_observables(client, users):
    job = services.submit_job(
        users["alice"],
        services.Submission(
            profile="local",
            circuits=[{"qasm": BELL.replace("measure q -> c;\n", "")}] * 2,
            primitive="estimator",
            observables=[["ZZ", "XX"], ["ZZ", "XX"]],
        ),
    )
    client.force_login(users["alice"])
    body = page_from(client, job.id)
    assert re.search(r'<option value="estimator" selected>', body)
    assert re.search(r'<textarea name="observables"[^>]*>ZZ\nXX</textarea>', body)


def test_weighted_observables_are_named_as_not_carried_over_and_parameter_values_carried(client, users):
    theta = 'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float theta;\nqubit[1] q;\nrx(theta) q[0];\n'
    job = services.submit_job(
        users["alice"],
        services.Submission(
            profile="local",
            circuits=[{"qasm": theta}],
            primitive="estimator",
            observables=[[["Z", -1.0]]],
            parameter_values=[[0.5]],
        ),
    )
    client.force_login(users["alice"])
    body = page_from(client, job.id)
    assert "carry coefficients: write them again here" in body
    assert re.search(r'<textarea name="parameter_values"[^>]*>\[0.5\]</textarea>', body)


@pytest.mark.parametrize("given", ["other team", "no such job", "not an id"])
def test_another_teams_job_or_no_job_is_a_404(client, users, given):
    job = services.submit_job(users["alice"], services.Submission(profile="local", circuits=[{"qasm": BELL}]))
    client.force_login(users["charlie"])
    job_id = {"other team": str(job.id), "no such job": "0" * 8 + "-0000-0000-0000-" + "0" * 12}.get(given, "x1")
    assert client.get(reverse("job-submit"), {"from": job_id}).status_code == 404


def test_submitting_the_filled_in_form_makes_a_new_linked_job_with_the_change(client, users):
    job = services.submit_job(
        users["alice"],
        services.Submission(profile="local", circuits=[{"qasm": BELL}], shots=500, name="first", team=users["lab"].id),
    )
    client.force_login(users["bob"])
    body = page_from(client, job.id)
    form = {
        "profile": selected(body, "profile"),
        "team": selected(body, "team"),
        "shots": "900",  # the change
        "name": value_of(body, "name"),
        "tags": value_of(body, "tags"),
        "primitive": "sampler",
        "observables": "",
        "qasm": [*editors(body), GHZ3],  # and a circuit added
        "from": str(job.id),
    }
    response = client.post(reverse("job-submit") + f"?from={job.id}", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    new = Job.objects.exclude(id=job.id).get()
    assert response["Location"] == reverse("job-detail", args=[new.id])
    assert (new.shots, new.name, new.team_id, new.num_circuits, new.rerun_of_id) == (
        900,
        "first",
        users["lab"].id,
        2,
        job.id,
    )
    assert [c.source for c in new.circuits.all()] == [BELL, GHZ3]


def test_the_job_page_links_to_edit_and_run_again_for_members_only(client, users):
    job = services.submit_job(
        users["alice"], services.Submission(profile="local", circuits=[{"qasm": BELL}], team=users["lab"].id)
    )
    link = f'href="{reverse("job-submit")}?from={job.id}"'
    client.force_login(users["bob"])
    assert link in client.get(reverse("job-detail", args=[job.id])).content.decode()
    client.force_login(users["viola"])
    assert link not in client.get(reverse("job-detail", args=[job.id])).content.decode()
