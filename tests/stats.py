"""Statistical checks of sampled counts against exact probabilities."""

from __future__ import annotations

import math

from qiskit import QuantumCircuit, qasm2
from qiskit.quantum_info import Statevector


def exact_probabilities(qasm: str) -> dict[str, float]:
    """Exact outcome probabilities of a circuit that measures every qubit into c[i] (no mid-circuit ops)."""
    circuit = qasm2.loads(qasm)
    unitary_part = QuantumCircuit(circuit.num_qubits)
    for instruction in circuit.data:
        if instruction.operation.name not in ("measure", "barrier"):
            unitary_part.append(instruction.operation, [circuit.find_bit(q).index for q in instruction.qubits])
    return {k: v for k, v in Statevector(unitary_part).probabilities_dict().items() if v > 1e-12}


def assert_counts_match(
    counts: dict[str, int], exact: dict[str, float], *, sigmas: float = 5.0, slack: float = 0.0
) -> None:
    """Every outcome's frequency within ``sigmas`` binomial standard errors of its probability.

    ``slack`` widens each bound by an absolute amount, for noisy backends (documented at the call).
    """
    shots = sum(counts.values())
    for outcome in set(counts) | set(exact):
        p = exact.get(outcome, 0.0)
        observed = counts.get(outcome, 0) / shots
        bound = sigmas * math.sqrt(max(p * (1 - p), 1.0 / shots) / shots) + slack
        assert abs(observed - p) <= bound, f"{outcome}: observed {observed:.4f}, exact {p:.4f}, bound {bound:.4f}"
