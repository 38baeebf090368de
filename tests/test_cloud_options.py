"""Primitive options on the IBM path: what the portal was given arrives at the IBM stand-in exactly
(its recorded request), the job's over the profile's, beside the portal's own tag; ZNE's outputs
come back, are stored and are shown."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from qportal.jobs.models import Job
from tests.circuits import BELL
from tests.test_cloud_jobs import cloud_setup, executors  # noqa: F401 - the fixture

ESTIMATOR_QASM = BELL.replace("measure q -> c;", "")
PROFILE_OPTIONS = {
    "resilience": {"zne_mitigation": True, "zne": {"noise_factors": [1, 3, 5], "extrapolator": "exponential"}},
    "twirling": {"enable_gates": True, "num_randomizations": 8},
    "environment": {"log_level": "INFO"},
}
JOB_OPTIONS = {
    "resilience": {"zne": {"extrapolator": ["linear", "polynomial_degree_2"], "extrapolated_noise_factors": [0, 1]}},
    "twirling": {"shots_per_randomization": 64},
    "dynamical_decoupling": {"enable": True, "sequence_type": "XpXm"},
    "execution": {"init_qubits": True, "rep_delay": 0.0005},
    "environment": {"job_tags": ["my-experiment"]},
    "default_precision": 0.05,
    "max_execution_time": 120,
}


def cloud_profile_with(api, team, server, options: dict) -> None:
    cloud_setup(api, team, server)
    profile = api.get("/profiles").json()
    [cloud] = [p for p in profile if p["name"] == "cloud"]
    body = {key: cloud[key] for key in ("name", "kind", "backend", "shots", "mode", "single_job", "local_transpile")}
    resp = api.put(f"/profiles/{cloud['id']}", {**body, "credential": "standin", "team": team.id, "options": options})
    assert resp.status_code == 200, resp.content


def test_good_options_arrive_exactly_as_sent_with_the_portal_tag(api_for, users, standin, executors, run_jobs):  # noqa: F811
    api = api_for("alice")
    lab = users["lab"]
    cloud_profile_with(api, lab, standin, PROFILE_OPTIONS)
    body = {
        "profile": "cloud",
        "team": lab.id,
        "circuits": [{"qasm": ESTIMATOR_QASM}],
        "primitive": "estimator",
        "observables": [["ZZ", "XX"]],
        "tags": ["portal-tag"],
        "options": JOB_OPTIONS,
    }
    resp = api.post("/jobs", body)
    assert resp.status_code == 201, resp.content
    assert resp.json()["shots"] == 400  # ceil(1 / 0.05**2): the shots that precision stands for
    run_jobs()
    job = api.job_with_results(resp.json()["id"])
    assert job["status"] == "done", job
    assert json.dumps(job["options"], sort_keys=True) == json.dumps(JOB_OPTIONS, sort_keys=True)  # as sent
    [remote_id] = job["remote_ids"]
    key = Job.objects.get(id=job["id"]).submit_key

    expected = copy.deepcopy(PROFILE_OPTIONS)
    expected["resilience"]["zne"].update(JOB_OPTIONS["resilience"]["zne"])  # the job's extrapolators win
    expected["twirling"].update(JOB_OPTIONS["twirling"])
    for field in ("dynamical_decoupling", "execution", "default_precision", "max_execution_time"):
        expected[field] = JOB_OPTIONS[field]
    # the portal's tags first (its submit key, the part, the job's tags), then the user's own
    expected["environment"] = {"log_level": "INFO", "job_tags": [key, f"{key}.0", "portal-tag", "my-experiment"]}
    assert standin.recorded.options_of(remote_id) == expected
    sent = standin.recorded.body(remote_id)
    assert "default_shots" not in sent["params"]["options"]  # it would override default_precision
    assert sent["cost"] == 120 and sent["log_level"] == "INFO" and sent["program_id"] == "estimator"


def test_a_sampler_job_leaves_the_profiles_estimator_options_out(api_for, users, standin, executors, run_jobs):  # noqa: F811
    api = api_for("alice")
    lab = users["lab"]
    cloud_profile_with(api, lab, standin, PROFILE_OPTIONS)
    options = {"execution": {"meas_type": "classified"}, "twirling": {"enable_measure": True}}
    body = {"profile": "cloud", "team": lab.id, "circuits": [{"qasm": BELL}], "shots": 1000, "options": options}
    resp = api.post("/jobs", body)
    assert resp.status_code == 201, resp.content
    run_jobs()
    job = api.job_with_results(resp.json()["id"])
    assert job["status"] == "done", job
    [remote_id] = job["remote_ids"]
    sent = standin.recorded.options_of(remote_id)
    assert "resilience" not in sent and job["ignored_options"] == ["resilience"]
    assert sent["twirling"] == {"enable_gates": True, "num_randomizations": 8, "enable_measure": True}
    assert sent["execution"] == {"meas_type": "classified"} and sent["default_shots"] == 1000
    assert sum(job["results"][0]["counts"].values()) == 1000


def test_zne_outputs_are_stored_and_shown(api_for, users, standin, executors, run_jobs, client):  # noqa: F811
    api = api_for("alice")
    lab = users["lab"]
    cloud_profile_with(api, lab, standin, {})
    zne = {"noise_factors": [1, 2, 3], "extrapolator": ["linear", "exponential"]}
    body = {
        "profile": "cloud",
        "team": lab.id,
        "circuits": [{"qasm": ESTIMATOR_QASM}],
        "primitive": "estimator",
        "observables": [["ZZ", "ZI"]],
        "options": {"resilience": {"zne_mitigation": True, "zne": zne}, "default_precision": 0.02},
    }
    resp = api.post("/jobs", body)
    assert resp.status_code == 201, resp.content
    run_jobs()
    [result] = api.results(resp.json()["id"])
    stored = result["metadata"]["zne"]
    assert stored["noise_factors"] == [1, 2, 3]
    assert stored["extrapolators"] == ["linear", "exponential"]
    assert stored["extrapolated_noise_factors"] == [0, 1, 2, 3]  # IBM's default: zero, then the factors
    at_factors = np.asarray(stored["evs_noise_factors"])
    assert at_factors.shape == (2, 3)  # (observables, noise factors)
    assert np.asarray(stored["stds_noise_factors"]).shape == (2, 3)
    assert np.asarray(stored["evs_extrapolated"]).shape == (2, 2, 4)  # (observables, extrapolators, points)
    # the stand-in is noiseless: at every factor ZZ is 1 exactly and ZI is 0 within 5 precisions
    assert at_factors[0] == pytest.approx([1, 1, 1], abs=1e-9)
    assert np.all(np.abs(at_factors[1]) <= 5 * 0.02)
    # evs are the first extrapolator's (linear) zero-noise values
    assert result["evs"][0] == pytest.approx(1, abs=1e-9)
    assert result["evs"] == pytest.approx(np.asarray(stored["evs_extrapolated"])[:, 0, 0].tolist())
    assert result["metadata"]["resilience"]["zne"]["extrapolators"] == ["linear", "exponential"]

    client.force_login(users["alice"])
    page = client.get(f"/jobs/{resp.json()['id']}/").content.decode()
    assert 'id="zne"' in page and "noise factors 1, 2, 3" in page and "extrapolators linear, exponential" in page
    assert page.count('<th class="num">noise × ') == 3 and page.count('<th class="num">at noise × ') == 4
    assert f"{at_factors[1][2]:.4f}" in page
