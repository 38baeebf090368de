"""Choosing a backend for a job: a profile whose backend is ``"auto"``.

Among the candidate backends with enough qubits for every circuit, :func:`choose_backend` picks

- ``"least_busy"``: the shortest queue, ``backend.status().pending_jobs`` (non-operational
  backends are left out);
- ``"least_noisy"``: the highest estimated success probability of the circuits transpiled for it
  (:func:`estimated_success`), averaged over the job's circuits.

Ties are broken by name, so the same backends, calibration and circuits always give the same
choice.  The answer says why (``Choice.reason``) and lists every candidate's score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from qiskit import QuantumCircuit

from executors.base import InvalidRequest

__all__ = [
    "AUTO",
    "CRITERIA",
    "Choice",
    "auto_max_qubits",
    "choose_backend",
    "criterion_of",
    "estimated_success",
    "fake_candidates",
]

AUTO = "auto"
CRITERIA = ("least_busy", "least_noisy")
DEFAULT_CRITERION = "least_busy"
# "least_noisy" over every fake backend would transpile for some sixty devices: without an explicit
# list (the profile's ``auto_backends`` option) it looks at the smallest ones that fit.
DEFAULT_FAKE_CANDIDATES = 8
_FREE = frozenset({"barrier", "delay"})


@dataclass
class Choice:
    """The backend chosen, by which criterion, why, and every candidate's score."""

    backend: str
    criterion: str
    reason: str
    candidates: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimated_success(circuit: QuantumCircuit, target) -> float:
    """The product over an ISA circuit's instructions of ``1 - error`` of each instruction on its
    qubits, as ``target`` (``backend.target``, its ``InstructionProperties``) gives it; a measurement's
    error is the qubit's readout error, so its factor is the readout fidelity.  An instruction with no
    recorded error counts as perfect."""
    success = 1.0
    for instruction in circuit.data:
        name = instruction.operation.name
        if name in _FREE or name not in target.operation_names:
            continue
        qubits = tuple(circuit.find_bit(q).index for q in instruction.qubits)
        properties = target[name].get(qubits)
        error = getattr(properties, "error", None)
        if error is not None:
            success *= max(0.0, 1.0 - float(error))
    return success


def choose_backend(
    backends: Sequence[Any],
    circuits: Sequence[QuantumCircuit],
    criterion: str,
    *,
    transpile: Callable[[list[QuantumCircuit], Any], list[QuantumCircuit]] | None = None,
) -> Choice:
    """Pick among ``backends`` (BackendV2 objects) for ``circuits``.

    ``transpile(circuits, backend)`` makes the ISA circuits for ``"least_noisy"`` (use the job's own
    optimization level and seed, so the estimate is of what would run).
    """
    if criterion not in CRITERIA:
        raise InvalidRequest(f"auto_criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    needed = max((c.num_qubits for c in circuits), default=0)
    fitting = sorted((b for b in backends if b.num_qubits >= needed), key=lambda b: b.name)
    if not fitting:
        names = ", ".join(sorted(b.name for b in backends)) or "none"
        raise InvalidRequest(f"no candidate backend has the {needed} qubits the job needs (candidates: {names})")
    rows: list[dict[str, Any]] = []
    if criterion == "least_busy":
        for backend in fitting:
            status = backend.status()
            rows.append(
                {
                    "name": backend.name,
                    "num_qubits": backend.num_qubits,
                    "pending_jobs": int(status.pending_jobs),
                    "operational": bool(status.operational),
                }
            )
        ranked = sorted((r for r in rows if r["operational"]), key=lambda r: (r["pending_jobs"], r["name"]))
        if not ranked:
            raise InvalidRequest("no candidate backend is operational")
        best = ranked[0]
        reason = f"least busy: {best['name']} has {best['pending_jobs']} pending job(s)" + _others(
            ranked, lambda r: f"{r['pending_jobs']}"
        )
    else:
        if transpile is None:
            raise InvalidRequest("least_noisy needs a transpile function")
        for backend in fitting:
            isa = transpile(list(circuits), backend)
            scores = [estimated_success(c, backend.target) for c in isa]
            rows.append(
                {
                    "name": backend.name,
                    "num_qubits": backend.num_qubits,
                    "estimated_success": sum(scores) / len(scores) if scores else 1.0,
                    "per_circuit": scores,
                }
            )
        ranked = sorted(rows, key=lambda r: (-round(r["estimated_success"], 12), r["name"]))
        best = ranked[0]
        reason = (
            f"least noisy: {best['name']} has the highest estimated success probability "
            f"{best['estimated_success']:.4f} (mean over {len(circuits)} circuit(s))"
            + _others(ranked, lambda r: f"{r['estimated_success']:.4f}")
        )
    if len(ranked) > 1 and _key(criterion, ranked[0]) == _key(criterion, ranked[1]):
        reason += "; tie broken by name"
    return Choice(backend=best["name"], criterion=criterion, reason=reason, candidates=ranked)


def _key(criterion: str, row: dict[str, Any]) -> Any:
    return row["pending_jobs"] if criterion == "least_busy" else round(row["estimated_success"], 12)


def _others(ranked: list[dict[str, Any]], show: Callable[[dict[str, Any]], str], limit: int = 4) -> str:
    others = ranked[1 : 1 + limit]
    if not others:
        return ""
    more = len(ranked) - 1 - len(others)
    text = ", ".join(f"{r['name']} {show(r)}" for r in others)
    return f" (then {text}{f', {more} more' if more else ''})"


def fake_candidates(options: dict[str, Any], needed_qubits: int) -> list[str]:
    """The fake backends an ``"auto"`` fake profile chooses among: its ``auto_backends`` option, or
    every fake backend with enough qubits (``least_busy``), or the ``DEFAULT_FAKE_CANDIDATES``
    smallest of them (``least_noisy``: each candidate costs a transpilation)."""
    from executors.fake_backend import list_fake_backends

    listed = options.get("auto_backends")
    if listed:
        return sorted(set(listed))
    fitting = [b for b in list_fake_backends() if b["num_qubits"] >= needed_qubits]
    if criterion_of(options) == "least_noisy":
        fitting = sorted(fitting, key=lambda b: (b["num_qubits"], b["name"]))[:DEFAULT_FAKE_CANDIDATES]
    return sorted(b["name"] for b in fitting)


def criterion_of(options: dict[str, Any]) -> str:
    return options.get("auto_criterion") or DEFAULT_CRITERION


def auto_max_qubits(options: dict[str, Any]) -> int | None:
    """The most qubits an ``"auto"`` fake profile can reach: its largest candidate's."""
    from executors.fake_backend import fake_backend_qubits, list_fake_backends

    listed = options.get("auto_backends")
    if listed:
        return max(fake_backend_qubits(name) for name in listed)
    sizes = [b["num_qubits"] for b in list_fake_backends()]
    return max(sizes) if sizes else None
