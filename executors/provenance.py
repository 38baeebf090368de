"""What a run needs to be reproduced: the transpiled (ISA) circuit's shape and the software versions.

:func:`isa_summary` describes a circuit as it was sent to the backend (depth, size, two-qubit gate
count, operation counts, and for the first few circuits of a job when small its text diagram and
the circuit itself as base64 QPY, which :func:`isa_circuit` reads back), for
``CircuitResult.metadata["isa"]``; :func:`software_versions` names the packages that ran it.
"""

from __future__ import annotations

import base64
import io
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from qiskit import QuantumCircuit, qpy

__all__ = ["DIAGRAM_CIRCUITS", "isa_circuit", "isa_summary", "software_versions"]

# A job's first circuits keep their ISA diagram (when it fits in DIAGRAM_CHARS): enough to see what
# ran without making a thousand-circuit job's stored results a megabyte larger.
DIAGRAM_CIRCUITS = 10
DIAGRAM_CHARS = 6000
QPY_CHARS = 20_000  # the ISA circuit itself (base64 QPY) is kept for those circuits up to this size
_PACKAGES = ("qiskit", "qiskit-ibm-runtime", "qiskit-aer")


def isa_summary(circuit: QuantumCircuit, index: int) -> dict[str, Any]:
    """``depth``, ``size``, ``two_qubit_gates``, ``operations`` (name -> count) of an ISA circuit,
    ``diagram`` (text, idle wires hidden) and ``qpy`` (base64) for circuit ``index`` <
    ``DIAGRAM_CIRCUITS`` when they fit in ``DIAGRAM_CHARS`` and ``QPY_CHARS`` (else None)."""
    two_qubit = sum(1 for item in circuit.data if item.operation.num_qubits == 2 and item.operation.name != "barrier")
    diagram = packed = None
    if index < DIAGRAM_CIRCUITS and circuit.size() <= 400:
        text = str(circuit.draw(output="text", idle_wires=False, fold=-1))
        diagram = text if len(text) <= DIAGRAM_CHARS else None
        buffer = io.BytesIO()
        qpy.dump(circuit, buffer)
        encoded = base64.b64encode(buffer.getvalue()).decode()
        packed = encoded if len(encoded) <= QPY_CHARS else None
    return {
        "depth": circuit.depth(),
        "size": circuit.size(),
        "two_qubit_gates": two_qubit,
        "operations": dict(sorted(circuit.count_ops().items())),
        "diagram": diagram,
        "qpy": packed,
    }


def isa_circuit(summary: dict[str, Any] | None) -> QuantumCircuit | None:
    """The ISA circuit an :func:`isa_summary` kept (its ``qpy``), or None."""
    packed = (summary or {}).get("qpy")
    if not packed:
        return None
    return qpy.load(io.BytesIO(base64.b64decode(packed)))[0]


def software_versions() -> dict[str, str | None]:
    """Installed versions of qiskit, qiskit-ibm-runtime and qiskit-aer (None if absent)."""
    found: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
