"""A backend as its page and ``GET /api/v1/backends/{name}?profile=`` show it.

A fake backend is read from qiskit-ibm-runtime's stored snapshot in this process; a cloud
backend from what the worker last recorded (``qportal.jobs.device_refresh``: its calibration in a
``Calibration`` row, its queue in the credential's backend list), so a request never waits on IBM.
The user must be able to use the profile, and the backend must be one the profile reaches.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from executors.base import InvalidRequest
from executors.device import backend_info, qubit_coordinates
from qportal.accounts.access import NotFound
from qportal.jobs import calibrations
from qportal.profiles.backends import backends_for
from qportal.profiles.models import ProfileKind
from qportal.profiles.services import resolve_profile

# What a map can be coloured by: (key in a qubit's record, label, unit scale, unit, higher is better).
COLOURINGS = {
    "t1": ("T1", 1e6, "µs", True),
    "t2": ("T2", 1e6, "µs", True),
    "readout_error": ("readout error", 1.0, "", False),
    "sx_error": ("sx error", 1.0, "", False),
}


def device_info(user, name: str, profile_name: str) -> dict[str, Any]:
    """``executors.device.backend_info`` of backend ``name`` as profile ``profile_name`` reaches it,
    with ``profile`` and ``source`` (``"fake"`` or ``"cloud"``).  NotFound for a profile the user
    cannot use, a backend it does not reach, or a cloud backend not refreshed yet."""
    profile = resolve_profile(user, profile_name)
    listed = {b["name"]: b for b in backends_for(profile)["backends"]}
    if profile.kind == ProfileKind.FAKE:
        if name not in listed:
            raise NotFound(f"profile {profile.name!r} does not reach a backend {name!r}")
        from executors.fake_backend import fake_backend

        try:
            info = backend_info(fake_backend(name))
        except InvalidRequest as exc:
            raise NotFound(str(exc)) from None
        return {**info, "profile": profile.name, "source": "fake"}
    if profile.kind == ProfileKind.IBM_CLOUD:
        if name not in listed:
            raise NotFound(
                f"profile {profile.name!r} does not reach a backend {name!r} "
                "(its credential's backends are listed by the worker's check)"
            )
        row = calibrations.latest(name)
        if row is None:
            raise NotFound(
                f"no calibration of {name!r} recorded yet; the worker refreshes cloud backends "
                f"every {settings.BACKEND_REFRESH_SECONDS} s"
            )
        return {
            "name": name,
            **row.data,
            "pending_jobs": listed[name].get("pending_jobs"),
            "profile": profile.name,
            "source": "cloud",
        }
    raise NotFound(f"profile {profile.name!r} ({profile.kind}) runs on no device with a calibration")


def map_view(info: dict[str, Any], colour_by: str, highlight: frozenset[int] = frozenset()) -> dict[str, Any]:
    """What the SVG map template draws: nodes (position, colour, value shown) and edges (with their
    two-qubit gate error), coloured by ``colour_by`` (a key of ``COLOURINGS``)."""
    key = colour_by if colour_by in COLOURINGS else "t1"
    label, scale, unit, higher_better = COLOURINGS[key]
    width, height, margin = 640, 360, 40
    xy = qubit_coordinates(info["num_qubits"], info["coupling_map"])
    if all(y == xy[0][1] for _, y in xy):  # a row: no need for the height
        height = 160
    positions = [(margin + x * (width - 2 * margin), margin + y * (height - 2 * margin)) for x, y in xy]
    values = [q.get(key) for q in info["qubits"]]
    known = [v for v in values if v is not None]
    low, high = (min(known), max(known)) if known else (0.0, 0.0)
    nodes = []
    for qubit, ((x, y), value) in enumerate(zip(positions, values, strict=True)):
        if value is None:
            fill = "#bbbbbb"
        else:
            share = 0.5 if high == low else (value - low) / (high - low)
            fill = _colour(share if higher_better else 1 - share)
        shown = "n/a" if value is None else (f"{value * scale:.1f}" if unit else f"{value:.4f}")
        nodes.append(
            {
                "qubit": qubit,
                "x": round(x, 1),
                "y": round(y, 1),
                "fill": fill,
                "value": shown,
                "raw": value,
                "highlight": qubit in highlight,
            }
        )
    errors: dict[tuple[int, int], float | None] = {}
    for gate in info["gates"]:
        if len(gate["qubits"]) == 2:
            a, b = sorted(gate["qubits"])
            current = errors.get((a, b))
            if gate["error"] is not None and (current is None or gate["error"] < current):
                errors[(a, b)] = gate["error"]
            else:
                errors.setdefault((a, b), current)
    edges = []
    for a, b in sorted({tuple(sorted(edge)) for edge in info["coupling_map"]}):
        (x1, y1), (x2, y2) = positions[a], positions[b]
        error = errors.get((a, b))
        edges.append(
            {
                "a": a,
                "b": b,
                "x1": round(x1, 1),
                "y1": round(y1, 1),
                "x2": round(x2, 1),
                "y2": round(y2, 1),
                "mx": round((x1 + x2) / 2, 1),
                "my": round((y1 + y2) / 2 - 6, 1),
                "error": None if error is None else f"{error:.4f}",
            }
        )
    return {
        "width": width,
        "height": height,
        "nodes": nodes,
        "edges": edges,
        "key": key,
        "label": label,
        "unit": unit,
        "small": info["num_qubits"] <= 30,
    }


def _colour(goodness: float) -> str:
    """Red (bad) through yellow to green (good), for ``goodness`` in [0, 1]."""
    goodness = min(max(goodness, 0.0), 1.0)
    red = int(220 if goodness < 0.5 else 220 - (goodness - 0.5) * 2 * 180)
    green = int(60 + goodness * 2 * 140 if goodness < 0.5 else 200)
    return f"#{red:02x}{green:02x}50"
