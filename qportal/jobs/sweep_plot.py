"""A swept estimator PUB's expectation values against its swept parameter, as server-drawn SVG.

One parameter swept (the other parameters, if any, the same in every binding): x is its values,
each expectation value a point with an error bar of one standard error either side; an
observables array of shape (M, 1) against the N bindings gives M series.  Drawn by the
``jobs/_sweep_plot.html`` template from the coordinates computed here: no JavaScript.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from executors.base import InvalidRequest
from executors.sweeps import is_swept, observable_labels, values_array

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40  # margins around the plot box
TICKS = 5
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bf8700")


def nice_ticks(low: float, high: float, count: int = TICKS) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) inside ``low`` .. ``high``."""
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    ticks = [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]
    return [0.0 if abs(t) < step * 1e-9 else t for t in ticks]


def swept_array(circuit, parsed) -> np.ndarray | None:
    """A swept circuit's parameter values (the bindings' shape, then one axis of parameters in
    ``parsed.parameters`` order), or None when it is not swept or its values do not read."""
    if isinstance(parsed, str) or not is_swept(parsed, circuit.parameter_values):
        return None
    try:
        return values_array(parsed, circuit.parameter_values, circuit.index)
    except InvalidRequest:
        return None


def swept_values(circuit, parsed) -> tuple[str, np.ndarray] | None:
    """(name, values) of the one parameter the circuit's bindings sweep (a 1-D sweep), or None."""
    array = swept_array(circuit, parsed)
    if array is None or array.ndim != 2:
        return None
    varying = [column for column in range(array.shape[1]) if np.ptp(array[:, column]) > 0]
    if len(varying) != 1 and array.shape[1] != 1:
        return None
    column = varying[0] if varying else 0
    return parsed.parameters[column].name, array[:, column]


def sweep_parameters(circuit, parsed) -> list[tuple[str, str]] | None:
    """The parameters block of a swept circuit: each parameter's range; None when not swept."""
    array = swept_array(circuit, parsed)
    if array is None:
        return None
    flat = array.reshape(-1, array.shape[-1])
    shape = "×".join(str(n) for n in array.shape[:-1])
    rows = []
    for column, parameter in enumerate(parsed.parameters):
        low, high = float(flat[:, column].min()), float(flat[:, column].max())
        text = f"{low:.4g}" if low == high else f"{low:.4g} … {high:.4g}"
        rows.append((parameter.name, f"{text} ({shape} bindings)"))
    return rows


def sweep_plot(circuit, parsed) -> dict[str, Any] | None:
    """The plot's coordinates, or None when the circuit is not a 1-D estimator sweep with results."""
    if not circuit.done or circuit.shape is None or not circuit.evs:
        return None
    swept = swept_values(circuit, parsed)
    if swept is None:
        return None
    name, xs = swept
    shape = tuple(circuit.shape)
    if len(circuit.evs) != math.prod(shape) or not shape or shape[-1] != len(xs):
        return None
    evs = np.asarray(circuit.evs, dtype=float).reshape(-1, len(xs))
    stds = np.asarray(circuit.stds or [0.0] * len(circuit.evs), dtype=float).reshape(-1, len(xs))
    if len(evs) > len(COLOURS):
        return None
    low, high = float(np.min(evs - stds)), float(np.max(evs + stds))
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    pad = 0.05 * (high - low)
    y_min, y_max = low - pad, high + pad
    x_min, x_max = float(xs.min()), float(xs.max())
    if x_max == x_min:
        x_min, x_max = x_min - 1, x_max + 1
    box_w, box_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x_min) / (x_max - x_min) * box_w

    def py(y: float) -> float:
        return TOP + (y_max - y) / (y_max - y_min) * box_h

    labels = observable_labels(circuit.observables, len(circuit.evs), shape)
    series = []
    for row, colour in zip(range(len(evs)), COLOURS, strict=False):
        points = [
            {
                "x": x,
                "ev": ev,
                "std": std,
                "cx": px(x),
                "cy": py(ev),
                "y_low": py(ev - std),
                "y_high": py(ev + std),
            }
            for x, ev, std in zip(xs.tolist(), evs[row].tolist(), stds[row].tolist(), strict=True)
        ]
        line = " ".join(f"{p['cx']:.2f},{p['cy']:.2f}" for p in points)
        label = labels[row * len(xs)] if len(labels) == len(circuit.evs) else f"#{row}"
        series.append({"points": points, "line": line, "colour": colour, "row": row, "label": label})
    return {
        "parameter": name,
        "series": series,
        "width": WIDTH,
        "height": HEIGHT,
        "box": {"left": LEFT, "top": TOP, "right": WIDTH - RIGHT, "bottom": HEIGHT - BOTTOM},
        "x_min": x_min,
        "x_max": x_max,
        "y_min": y_min,
        "y_max": y_max,
        "x_ticks": [{"at": px(v), "label": f"{v:.3g}"} for v in nice_ticks(x_min, x_max)],
        "y_ticks": [{"at": py(v), "label": f"{v:.3g}"} for v in nice_ticks(y_min, y_max)],
        "zero": py(0.0) if y_min < 0 < y_max else None,
    }
