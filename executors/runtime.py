"""Qiskit Runtime job building shared by the fake-backend and IBM cloud executors.

Both paths transpile to the backend's ISA (:func:`transpile_to_isa`, :func:`check_isa`) and turn
profile options into SamplerV2/EstimatorV2 options (:func:`make_options`) the same way, so a
profile behaves alike on a fake backend and on the device it imitates.
"""

from __future__ import annotations

from typing import Any

from qiskit import QuantumCircuit
from qiskit.providers import BackendV2
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime.utils.utils import is_isa_circuit

from executors.base import InvalidRequest, Primitive

__all__ = ["CLOUD_ONLY_OPTIONS", "DEFAULT_OPTIMIZATION_LEVEL", "check_isa", "make_options", "transpile_to_isa"]

CLOUD_ONLY_OPTIONS = ("resilience_level", "dynamical_decoupling", "twirling", "max_execution_time")
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


def make_options(
    spec_options: dict[str, Any],
    primitive: Primitive,
    *,
    local: bool,
    default_shots: int | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """The ``options`` dict for a qiskit-ibm-runtime SamplerV2/EstimatorV2 from profile options.

    ``local`` leaves out what local testing mode cannot honour (see ``CLOUD_ONLY_OPTIONS``).
    ``dynamical_decoupling`` and ``twirling`` accept True/False or a dict of Qiskit's own fields.
    """
    options: dict[str, Any] = {}
    if default_shots is not None:
        options["default_shots"] = int(default_shots)
    seed = spec_options.get("seed")
    if seed is not None:
        options["simulator"] = {"seed_simulator": int(seed)}
        if primitive == "estimator" and not local:
            options["seed_estimator"] = int(seed)
    if local:
        return options
    if primitive == "estimator" and spec_options.get("resilience_level") is not None:
        options["resilience_level"] = int(spec_options["resilience_level"])
    decoupling = spec_options.get("dynamical_decoupling")
    if decoupling is not None:
        options["dynamical_decoupling"] = decoupling if isinstance(decoupling, dict) else {"enable": bool(decoupling)}
    twirling = spec_options.get("twirling")
    if twirling is not None:
        options["twirling"] = (
            twirling
            if isinstance(twirling, dict)
            else {"enable_gates": bool(twirling), "enable_measure": bool(twirling)}
        )
    if spec_options.get("max_execution_time") is not None:
        options["max_execution_time"] = int(spec_options["max_execution_time"])
    if tags:
        options["environment"] = {"job_tags": list(tags)}
    return options
