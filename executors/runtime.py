"""Qiskit Runtime job building shared by the fake-backend and IBM cloud executors.

Both paths transpile to the backend's ISA (:func:`transpile_to_isa`, :func:`check_isa`); the cloud
path builds IBM's SamplerV2/EstimatorV2 options with :func:`cloud_options` (the fake backends apply
what local testing mode can: :mod:`executors.fake_backend`).
"""

from __future__ import annotations

from typing import Any

from qiskit import QuantumCircuit
from qiskit.providers import BackendV2
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime.utils.utils import is_isa_circuit

from executors.base import InvalidRequest, Primitive
from executors.job_options import precision_of
from executors.options import runtime_options

__all__ = ["DEFAULT_OPTIMIZATION_LEVEL", "check_isa", "cloud_options", "transpile_to_isa"]

DEFAULT_OPTIMIZATION_LEVEL = 2


def transpile_to_isa(
    circuits: list[QuantumCircuit], backend: BackendV2, optimization_level: int, seed: int | None = None
) -> list[QuantumCircuit]:
    """Circuits rewritten for ``backend``'s instruction set and coupling map.

    A circuit the device cannot express (too wide, an unsupported operation) raises
    :class:`InvalidRequest` naming the circuit.
    """
    pass_manager = generate_preset_pass_manager(
        backend=backend, optimization_level=optimization_level, seed_transpiler=seed
    )
    isa = []
    for index, circuit in enumerate(circuits):
        try:
            isa.append(pass_manager.run(circuit))
        except Exception as exc:  # noqa: BLE001 - TranspilerError and friends
            raise InvalidRequest(
                f"circuit {index} cannot be transpiled for {backend.name}: {exc}", index=index
            ) from exc
    return isa


def check_isa(circuits: list[QuantumCircuit], backend: BackendV2) -> None:
    """Raise :class:`InvalidRequest` for a circuit that is not already in ``backend``'s ISA."""
    for index, circuit in enumerate(circuits):
        problem = is_isa_circuit(circuit, backend.target)
        if problem:
            raise InvalidRequest(
                f"circuit {index} does not match {backend.name}'s instruction set ({problem}); "
                "turn on local transpilation or transpile it first",
                index=index,
            )


def cloud_options(
    primitive: Primitive, options: dict[str, Any], *, shots: int, tags: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """The ``options`` for a qiskit-ibm-runtime SamplerV2/EstimatorV2 on IBM's service, and the
    dotted paths of the fields this primitive has no use for (left out).

    ``options`` are the job's merged over its profile's (:func:`executors.job_options.effective_options`);
    they go as given (:func:`executors.options.runtime_options`), with what the portal decides:
    ``default_shots`` (unless an estimator job runs by ``default_precision``), the portal's ``seed``
    as ``simulator.seed_simulator`` (and ``seed_estimator``) when those are not given, and
    ``environment.job_tags``: ``tags`` (the submit key first) followed by the user's own.
    """
    sent, dropped = runtime_options(primitive, options)
    if precision_of(primitive, options) is None:
        sent["default_shots"] = int(shots)
    seed = options.get("seed")
    if seed is not None:
        sent.setdefault("simulator", {}).setdefault("seed_simulator", int(seed))
        if primitive == "estimator":
            sent.setdefault("seed_estimator", int(seed))
    environment = sent.setdefault("environment", {})
    environment["job_tags"] = list(dict.fromkeys([*tags, *(environment.get("job_tags") or [])]))
    return sent, dropped
