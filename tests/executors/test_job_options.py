"""executors.job_options: job over profile, the shots/precision rule, what simulators ignore."""

import pytest

from executors.job_options import check_job_options, effective_options, ignored_options, job_shots, seed_of
from executors.options import InvalidOption


def test_shorthands_are_expanded_before_merging():
    merged = effective_options({"twirling": True, "seed": 1}, {"twirling": {"num_randomizations": 8}})
    assert merged == {"twirling": {"enable_gates": True, "enable_measure": True, "num_randomizations": 8}, "seed": 1}


@pytest.mark.parametrize(
    ("primitive", "merged", "shots", "expected"),
    [
        ("sampler", {}, None, 1024),  # the profile's
        ("sampler", {"default_shots": 300}, None, 300),
        ("sampler", {"default_shots": 300}, 500, 500),  # the job's shots are its default_shots
        ("estimator", {"default_precision": 0.01}, None, 10_000),  # ceil(1 / 0.01**2)
        ("estimator", {"default_precision": 0.03}, None, 1112),  # 1111.1 rounded up
        ("estimator", {"default_precision": 0.01, "default_shots": 50}, None, 50),  # default_shots wins
        ("sampler", {"default_precision": 0.01}, None, 1024),  # a sampler has no precision
    ],
)
def test_job_shots(primitive, merged, shots, expected):
    assert job_shots(primitive, merged, shots, 1024) == expected


def test_shots_beside_a_precision_or_a_different_default_shots_are_refused():
    with pytest.raises(InvalidOption) as caught:
        job_shots("estimator", {"default_precision": 0.05}, 100, 1024)
    assert caught.value.field == "default_precision"
    with pytest.raises(InvalidOption) as caught:
        check_job_options("sampler", {"default_shots": 200}, {}, 100, 1024)
    assert caught.value.field == "default_shots"
    with pytest.raises(InvalidOption, match="limit is 100000"):
        job_shots("estimator", {"default_precision": 0.001}, None, 1024)


def test_check_job_options_returns_the_jobs_own_and_its_shots():
    profile = {"resilience": {"zne": {"noise_factors": [1, 3, 5]}}, "default_shots": 64}
    own, shots = check_job_options("estimator", {"default_precision": 0.1}, profile, None, 1024)
    assert own == {"default_precision": 0.1} and shots == 64  # the profile's default_shots beats precision


def test_seed():
    assert seed_of({"seed": 3}) == 3
    assert seed_of({"seed": 3, "simulator": {"seed_simulator": 9}}) == 9
    assert seed_of({}) is None


def test_ignored_options_name_the_highest_path_not_applied():
    merged = {
        "seed": 1,
        "method": "statevector",
        "optimization_level": 1,
        "resilience": {"zne_mitigation": True, "zne": {"noise_factors": [1, 3]}},
        "execution": {"init_qubits": False, "meas_type": "classified"},
        "simulator": {"seed_simulator": 4, "coupling_map": [[0, 1]]},
        "default_precision": 0.1,
        "twirling": True,
    }
    assert ignored_options("estimator", merged, "fake") == [
        "execution.init_qubits",
        "execution.meas_type",  # not an estimator option
        "method",
        "resilience",
        "simulator.coupling_map",
        "twirling",
    ]
    assert ignored_options("sampler", merged, "local") == [
        "default_precision",  # not a sampler option
        "execution",
        "optimization_level",  # local Aer does not transpile for a device
        "resilience",
        "simulator.coupling_map",
        "twirling",
    ]
    assert ignored_options("sampler", merged, "fake") == [
        "default_precision",
        "execution.init_qubits",
        "method",
        "resilience",
        "simulator.coupling_map",
        "twirling",
    ]
    assert ignored_options("sampler", {"execution": {"meas_type": "kerneled"}}, "fake") == ["execution.meas_type"]
