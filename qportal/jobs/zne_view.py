"""A circuit's zero-noise extrapolation outputs as its page shows them (``metadata["zne"]``,
:mod:`executors.mitigation`): per observable, the value at each noise factor and each
extrapolator's fit at each evaluation point, all with their standard errors."""

from __future__ import annotations

import numpy as np

from qportal.jobs.models import JobCircuit


def zne_table(circuit: JobCircuit) -> dict | None:
    """None for a circuit without ZNE outputs."""
    zne = (circuit.metadata or {}).get("zne") if isinstance(circuit.metadata, dict) else None
    if not zne or "evs_noise_factors" not in zne:
        return None
    factors = list(zne.get("noise_factors") or [])
    evs = np.asarray(zne["evs_noise_factors"], dtype=float)
    stds = np.asarray(zne.get("stds_noise_factors", np.zeros_like(evs)), dtype=float)
    evs, stds = evs.reshape(-1, evs.shape[-1]), stds.reshape(-1, evs.shape[-1])
    extrapolators = list(zne.get("extrapolators") or [])
    points = list(zne.get("extrapolated_noise_factors") or [])
    fitted = zne.get("evs_extrapolated")
    fitted_stds = zne.get("stds_extrapolated")
    if fitted is not None and extrapolators and points:
        fitted = np.asarray(fitted, dtype=float).reshape(-1, len(extrapolators), len(points))
        fitted_stds = np.asarray(fitted_stds if fitted_stds is not None else np.zeros(fitted.shape), dtype=float)
        fitted_stds = fitted_stds.reshape(fitted.shape)
    else:
        fitted = None
    observables = circuit.observables if isinstance(circuit.observables, list) else [circuit.observables]
    rows = []
    for i in range(len(evs)):
        fits = []
        if fitted is not None:
            for k, name in enumerate(extrapolators):
                fits.append({"extrapolator": name, "values": _pairs(fitted[i, k], fitted_stds[i, k])})
        label = observables[i] if i < len(observables) else f"#{i}"
        rows.append({"label": label, "at_factors": _pairs(evs[i], stds[i]), "fits": fits})
    return {"noise_factors": factors, "extrapolators": extrapolators, "points": points, "rows": rows}


def _pairs(values: np.ndarray, errors: np.ndarray) -> list[tuple[float, float]]:
    return list(zip(values.tolist(), errors.tolist(), strict=True))
