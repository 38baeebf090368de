"""executors.compare: the metrics equal Qiskit's, their errors cover the spread of real runs, and the
exact noisy-twin distribution is what a fake backend's sampler estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit.quantum_info import hellinger_fidelity
from qiskit_ibm_runtime import SamplerV2

from executors.compare import distance, noisy_probabilities, pairwise, twin_noise_model
from executors.fake_backend import fake_backend
from executors.runtime import transpile_to_isa
from tests.circuits import bell, ghz
from tests.stats import exact_probabilities

Z = 4.0


def test_distance_matches_qiskit_and_tvd_by_hand():
    p = {"00": 480, "11": 470, "01": 30, "10": 20}
    q = {"00": 0.5, "11": 0.5}
    found = distance(p, q, p_shots=1000, q_shots=None)
    assert found.fidelity == pytest.approx(hellinger_fidelity(p, q), abs=1e-12)
    assert found.tvd == pytest.approx(0.5 * (0.02 + 0.03 + 0.03 + 0.02), abs=1e-12)
    exact = distance(q, q, p_shots=None, q_shots=None)
    assert exact.fidelity == pytest.approx(1.0) and exact.fidelity_std == 0 and exact.tvd == 0


def test_stated_errors_match_the_spread_of_repeated_samples():
    """Sample p and q many times: the standard deviation of the estimates is the delta-method error."""
    rng = np.random.default_rng(11)
    keys = ["00", "01", "10", "11"]
    p = np.array([0.45, 0.05, 0.04, 0.46])
    q = np.array([0.40, 0.10, 0.10, 0.40])
    n, m = 2000, 3000
    fidelities, tvds = [], []
    for _ in range(2000):
        a = dict(zip(keys, rng.multinomial(n, p), strict=True))
        b = dict(zip(keys, rng.multinomial(m, q), strict=True))
        d = distance(a, b, p_shots=n, q_shots=m)
        fidelities.append(d.fidelity)
        tvds.append(d.tvd)
    stated = distance(dict(zip(keys, p, strict=True)), dict(zip(keys, q, strict=True)), p_shots=n, q_shots=m)
    # the spread of 2000 estimates is known to about 1.6 %: allow 10 %
    assert np.std(fidelities) == pytest.approx(stated.fidelity_std, rel=0.1)
    assert np.std(tvds) == pytest.approx(stated.tvd_std, rel=0.1)
    # the estimate is biased low by O(outcomes / shots) (module docstring): far inside its error
    assert abs(np.mean(fidelities) - stated.fidelity) < 0.25 * stated.fidelity_std


def test_pairwise_compares_every_pair_in_order():
    rows = pairwise({"ideal": ({"0": 1.0}, None), "twin": ({"0": 90, "1": 10}, 100), "none": ({}, 5)})
    assert [(r["a"], r["b"]) for r in rows] == [("ideal", "twin")]
    assert rows[0]["fidelity"] == pytest.approx(0.9)


@pytest.mark.parametrize("circuit", [bell(), ghz(3)], ids=["bell", "ghz3"])
def test_noisy_twin_is_what_the_fake_backend_samples(circuit):
    backend = fake_backend("fake_manila")
    (isa,) = transpile_to_isa([circuit], backend, 2, seed=5)
    exact_noisy = noisy_probabilities(isa, twin_noise_model(backend))
    assert sum(exact_noisy.values()) == pytest.approx(1.0)
    shots = 40_000
    counts = SamplerV2(mode=backend, options={"simulator": {"seed_simulator": 3}}).run([isa], shots=shots).result()
    sampled = counts[0].data.c.get_counts()
    for key, probability in exact_noisy.items():
        sigma = math.sqrt(probability * (1 - probability) / shots)
        assert abs(sampled.get(key, 0) / shots - probability) < Z * sigma + 1e-9, key
    # and the noise is real: the twin is measurably away from the ideal distribution
    ideal = exact_probabilities(circuit)
    assert 0.8 < hellinger_fidelity(exact_noisy, ideal) < 0.995


def test_noisy_probabilities_refuses_mid_circuit_measurement():
    circuit = bell()
    circuit.h(0)  # after the measurement
    circuit.measure(0, 0)
    assert noisy_probabilities(circuit, twin_noise_model(fake_backend("fake_manila"))) is None
