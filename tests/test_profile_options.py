"""Profile options: every field of qiskit-ibm-runtime's SamplerOptions/EstimatorOptions, checked on
save (API and form); a bad field is a 400 naming its dotted path, and nothing is stored."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from qportal.profiles.models import ExecutorProfile

GOOD = {
    "resilience": {
        "zne_mitigation": True,
        "zne": {"noise_factors": [1, 3, 5], "extrapolator": ["exponential", "linear"]},
        "measure_mitigation": True,
    },
    "twirling": {"enable_gates": True, "num_randomizations": 16, "shots_per_randomization": 64},
    "dynamical_decoupling": {"enable": True, "sequence_type": "XpXm"},
    "execution": {"init_qubits": False, "rep_delay": 0.0005},
    "environment": {"log_level": "INFO", "job_tags": ["lab-run"]},
    "default_precision": 0.02,
    "max_execution_time": 300,
    "optimization_level": 1,
    "seed": 7,
}

BAD = {
    "unknown nested field": ({"resilience": {"zne": {"noise_factor": [1, 3]}}}, "options.resilience.zne.noise_factor"),
    "unknown top-level field": ({"turbo": True}, "options.turbo"),
    "wrong type": ({"execution": {"init_qubits": "maybe"}}, "options.execution.init_qubits"),
    "noise factor below 1": (
        {"resilience": {"zne": {"noise_factors": [0.5, 3]}}},
        "options.resilience.zne.noise_factors",
    ),
    "resilience level out of range": ({"resilience_level": 3}, "options.resilience_level"),
    "negative precision": ({"default_precision": -0.1}, "options.default_precision"),
    "bad pec option": ({"resilience": {"pec": {"max_overhead": -1}}}, "options.resilience.pec.max_overhead"),
    "bad twirling strategy": ({"twirling": {"strategy": "everywhere"}}, "options.twirling.strategy"),
    "portal option range": ({"optimization_level": 7}, "options.optimization_level"),
}


def test_every_primitive_option_is_stored_as_sent(api_for, users):
    alice = api_for("alice")
    body = {"name": "mitigated", "kind": "fake", "backend": "fake_manila", "team": users["lab"].id, "options": GOOD}
    resp = alice.post("/profiles", body)
    assert resp.status_code == 201, resp.content
    assert json.dumps(resp.json()["options"], sort_keys=True) == json.dumps(GOOD, sort_keys=True)  # 1 stays 1
    assert ExecutorProfile.objects.get(name="mitigated").options == GOOD


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_a_bad_option_is_a_400_naming_the_field_and_nothing_is_stored(api_for, users, case):
    options, field = BAD[case]
    alice = api_for("alice")
    before = ExecutorProfile.objects.count()
    resp = alice.post("/profiles", {"name": "bad", "kind": "local", "team": users["lab"].id, "options": options})
    assert resp.status_code == 400, resp.content
    assert resp.json()["field"] == field
    assert resp.json()["detail"].startswith(field + ":")
    assert ExecutorProfile.objects.count() == before


def test_a_bad_option_does_not_change_a_stored_profile(api_for, users):
    alice = api_for("alice")
    body = {"name": "keep", "kind": "local", "team": users["lab"].id, "options": {"seed": 1}}
    created = alice.post("/profiles", body)
    profile_id = created.json()["id"]
    bad = {"name": "keep", "kind": "local", "team": users["lab"].id, "options": {"dynamical_decoupling": {"x": 1}}}
    resp = alice.put(f"/profiles/{profile_id}", bad)
    assert resp.status_code == 400 and resp.json()["field"] == "options.dynamical_decoupling.x"
    assert ExecutorProfile.objects.get(id=profile_id).options == {"seed": 1}


def test_the_form_names_the_bad_field_under_options_and_saves_nothing(client, users):
    client.force_login(users["bob"])
    data = {
        "team": users["lab"].id,
        "name": "formbad",
        "kind": "fake",
        "fake_backend": "fake_manila",
        "mode": "job",
        "shots": "100",
        "selector": "cyclic",
        "local_transpile": "on",
        "single_job": "on",
        "options": json.dumps({"resilience": {"zne": {"noise_factors": [1, "x"]}}}),
    }
    before = ExecutorProfile.objects.count()
    resp = client.post(reverse("profile-new"), data)
    assert resp.status_code == 400
    errors = resp.context["form"].errors
    assert list(errors) == ["options"]
    assert errors["options"][0].startswith("options.resilience.zne.noise_factors[1]:")
    assert ExecutorProfile.objects.count() == before

    data["options"] = json.dumps(GOOD)
    assert client.post(reverse("profile-new"), data).status_code == 302
    assert ExecutorProfile.objects.get(name="formbad").options == GOOD
