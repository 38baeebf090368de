"""A circuit's ideal (noiseless) outcome distribution, where it is cheap: a statevector of at most
``MAX_QUBITS`` qubits, for circuits whose measurements all come at the end.

Keys are Qiskit's bitstrings over the circuit's classical bits (bit 0 rightmost; a bit no
measurement writes reads 0), the form of a sampler job's counts, so the two can be overlaid.
"""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector

MAX_QUBITS = 12  # 4096 amplitudes: a few milliseconds
_NOT_UNITARY = frozenset({"reset", "initialize", "delay", "if_else", "while_loop", "for_loop", "switch_case"})


def ideal_probabilities(circuit: QuantumCircuit, min_probability: float = 1e-12) -> dict[str, float] | None:
    """The exact probability of each outcome, or None when the circuit is too wide, has unbound
    parameters, or measures before its end or resets (then it is not one statevector)."""
    if circuit.num_qubits > MAX_QUBITS or circuit.num_parameters or not circuit.num_clbits:
        return None
    measured: dict[int, int] = {}  # clbit -> qubit
    body = circuit.copy_empty_like()
    done_qubits: set = set()
    for instruction in circuit.data:
        name = instruction.operation.name
        qubits = [circuit.find_bit(q).index for q in instruction.qubits]
        if name == "measure":
            clbit = circuit.find_bit(instruction.clbits[0]).index
            measured[clbit] = qubits[0]
            done_qubits.add(qubits[0])
            continue
        if name == "barrier":
            continue
        if name in _NOT_UNITARY or instruction.clbits or done_qubits.intersection(qubits):
            return None
        body.append(instruction)
    if not measured:
        return None
    try:
        state = Statevector.from_instruction(body.remove_final_measurements(inplace=False))
    except Exception:  # noqa: BLE001 - an operation without a matrix: no ideal distribution
        return None
    clbits = sorted(measured)
    probabilities = state.probabilities(qargs=[measured[c] for c in clbits])  # qargs[0] is the lowest bit
    return keyed_by_clbits(probabilities, clbits, circuit.num_clbits, min_probability)


def keyed_by_clbits(
    probabilities: np.ndarray, clbits: list[int], width: int, min_probability: float
) -> dict[str, float]:
    """Probabilities indexed with bit k for ``clbits[k]``, keyed like a sampler's counts: a
    ``width``-bit string, clbit 0 rightmost, unmeasured clbits 0; entries at or below
    ``min_probability`` are dropped."""
    found: dict[str, float] = {}
    for value in np.flatnonzero(probabilities > min_probability):
        bits = ["0"] * width
        for position, clbit in enumerate(clbits):
            if value >> position & 1:
                bits[width - 1 - clbit] = "1"
        key = "".join(bits)
        found[key] = found.get(key, 0.0) + float(probabilities[value])
    return found
