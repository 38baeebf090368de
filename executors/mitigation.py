"""What an estimator's error mitigation returns beyond ``evs`` and ``stds``.

With zero-noise extrapolation on, IBM's estimator adds to each PUB's data the expectation values at
every noise factor (``evs_noise_factors``, ``stds_noise_factors``, ``ensemble_stds_noise_factors``)
and every extrapolator's fit at the evaluation points (``evs_extrapolated``, ``stds_extrapolated``),
and names them in ``metadata["resilience"]["zne"]`` (qiskit-ibm-runtime's ``ZneOptions``).
:func:`zne_outputs` keeps all of it, arrays as nested lists with their shapes, for
``CircuitResult.metadata["zne"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ZNE_DATA_FIELDS", "zne_outputs"]

ZNE_DATA_FIELDS = (
    "evs_noise_factors",
    "stds_noise_factors",
    "ensemble_stds_noise_factors",
    "evs_extrapolated",
    "stds_extrapolated",
)
ZNE_METADATA_FIELDS = ("noise_factors", "extrapolators", "extrapolated_noise_factors")


def zne_outputs(pub_result: Any) -> dict[str, Any] | None:
    """The PUB result's ZNE data and metadata (None without any): ``noise_factors``,
    ``extrapolators``, ``extrapolated_noise_factors`` and the arrays of :data:`ZNE_DATA_FIELDS`."""
    data = pub_result.data
    arrays = {name: np.asarray(data[name], dtype=float).tolist() for name in ZNE_DATA_FIELDS if name in data}
    if not arrays:
        return None
    described = ((pub_result.metadata or {}).get("resilience") or {}).get("zne") or {}
    names = {name: _plain(described[name]) for name in ZNE_METADATA_FIELDS if name in described}
    return {**names, **arrays}


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    return float(value) if isinstance(value, (int, float, np.number)) else str(value)
