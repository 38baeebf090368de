"""A device's noisy twin, run before the device: the fidelity its noise predicts for a job.

:func:`predict` transpiles the circuits for ``backend`` as the job will be (same optimization level
and seed), computes each one's exact outcome distribution under the backend's noise model
(:func:`executors.compare.twin_noise_model`: a fake backend's own, else one built from the
backend's current calibration) and compares it with the ideal distribution: the Hellinger fidelity
the device should reach, with no shot noise in the prediction itself.
"""

from __future__ import annotations

from typing import Any

from qiskit import QuantumCircuit

from executors.compare import distance, noisy_probabilities, twin_noise_model
from executors.ideal import ideal_probabilities
from executors.runtime import transpile_to_isa

__all__ = ["MAX_PREDICTED_CIRCUITS", "predict"]

MAX_PREDICTED_CIRCUITS = 20  # each costs a density-matrix simulation


def predict(circuits: list[QuantumCircuit], backend: Any, optimization_level: int, seed: int | None) -> dict[str, Any]:
    """``{"backend", "predicted_fidelity" (mean over the circuits predicted, or None), "per_circuit"
    (a fidelity or None per circuit: too wide, mid-circuit measurements, beyond the first
    ``MAX_PREDICTED_CIRCUITS``), "method"}``.  Blocking."""
    chosen = circuits[:MAX_PREDICTED_CIRCUITS]
    isa = transpile_to_isa(chosen, backend, optimization_level, seed)
    model = twin_noise_model(backend)
    per_circuit: list[float | None] = []
    for original, transpiled in zip(chosen, isa, strict=True):
        exact = ideal_probabilities(original)
        noisy = noisy_probabilities(transpiled, model) if exact else None
        per_circuit.append(distance(exact, noisy, p_shots=None, q_shots=None).fidelity if exact and noisy else None)
    per_circuit += [None] * (len(circuits) - len(chosen))
    known = [f for f in per_circuit if f is not None]
    return {
        "backend": backend.name,
        "predicted_fidelity": sum(known) / len(known) if known else None,
        "predicted_fidelity_std": 0.0 if known else None,
        "per_circuit": per_circuit,
        "method": "exact density-matrix simulation of the transpiled circuits under the backend's noise model",
    }
