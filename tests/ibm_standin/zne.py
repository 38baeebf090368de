"""Zero-noise extrapolation as the stand-in runs it: the estimator results IBM's service returns
when ``resilience.zne_mitigation`` is on (or ``resilience_level`` 2).

Noise is amplified by folding two-qubit gates (``G -> G (G^-1 G)^k``), as qiskit-ibm-runtime's
``gate_folding`` amplifier does; with the stand-in's noise off every factor sees the same ideal
state, so only shot noise separates them.  Each PUB's data holds what the real service documents
(``ZneOptions``): ``evs_noise_factors``, ``stds_noise_factors``, ``ensemble_stds_noise_factors``
(shape ``(*shape, len(noise_factors))``), ``evs_extrapolated`` and ``stds_extrapolated`` (shape
``(*shape, len(extrapolators), len(extrapolated_noise_factors))``), and ``evs``/``stds`` from the
first extrapolator at zero noise; ``metadata["resilience"]["zne"]`` names the noise factors, the
extrapolators and the evaluation points.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import BackendEstimatorV2, DataBin, PrimitiveResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit_ibm_runtime.utils.estimator_pub_result import EstimatorPubResult

DEFAULT_NOISE_FACTORS = (1, 3, 5)
DEFAULT_EXTRAPOLATORS = ("exponential", "linear")


def wants_zne(params: dict[str, Any]) -> bool:
    resilience = (params.get("options") or {}).get("resilience") or {}
    if "zne_mitigation" in resilience:
        return bool(resilience["zne_mitigation"])
    return params.get("resilience_level") == 2


def fold(circuit: QuantumCircuit, factor: float) -> QuantumCircuit:
    """``circuit`` with its two-qubit gates folded so their count grows by about ``factor``."""
    two_qubit = [i for i, item in enumerate(circuit.data) if item.operation.num_qubits == 2 and _foldable(item)]
    folds = round((factor - 1) / 2 * len(two_qubit))
    per_gate = {index: folds // len(two_qubit) + (n < folds % len(two_qubit)) for n, index in enumerate(two_qubit)}
    folded = circuit.copy_empty_like()
    for index, item in enumerate(circuit.data):
        folded.append(item)
        for _ in range(per_gate.get(index, 0)):
            folded.append(item.replace(operation=item.operation.inverse()))
            folded.append(item)
    return folded


def _foldable(item: Any) -> bool:
    return item.operation.name not in ("measure", "barrier", "reset") and not item.clbits


def run(simulator: Any, pubs: list[Any], options: dict[str, Any], precision: float) -> PrimitiveResult:
    zne = (options.get("resilience") or {}).get("zne") or {}
    factors = [float(f) for f in zne.get("noise_factors") or DEFAULT_NOISE_FACTORS]
    extrapolators = zne.get("extrapolator") or DEFAULT_EXTRAPOLATORS
    extrapolators = [extrapolators] if isinstance(extrapolators, str) else list(extrapolators)
    points = [float(x) for x in zne.get("extrapolated_noise_factors") or [0, *factors]]
    estimator = BackendEstimatorV2(backend=simulator, options={"default_precision": precision})
    results = []
    for raw in pubs:
        pub = EstimatorPub.coerce(tuple(raw))
        folded = [
            EstimatorPub(fold(pub.circuit, f), pub.observables, pub.parameter_values, pub.precision) for f in factors
        ]
        runs = list(estimator.run(folded).result())
        evs_nf = np.stack([np.asarray(r.data.evs, dtype=float) for r in runs], axis=-1)
        stds_nf = np.stack([np.asarray(r.data.stds, dtype=float) for r in runs], axis=-1)
        fits = [_extrapolate(name, factors, evs_nf, stds_nf, points) for name in extrapolators]
        evs_ext = np.stack([f[0] for f in fits], axis=-2)
        stds_ext = np.stack([f[1] for f in fits], axis=-2)
        at_zero = [_extrapolate(name, factors, evs_nf, stds_nf, [0.0]) for name in extrapolators[:1]][0]
        data = DataBin(
            evs=at_zero[0][..., 0],
            stds=at_zero[1][..., 0],
            evs_noise_factors=evs_nf,
            stds_noise_factors=stds_nf,
            ensemble_stds_noise_factors=stds_nf.copy(),
            evs_extrapolated=evs_ext,
            stds_extrapolated=stds_ext,
            shape=pub.shape,
        )
        metadata = {
            "target_precision": precision,
            "shots": math.ceil(1 / precision**2),
            "resilience": {
                "zne": {"noise_factors": factors, "extrapolators": extrapolators, "extrapolated_noise_factors": points}
            },
        }
        results.append(EstimatorPubResult(data=data, metadata=metadata))
    return PrimitiveResult(results, metadata={"version": 2})


def _extrapolate(
    name: str, factors: list[float], evs: np.ndarray, stds: np.ndarray, points: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    """The fit ``name`` of each element's values over ``factors``, evaluated at ``points``: values
    and their standard errors, each of shape ``(*evs.shape[:-1], len(points))``."""
    x = np.asarray(factors)
    flat_evs = evs.reshape(-1, len(factors))
    flat_stds = np.maximum(stds.reshape(-1, len(factors)), 1e-12)
    values = np.empty((len(flat_evs), len(points)))
    errors = np.empty_like(values)
    for row, (y, s) in enumerate(zip(flat_evs, flat_stds, strict=True)):
        values[row], errors[row] = _fit(name, x, y, s, np.asarray(points))
    shape = (*evs.shape[:-1], len(points))
    return values.reshape(shape), errors.reshape(shape)


def _fit(name: str, x: np.ndarray, y: np.ndarray, s: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if name == "fallback":
        lowest = int(np.argmin(x))
        return np.full(len(at), y[lowest]), np.full(len(at), s[lowest])
    if name in ("exponential", "double_exponential") and (np.all(y > 0) or np.all(y < 0)):
        sign = np.sign(y[0])
        log_values, log_errors = _polynomial(x, np.log(np.abs(y)), s / np.abs(y), at, 1)
        values = sign * np.exp(log_values)
        return values, np.abs(values) * log_errors
    degree = 1 if name in ("linear", "exponential", "double_exponential") else int(name.rsplit("_", 1)[-1])
    return _polynomial(x, y, s, at, degree)


def _polynomial(
    x: np.ndarray, y: np.ndarray, s: np.ndarray, at: np.ndarray, degree: int
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of degree ``min(degree, len(x) - 1)``, values and errors at ``at``."""
    degree = min(degree, len(x) - 1)
    design = np.vander(x, degree + 1)
    weights = 1 / s
    coefficients, *_ = np.linalg.lstsq(design * weights[:, None], y * weights, rcond=None)
    covariance = np.linalg.pinv((design * weights[:, None]).T @ (design * weights[:, None]))
    evaluate = np.vander(at, degree + 1)
    values = evaluate @ coefficients
    errors = np.sqrt(np.einsum("ij,jk,ik->i", evaluate, covariance, evaluate))
    return values, errors
