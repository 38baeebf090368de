"""How far apart two outcome distributions are, with the uncertainty finite shots leave.

A distribution is a dict from bitstring to a count (a sampled run: its total is the number of
shots) or to a probability (an exact one: ``shots=None``).  :func:`distance` gives the Hellinger
fidelity (``qiskit.quantum_info.hellinger_fidelity``'s definition, ``F = (sum_i sqrt(p_i q_i))^2``)
and the total variation distance (``TVD = 1/2 sum_i |p_i - q_i|``) with delta-method standard errors:

- ``B = sum_i sqrt(p_i q_i)``; a multinomial estimate ``p^ = n/N`` gives
  ``Var_p(B) ~= (sum_{i: p_i > 0} q_i - B^2) / (4 N)`` (first order in ``1/N``), the same for ``q``
  with its own shots, and ``sigma_F = 2 B sqrt(Var_p(B) + Var_q(B))``: an exact side adds nothing.
  The estimate of ``F`` is biased low by about ``2 B sum_i sqrt(q_i) (1 - p_i) / (8 N sqrt(p_i))``
  (and the same for ``q``): a few 1e-4 for four outcomes at 2,000 shots, a fifth of ``sigma_F``.
- ``sigma_TVD^2 = sum over sampled sides of (sum_i s_i^2 p_i - (sum_i s_i p_i)^2) / (4 N)`` with
  ``s_i = sign(p_i - q_i)``.  Near TVD = 0 (two samples of one distribution) the estimate is biased
  upward by about ``sqrt(outcomes / N)`` and this first-order error understates the spread.

:func:`noisy_probabilities` is the exact distribution a backend's noise model gives a transpiled
circuit (Aer density matrix plus the model's readout errors): what a fake backend's sampled counts
estimate, and the "twin" prediction of simulate-first.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np
from qiskit import QuantumCircuit

from executors.ideal import keyed_by_clbits

__all__ = [
    "Distance",
    "MAX_NOISY_QUBITS",
    "distance",
    "noisy_probabilities",
    "normalized",
    "pairwise",
    "twin_noise_model",
]

MAX_NOISY_QUBITS = 10  # a density matrix of 4^10 entries: about 16 MB
_NOT_FINAL = frozenset({"reset", "initialize", "if_else", "while_loop", "for_loop", "switch_case"})


@dataclass(frozen=True)
class Distance:
    """Two distributions compared; ``*_std`` are standard errors from the shots (0 when both exact)."""

    fidelity: float
    fidelity_std: float
    tvd: float
    tvd_std: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def normalized(distribution: dict[str, float]) -> dict[str, float]:
    total = float(sum(distribution.values()))
    if total <= 0:
        raise ValueError("a distribution needs a positive total")
    return {key: value / total for key, value in distribution.items() if value}


def distance(p: dict[str, float], q: dict[str, float], *, p_shots: int | None, q_shots: int | None) -> Distance:
    """Compare ``p`` and ``q`` (counts or probabilities); ``*_shots`` is None for an exact side."""
    p, q = normalized(p), normalized(q)
    keys = sorted(set(p) | set(q))
    pv = np.array([p.get(k, 0.0) for k in keys])
    qv = np.array([q.get(k, 0.0) for k in keys])
    overlap = float(np.sum(np.sqrt(pv * qv)))
    tvd = 0.5 * float(np.sum(np.abs(pv - qv)))
    var_b = 0.0
    var_t = 0.0
    sign = np.sign(pv - qv)
    for mine, other, shots, s in ((pv, qv, p_shots, sign), (qv, pv, q_shots, -sign)):
        if shots is None:
            continue
        var_b += max(float(np.sum(other[mine > 0])) - overlap**2, 0.0) / (4 * shots)
        var_t += max(float(np.sum(s**2 * mine)) - float(np.sum(s * mine)) ** 2, 0.0) / (4 * shots)
    return Distance(
        fidelity=overlap**2,
        fidelity_std=2 * overlap * math.sqrt(var_b),
        tvd=tvd,
        tvd_std=math.sqrt(var_t),
    )


def pairwise(runs: dict[str, tuple[dict[str, float], int | None]]) -> list[dict[str, Any]]:
    """Every pair of named runs (``{"ideal": (counts, shots), ...}``, in the dict's order) compared:
    ``[{"a", "b", "fidelity", "fidelity_std", "tvd", "tvd_std"}, ...]``; runs without data are skipped."""
    present = [(name, run) for name, run in runs.items() if run[0]]
    rows = []
    for (a, (pa, na)), (b, (pb, nb)) in combinations(present, 2):
        rows.append({"a": a, "b": b, **distance(pa, pb, p_shots=na, q_shots=nb).as_dict()})
    return rows


def twin_noise_model(backend):
    """The noise model of ``backend``'s noisy twin: a fake backend's own (what its ``run`` simulates
    with, built from its stored properties), else ``NoiseModel.from_backend`` over its target (a
    cloud backend's current calibration).  The two differ for one fake backend (thermal relaxation
    and gate errors are read from different records), so a fake run is compared with its own."""
    from qiskit_aer.noise import NoiseModel

    own = getattr(backend, "_get_noise_model_from_backend_v2", None)
    if own is not None:
        return own()
    return NoiseModel.from_backend(backend)


def _final_measurements(circuit: QuantumCircuit) -> dict[int, int] | None:
    """clbit -> qubit of a circuit whose measurements all come last, else None."""
    measured: dict[int, int] = {}
    done: set[int] = set()
    for instruction in circuit.data:
        name = instruction.operation.name
        qubits = [circuit.find_bit(q).index for q in instruction.qubits]
        if name == "measure":
            measured[circuit.find_bit(instruction.clbits[0]).index] = qubits[0]
            done.add(qubits[0])
        elif name in _NOT_FINAL or instruction.clbits or (name != "barrier" and done.intersection(qubits)):
            return None
    return measured or None


def noisy_probabilities(circuit: QuantumCircuit, noise_model) -> dict[str, float] | None:
    """The exact outcome distribution of an ISA ``circuit`` under ``noise_model``
    (``qiskit_aer.noise.NoiseModel``), keyed like a sampler's counts; None when it measures before
    its end, has unbound parameters or acts on more than ``MAX_NOISY_QUBITS`` qubits."""
    from qiskit_aer import AerSimulator

    measured = _final_measurements(circuit)
    if measured is None or circuit.num_parameters:
        return None
    with warnings.catch_warnings():  # an ISA circuit's layout: Qiskit warns, the qubits stay as they are
        warnings.filterwarnings("ignore", message="Trying to add QuantumRegister", category=UserWarning)
        body = circuit.remove_final_measurements(inplace=False)
    active = {body.find_bit(q).index for instruction in body.data for q in instruction.qubits}
    active |= set(measured.values())
    if len(active) > MAX_NOISY_QUBITS:
        return None
    clbits = sorted(measured)
    targets = [measured[c] for c in clbits]
    body.save_probabilities(qubits=targets)  # index bit k is targets[k]
    simulator = AerSimulator(method="density_matrix", noise_model=noise_model)
    probabilities = np.asarray(simulator.run(body).result().data()["probabilities"], dtype=float)
    tensor = probabilities.reshape([2] * len(targets))  # axis j is bit len-1-j
    for k, qubit in enumerate(targets):
        error = noise_model._local_readout_errors.get((qubit,), noise_model._default_readout_error)
        if error is None:
            continue
        confusion = np.asarray(error.probabilities)  # row: prepared, column: read
        axis = len(targets) - 1 - k
        tensor = np.moveaxis(np.tensordot(tensor, confusion, axes=([axis], [0])), -1, axis)
    probabilities = tensor.reshape(-1)
    return keyed_by_clbits(probabilities, clbits, circuit.num_clbits, 1e-15)
