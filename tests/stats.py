"""Exact reference distributions and statistical assertions, shared by all tests."""

from __future__ import annotations

import math

from qiskit import QuantumCircuit, qasm2
from qiskit.quantum_info import Statevector

# A 5-sigma two-sided bound fails a correct executor with probability ~6e-7 per outcome.
Z = 5.0


def final_measurement_map(circuit: QuantumCircuit) -> dict[int, int]:
    """clbit index -> qubit index for a circuit whose measurements are all final."""
    mapping = {}
    for instruction in circuit.data:
        if instruction.operation.name == "measure":
            qubit = circuit.find_bit(instruction.qubits[0]).index
            clbit = circuit.find_bit(instruction.clbits[0]).index
            mapping[clbit] = qubit
    return mapping


def exact_probabilities(circuit: QuantumCircuit | str) -> dict[str, float]:
    """Ideal outcome distribution over all clbits (Qiskit bit order, unmeasured clbits 0).

    ``circuit`` may be OpenQASM 2 text.
    """
    if isinstance(circuit, str):
        circuit = qasm2.loads(circuit)
    mapping = final_measurement_map(circuit)
    clbits = sorted(mapping)
    state = Statevector(circuit.remove_final_measurements(inplace=False))
    marginal = state.probabilities_dict(qargs=[mapping[c] for c in clbits])
    result: dict[str, float] = {}
    for bits, probability in marginal.items():
        if probability < 1e-12:
            continue
        outcome = ["0"] * circuit.num_clbits
        for position, clbit in enumerate(clbits):
            outcome[circuit.num_clbits - 1 - clbit] = bits[len(clbits) - 1 - position]
        key = "".join(outcome)
        result[key] = result.get(key, 0.0) + probability
    return result


def assert_counts_match(
    counts: dict[str, int], probabilities: dict[str, float], shots: int | None = None, *, slack: float = 0.0
) -> None:
    """Every outcome's count within Z binomial standard errors; impossible outcomes never seen.

    ``slack`` widens each bound by an absolute frequency, for noisy backends (say why at the call);
    with slack, impossible outcomes may appear within it.
    """
    if shots is None:
        shots = sum(counts.values())
    assert sum(counts.values()) == shots
    for outcome in set(counts) | set(probabilities):
        p = probabilities.get(outcome, 0.0)
        observed = counts.get(outcome, 0)
        if p == 0.0 and slack == 0.0:
            assert observed == 0, f"outcome {outcome} has probability 0 but was seen {observed} times"
            continue
        sigma = math.sqrt(shots * p * (1 - p))
        assert abs(observed - shots * p) <= Z * sigma + slack * shots + 1e-9, (
            f"outcome {outcome}: {observed} of {shots}, expected {shots * p:.1f} +- {sigma:.1f}"
        )


def assert_same_distribution(counts: dict[str, int], shots: int, reference: dict[str, int], ref_shots: int) -> None:
    """Two-sample check: each outcome's frequency agrees within Z combined standard errors."""
    assert sum(counts.values()) == shots
    for outcome in set(counts) | set(reference):
        p_ref = reference.get(outcome, 0) / ref_shots
        p_obs = counts.get(outcome, 0) / shots
        pooled = (counts.get(outcome, 0) + reference.get(outcome, 0)) / (shots + ref_shots)
        sigma = math.sqrt(pooled * (1 - pooled) * (1 / shots + 1 / ref_shots))
        # one count of slack so outcomes seen once in either sample cannot fail on granularity
        assert abs(p_obs - p_ref) <= Z * sigma + 1 / shots, (
            f"outcome {outcome}: {p_obs:.4f} here vs {p_ref:.4f} in the reference (sigma {sigma:.4f})"
        )


def assert_counts_match_grouped(counts: dict[str, int], probabilities: dict[str, float], shots: int) -> None:
    """Like :func:`assert_counts_match` for wide distributions: outcomes expected fewer than five
    times (where the normal approximation fails) are pooled into one bucket first."""
    rare = {o for o in set(counts) | set(probabilities) if shots * probabilities.get(o, 0.0) < 5}
    pooled_counts = {o: n for o, n in counts.items() if o not in rare}
    pooled_probabilities = {o: p for o, p in probabilities.items() if o not in rare}
    if rare:
        pooled_counts["rare"] = sum(counts.get(o, 0) for o in rare)
        pooled_probabilities["rare"] = sum(probabilities.get(o, 0.0) for o in rare)
    assert_counts_match(pooled_counts, pooled_probabilities, shots)
