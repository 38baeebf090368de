"""What a simulation needs in memory, so a job that cannot fit one simulator process is refused at
submission instead of killing the process that runs it.

A statevector of n qubits holds 2^n complex doubles (16 bytes each), a density matrix 4^n. Methods
whose memory does not grow that way (stabilizer, matrix product state) are bounded by the simulator
alone. ``automatic`` is counted as a statevector: that is what Aer picks for most circuits.
"""

from __future__ import annotations

from executors.base import ExecutorSpec

BYTES_PER_AMPLITUDE = 16
GiB = 2**30

_STATEVECTOR = {"automatic", "statevector"}
_SQUARED = {"density_matrix", "unitary"}  # 4^n amplitudes
_DENSITY_DEVICES = {"default.mixed"}


def representation(spec: ExecutorSpec) -> tuple[str, int] | None:
    """``(name, exponent base)`` of the state ``spec`` simulates (2: statevector, 4: density matrix), or None."""
    if spec.kind == "local":
        method = str(spec.options.get("method") or "automatic")
        if method in _STATEVECTOR:
            return "statevector", 2
        if method in _SQUARED:
            return method.replace("_", " "), 4
        return None
    if spec.kind == "pennylane":
        return ("density matrix", 4) if spec.backend in _DENSITY_DEVICES else ("statevector", 2)
    return None


def memory_max_qubits(spec: ExecutorSpec, memory_bytes: int) -> int | None:
    """The most qubits whose state fits ``memory_bytes`` for ``spec``; None when memory is not the bound."""
    found = representation(spec)
    if found is None:
        return None
    qubits = 0
    while BYTES_PER_AMPLITUDE * found[1] ** (qubits + 1) <= memory_bytes:
        qubits += 1
    return qubits


def state_bytes(spec: ExecutorSpec, num_qubits: int) -> int | None:
    """Bytes the state of ``num_qubits`` takes for ``spec``; None when memory is not the bound."""
    found = representation(spec)
    return None if found is None else BYTES_PER_AMPLITUDE * found[1] ** num_qubits


def job_state_bytes(spec: ExecutorSpec, qubit_counts: list[int]) -> int | None:
    """Bytes the largest state of a job (its circuits' qubit counts) takes for ``spec``, or None."""
    return state_bytes(spec, max(qubit_counts)) if qubit_counts else None


def describe(num_bytes: int) -> str:
    if num_bytes >= GiB:
        return f"{num_bytes / GiB:.0f} GiB"
    if num_bytes >= 2**20:
        return f"{num_bytes / 2**20:.0f} MiB"
    return f"{max(1, round(num_bytes / 2**10))} KiB"


def memory_hint(spec: ExecutorSpec, num_qubits: int, memory_bytes: int) -> str:
    """Why ``num_qubits`` do not fit, and the way out (for the refusal's message)."""
    found = representation(spec)
    if found is None:
        return ""
    needed = BYTES_PER_AMPLITUDE * found[1] ** num_qubits
    way_out = (
        "use fewer qubits, or a profile with the matrix_product_state or stabilizer method"
        if spec.kind == "local"
        else "use fewer qubits, or a local profile with the matrix_product_state method"
    )
    return (
        f": a {num_qubits}-qubit {found[0]} needs about {describe(needed)}, and a simulator process may use "
        f"{describe(memory_bytes)} (QPORTAL_SIM_MEMORY_MB); {way_out}"
    )
