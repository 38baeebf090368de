"""executors.options: qiskit-ibm-runtime's options classes decide; errors name the field path."""

import pytest

from executors.options import InvalidOption, merge_options, runtime_options, validate_options

ZNE = {"resilience": {"zne_mitigation": True, "zne": {"noise_factors": [1, 3, 5], "extrapolator": "exponential"}}}


@pytest.mark.parametrize(
    ("primitive", "options", "field"),
    [
        ("estimator", {"resilience": {"zne": {"bogus": 1}}}, "resilience.zne.bogus"),  # unknown
        ("estimator", {"resilience": {"zne": {"noise_factors": [0.5, 3]}}}, "resilience.zne.noise_factors"),  # range
        ("estimator", {"resilience": {"zne": {"noise_factors": [1, "x"]}}}, "resilience.zne.noise_factors[1]"),
        ("estimator", {"resilience": {"zne": {"extrapolator": "double_exponential"}}}, "resilience.zne"),
        ("estimator", {"default_precision": -1}, "default_precision"),
        ("estimator", {"resilience_level": 3}, "resilience_level"),
        ("estimator", {"resilience_level": "high"}, "resilience_level"),  # type
        ("sampler", {"execution": {"init_qubits": "maybe"}}, "execution.init_qubits"),
        ("sampler", {"resilience": {"zne_mitigation": True}}, "resilience"),  # not a sampler option
        ("sampler", {"twirling": {"num_randomizations": 0}}, "twirling.num_randomizations"),
        ("estimator", {"dynamical_decoupling": {"sequence_type": "YY"}}, "dynamical_decoupling.sequence_type"),
        (None, {"environment": {"log_level": "LOUD"}}, "environment.log_level"),
        (None, {"bogus": 1}, "bogus"),
        (None, {"optimization_level": 7}, "optimization_level"),
        (None, {"seed": True}, "seed"),
        (None, {"experimental": {"api_token": "sk-123"}}, "experimental.api_token"),  # never a secret
        (None, "fast", "options"),
    ],
)
def test_bad_options_name_the_field(primitive, options, field):
    with pytest.raises(InvalidOption) as caught:
        validate_options(primitive, options)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert "sk-123" not in str(caught.value)


def test_good_options_come_back_as_given():
    options = {
        **ZNE,
        "default_precision": 0.02,
        "twirling": {"enable_gates": True, "num_randomizations": 16},
        "dynamical_decoupling": {"enable": True, "sequence_type": "XpXm"},
        "execution": {"init_qubits": False, "rep_delay": 0.0005},
        "environment": {"log_level": "INFO", "job_tags": ["lab"]},
        "max_execution_time": 300,
        "seed": 7,
        "optimization_level": 1,
    }
    assert validate_options("estimator", options) == options
    assert validate_options(None, options) == options


def test_profile_options_fit_either_primitive_and_each_job_takes_its_own():
    profile = validate_options(
        None, {**ZNE, "execution": {"init_qubits": False, "meas_type": "classified"}, "twirling": True, "seed": 3}
    )
    sampler, dropped = runtime_options("sampler", profile)
    assert sampler == {
        "execution": {"init_qubits": False, "meas_type": "classified"},
        "twirling": {"enable_gates": True, "enable_measure": True},
    }
    assert dropped == ["resilience"]
    estimator, dropped = runtime_options("estimator", profile)
    assert estimator["resilience"] == ZNE["resilience"]
    assert estimator["execution"] == {"init_qubits": False}
    assert dropped == ["execution.meas_type"]


def test_job_options_override_profile_options_deeply():
    profile = {"resilience": {"zne_mitigation": True, "zne": {"noise_factors": [1, 3, 5]}}, "seed": 1}
    job = {"resilience": {"zne": {"extrapolator": "linear"}}, "seed": 2}
    assert merge_options(profile, job) == {
        "resilience": {"zne_mitigation": True, "zne": {"noise_factors": [1, 3, 5], "extrapolator": "linear"}},
        "seed": 2,
    }
    assert profile["seed"] == 1  # the inputs are left alone
