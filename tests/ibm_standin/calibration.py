"""Recalibrating a stand-in backend: the properties it serves change, as a device's do each day.

``recalibrate(standin, "ibm_manila", scale=0.5)`` serves the fake backend's stored properties
with every T1, T2 and error rate multiplied by ``scale`` and ``last_update_date`` set to now (or
``when``); the client sees them after ``backend.refresh()`` or on a new backend object.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCALED_QUBIT = {"T1", "T2", "readout_error", "prob_meas0_prep1", "prob_meas1_prep0"}


def recalibrate(standin: Any, name: str, *, scale: float, when: datetime | None = None) -> dict[str, Any]:
    """Serve ``name``'s properties scaled by ``scale``, dated ``when`` (default now); returns them."""
    fake = standin._fake(name)
    data = json.loads((Path(fake.dirname) / fake.props_filename).read_text())
    data["backend_name"] = name
    stamp = (when or datetime.now(UTC)).isoformat()
    data["last_update_date"] = stamp
    for qubit in data["qubits"]:
        for item in qubit:
            if item["name"] in _SCALED_QUBIT:
                scaled = item["value"] * scale
                item["value"] = scaled if item["name"] in ("T1", "T2") else min(scaled, 1.0)
            item["date"] = stamp
    for gate in data["gates"]:
        for item in gate["parameters"]:
            if item["name"] == "gate_error":
                item["value"] = min(item["value"] * scale, 1.0)
            item["date"] = stamp
    standin.calibrations[name] = data
    return data
