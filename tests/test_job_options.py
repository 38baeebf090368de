"""Per-job primitive options: checked for the job's primitive by qiskit-ibm-runtime's own options
classes, merged over the profile's (the job's win), stored as sent, applied by local and fake
backends where Aer can (and listed where not)."""

from __future__ import annotations

import html
import json
import math
import re
from html import escape

import pytest
from django.urls import reverse

from qportal.jobs.models import Job, JobCircuit, JobEvent
from qportal.profiles.models import ExecutorProfile
from tests.circuits import BELL
from tests.stats import assert_counts_match, exact_probabilities

ESTIMATOR = {"primitive": "estimator", "observables": [["ZZ"]]}

BAD = {
    "unknown field": (ESTIMATOR, {"resilience": {"zne": {"bogus": 1}}}, "options.resilience.zne.bogus"),
    "wrong type": ({}, {"execution": {"init_qubits": "maybe"}}, "options.execution.init_qubits"),
    "out of range": (
        ESTIMATOR,
        {"resilience": {"zne": {"noise_factors": [0.5, 3]}}},
        "options.resilience.zne.noise_factors",
    ),
    "list item of the wrong type": (
        ESTIMATOR,
        {"resilience": {"zne": {"noise_factors": [1, "three"]}}},
        "options.resilience.zne.noise_factors[1]",
    ),
    "not a sampler option": ({}, {"resilience": {"zne_mitigation": True}}, "options.resilience"),
    "twirling randomizations": ({}, {"twirling": {"num_randomizations": 0}}, "options.twirling.num_randomizations"),
    "negative precision": (ESTIMATOR, {"default_precision": -0.1}, "options.default_precision"),
    "resilience level": (ESTIMATOR, {"resilience_level": 3}, "options.resilience_level"),
    "log level": ({}, {"environment": {"log_level": "LOUD"}}, "options.environment.log_level"),
    "a secret": ({}, {"experimental": {"api_token": "sk-secret"}}, "options.experimental.api_token"),
    "precision and shots": ({**ESTIMATOR, "shots": 100}, {"default_precision": 0.05}, "options.default_precision"),
    "default_shots against shots": ({"shots": 100}, {"default_shots": 200}, "options.default_shots"),
    "not an object": ({}, "fast", "options"),
    "a profile setting": ({}, {"method": "statevector"}, "options.method"),
}


def counts() -> tuple[int, int, int]:
    return Job.objects.count(), JobCircuit.objects.count(), JobEvent.objects.count()


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_a_bad_job_option_is_a_400_naming_the_field_and_nothing_is_stored(api_for, case):
    extra, options, field = BAD[case]
    before = counts()
    resp = api_for("alice").post(
        "/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], **extra, "options": options}
    )
    assert resp.status_code in (400, 422), resp.content
    body = resp.json()
    assert field in body["detail"], body
    if resp.status_code == 400:
        assert body["field"] == field and body["detail"].startswith(field + ":")
    assert "sk-secret" not in resp.content.decode()
    assert counts() == before


def test_the_job_and_profile_options_are_checked_together(api_for, users):
    alice = api_for("alice")
    profile = {"resilience": {"zne_mitigation": True, "zne": {"noise_factors": [1, 3]}}}
    made = alice.post("/profiles", {"name": "zne", "kind": "local", "team": users["lab"].id, "options": profile})
    assert made.status_code == 201, made.content
    before = counts()
    job = {"profile": "zne", "circuits": [{"qasm": BELL}], **ESTIMATOR}
    # alone, a quadratic fit is fine (three default noise factors); over the profile's two it is not
    quadratic = alice.post(
        "/jobs", {**job, "options": {"resilience": {"zne": {"extrapolator": "polynomial_degree_2"}}}}
    )
    assert quadratic.status_code == 400 and quadratic.json()["field"] == "options.resilience.zne"
    assert "requires at least 3 noise_factors" in quadratic.json()["detail"]
    both = alice.post("/jobs", {**job, "options": {"resilience": {"pec_mitigation": True}}})
    assert both.status_code == 400 and both.json()["field"] == "options.resilience"
    assert counts() == before


def test_options_are_stored_as_sent_and_shown(api_for, run_jobs, client, users):
    options = {"simulator": {"seed_simulator": 11}, "twirling": {"enable_gates": True, "num_randomizations": 8}}
    alice = api_for("alice")
    resp = alice.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], "shots": 300, "options": options})
    assert resp.status_code == 201, resp.content
    assert resp.json()["options"] == options
    run_jobs()
    job = alice.get(f"/jobs/{resp.json()['id']}").json()
    assert job["options"] == options and Job.objects.get(id=job["id"]).options == options
    assert job["ignored_options"] == ["twirling"]  # an ideal simulator has no gates to twirl
    client.force_login(users["alice"])
    page = client.get(f"/jobs/{job['id']}/").content.decode()
    assert escape('"seed_simulator": 11') in page and escape('"num_randomizations": 8') in page
    assert '<dd id="ignored-options"' in page and "<code>twirling</code>" in page
    edit = html.unescape(client.get(f"/jobs/new/?from={job['id']}").content.decode())
    carried = re.search(r'<textarea name="options"[^>]*>(.*?)</textarea>', edit, re.S).group(1)
    assert json.loads(carried) == options  # "Edit and run again" keeps them


def test_the_submit_page_takes_options_and_names_a_bad_field(client, users):
    client.force_login(users["bob"])
    form = {"profile": "local", "team": str(users["lab"].id), "shots": "", "primitive": "estimator"}
    form |= {"observables": "ZZ", "name": "", "tags": "", "qasm": [BELL.replace("measure q -> c;", "")]}
    before = counts()
    bad = client.post(reverse("job-submit"), {**form, "options": '{"resilience": {"zne": {"noise_factors": [0]}}}'})
    assert bad.status_code == 400
    assert "options.resilience.zne.noise_factors: " in html.unescape(bad.content.decode())
    broken = client.post(reverse("job-submit"), {**form, "options": "{nope"})
    assert broken.status_code == 400 and "options are not valid JSON" in broken.content.decode()
    assert counts() == before
    good = client.post(reverse("job-submit"), {**form, "options": '{"default_precision": 0.05}'})
    assert good.status_code == 302, good.content.decode()[:2000]
    job = Job.objects.get()
    assert (job.options, job.shots) == ({"default_precision": 0.05}, 400)
    page = html.unescape(client.get(f"/jobs/new/?from={job.id}").content.decode())
    assert re.search(r'<input name="shots" value=""', page)  # the precision sets them, not a shot count


def test_a_fake_backend_applies_its_seed_and_lists_what_it_ignored(api_for, run_jobs):
    alice = api_for("alice")
    options = {
        "simulator": {"seed_simulator": 1234},
        "dynamical_decoupling": {"enable": True, "sequence_type": "XY4"},
        "execution": {"init_qubits": True, "meas_type": "classified"},
        "max_execution_time": 60,
    }
    body = {"profile": "fake_manila", "circuits": [{"qasm": BELL}], "shots": 2000, "options": options}
    first, second = (alice.post("/jobs", body).json()["id"] for _ in range(2))
    run_jobs()
    one, two = alice.job_with_results(first), alice.job_with_results(second)
    assert one["status"] == two["status"] == "done"
    # the seed reached the simulator: two noisy runs agree shot for shot
    assert one["results"][0]["counts"] == two["results"][0]["counts"]
    assert_counts_match(one["results"][0]["counts"], exact_probabilities(BELL), slack=0.08)
    ignored = ["dynamical_decoupling", "execution.init_qubits", "max_execution_time"]
    assert one["ignored_options"] == ignored  # local testing mode applies the seed and meas_type only
    done = [e for e in one["events"] if e["kind"] == "done"][0]
    assert done["data"]["ignored_options"] == ignored
    assert "options this backend ignored: dynamical_decoupling, execution.init_qubits" in done["message"]


def test_an_estimator_runs_at_its_default_precision(api_for, run_jobs):
    alice = api_for("alice")
    qasm = BELL.replace("measure q -> c;", "")
    precision = 0.02
    body = {"profile": "local", "circuits": [{"qasm": qasm}], **ESTIMATOR, "observables": [["ZZ", "ZI"]]}
    resp = alice.post("/jobs", {**body, "options": {"default_precision": precision}})
    assert resp.status_code == 201, resp.content
    assert resp.json()["shots"] == math.ceil(1 / precision**2) == 2500
    run_jobs()
    [result] = alice.results(resp.json()["id"])
    assert result["stds"] == pytest.approx([precision, precision])
    # exact values 1 and 0, with Gaussian noise of width `precision`: 5 widths is a 1 in 1.7 million miss
    assert abs(result["evs"][0] - 1) <= 5 * precision and abs(result["evs"][1]) <= 5 * precision
    again = alice.post(f"/jobs/{resp.json()['id']}/rerun")
    assert again.status_code == 201, again.content
    assert again.json()["options"] == {"default_precision": precision} and again.json()["shots"] == 2500


def test_job_options_override_the_profiles(api_for, run_jobs, users):
    alice = api_for("alice")
    profile = {"seed": 5, "default_shots": 64}
    made = alice.post("/profiles", {"name": "seeded", "kind": "local", "team": users["lab"].id, "options": profile})
    assert made.status_code == 201, made.content
    body = {"profile": "seeded", "circuits": [{"qasm": BELL}]}
    plain = alice.post("/jobs", body).json()
    mine = alice.post("/jobs", {**body, "options": {"default_shots": 500}}).json()
    assert (plain["shots"], mine["shots"]) == (64, 500)
    assert ExecutorProfile.objects.get(name="seeded").options == profile
    run_jobs()
    assert sum(alice.results(plain["id"])[0]["counts"].values()) == 64
    assert sum(alice.results(mine["id"])[0]["counts"].values()) == 500


README_BELL = 'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; h q[0]; cx q[0],q[1];'
README_JOB = {
    "profile": "fake_manila",
    "primitive": "estimator",
    "observables": [["ZZ", "XX"]],
    "circuits": [{"qasm": README_BELL}],
}


def test_the_readme_examples(api_for, run_jobs):
    """README "Primitive options": the refused job and the one that runs, as written there."""
    alice = api_for("alice")
    bad = {**README_JOB, "options": {"resilience": {"zne_mitigation": True, "zne": {"noise_factors": [0.5, 3]}}}}
    refused = alice.post("/jobs", bad)
    assert refused.status_code == 400
    assert refused.json() == {
        "detail": "options.resilience.zne.noise_factors: noise_factors` option value must all be >= 1",
        "field": "options.resilience.zne.noise_factors",
    }
    options = {
        "default_precision": 0.02,
        "simulator": {"seed_simulator": 7},
        "resilience": {"zne_mitigation": True, "zne": {"noise_factors": [1, 3, 5], "extrapolator": "linear"}},
        "dynamical_decoupling": {"enable": True, "sequence_type": "XY4"},
    }
    resp = alice.post("/jobs", {**README_JOB, "options": options})
    assert resp.status_code == 201, resp.content
    assert resp.json()["shots"] == 2500
    run_jobs()
    job = alice.job_with_results(resp.json()["id"])
    assert job["status"] == "done" and job["options"] == options
    assert job["ignored_options"] == ["dynamical_decoupling", "resilience"]
    # fake_manila's noise pulls ZZ and XX of a Bell state below 1, but not far (a few percent)
    assert all(0.8 < ev <= 1.0 + 5 * 0.02 for ev in job["results"][0]["evs"])
