"""What the job page shows of its circuits: a paged table of summaries and one circuit opened.

The table reads ``queries.circuit_summaries_of`` (small columns, one page), and only the opened
circuit's stored distribution is unpacked, so a 1000-circuit job's page costs what a one-circuit
job's does.  The opened circuit's histogram carries each bar's count, bitstring and, where it is
cheap (``executors.ideal``), its ideal probability; the page's script sorts it, switches it to a
log scale and overlays the ideal distribution without asking the server again.
"""

from __future__ import annotations

import math

import numpy as np

from executors.circuits import circuit_diagram, parse_circuit
from executors.ideal import ideal_probabilities
from executors.sweeps import observable_labels
from qportal.jobs import queries
from qportal.jobs.models import Job, JobCircuit
from qportal.jobs.sweep_plot import sweep_parameters, sweep_plot, swept_array
from qportal.jobs.zne_view import zne_table

PAGE_SIZE = 50
HISTOGRAM_BARS = 32
BINDING_OPTIONS = 1000  # a bigger sweep's later bindings are chosen by number
DIAGRAM_MAX_OPS = 400


class Selection:
    """Which circuit is opened and which page of the table is shown, from the query string
    (``circuit``: an index; ``cpage``: a page number; ``binding``: one binding of a sampler
    sweep, by its flat index); out-of-range values are said, not fatal."""

    def __init__(self, job: Job, params):
        self.problem = ""
        self.binding = _number(params.get("binding"))
        last = max(job.num_circuits - 1, 0)
        self.pages = max(1, math.ceil(job.num_circuits / PAGE_SIZE))
        index = _number(params.get("circuit"))
        page = _number(params.get("cpage"))
        if index is not None and not 0 <= index <= last:
            self.problem = f"There is no circuit {index}: this job's circuits are 0 to {last}."
            index = None
        if page is not None and not 1 <= page <= self.pages:
            page = None
        if page is None:
            page = (index // PAGE_SIZE + 1) if index is not None else 1
        self.page = page
        self.index = index if index is not None else (page - 1) * PAGE_SIZE

    def query(self, **changes) -> str:
        values = {"circuit": self.index, "cpage": self.page, "binding": None, **changes}
        return "?" + "&".join(f"{k}={v}" for k, v in values.items() if v is not None)


def _number(text) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def table(job: Job, selection: Selection) -> dict:
    rows = queries.circuit_summaries_of(job.id, offset=(selection.page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    for row in rows:
        shots = row["shots"] * math.prod(row["shape"] or ()) if row["shots"] else None  # a sweep: every binding's
        row["top_share"] = 100 * row["top_count"] / shots if shots and row["top_count"] else None
        row["href"] = selection.query(circuit=row["index"], cpage=selection.page)
    page = selection.page
    return {
        "rows": rows,
        "page": page,
        "pages": selection.pages,
        "previous": selection.query(cpage=page - 1, circuit=None) if page > 1 else None,
        "next": selection.query(cpage=page + 1, circuit=None) if page < selection.pages else None,
        "first": (page - 1) * PAGE_SIZE,
        "last": min(page * PAGE_SIZE, job.num_circuits) - 1,
    }


def opened(job: Job, selection: Selection) -> dict | None:
    """The opened circuit's block: parameters, diagram, histogram or expectation values."""
    circuit = job.circuits.filter(index=selection.index).first()
    if circuit is None:
        return None
    parsed = _parsed(circuit)
    return {
        "parameters": parameters(circuit, parsed),
        "diagram": diagram(parsed),
        **result_context(circuit, job, parsed, selection.binding),
    }


def result_context(circuit: JobCircuit, job: Job, parsed=None, binding: int | None = None) -> dict:
    """The opened circuit's result block; for a sampler sweep, ``binding``'s counts (with its
    ideal distribution) instead of the total over all bindings, when it names one."""
    ideal = None
    counts = circuit.counts
    bindings = None
    if circuit.done and circuit.binding_counts:
        parsed = parsed if parsed is not None else _parsed(circuit)
        bindings = binding_choice(circuit, parsed, binding)
        if bindings["chosen"] is not None:
            counts = circuit.binding_counts[bindings["chosen"]]
            if bindings["values"] is not None:
                ideal = _ideal(parsed, bindings["values"])
    elif circuit.done and counts:
        parsed = parsed if parsed is not None else _parsed(circuit)
        ideal = _ideal(parsed, circuit.parameter_values) if not isinstance(parsed, str) else None
    sweep = None
    if circuit.done and circuit.shape and circuit.evs:  # a swept estimator PUB: its plot
        sweep = sweep_plot(circuit, parsed if parsed is not None else _parsed(circuit))
    return {
        "c": circuit,
        "job": job,
        "hist": histogram(counts, ideal),
        "bindings": bindings,
        "evs": expectations(circuit),
        "zne": zne_table(circuit),
        "sweep": sweep,
    }


def binding_choice(circuit: JobCircuit, parsed, requested: int | None) -> dict:
    """A sampler sweep's bindings to choose among: each one's position in the PUB's shape and
    its parameter values; ``chosen`` is ``requested`` when it names one (else None: the total),
    ``values`` the chosen binding's parameter values in the circuit's order, ``chosen_label``
    its position and values as the options write them."""
    count = len(circuit.binding_counts)
    shape = tuple(circuit.shape or (count,))
    array = swept_array(circuit, parsed)
    flat = None
    if array is not None and array.size and math.prod(array.shape[:-1]) == count:
        flat = array.reshape(count, array.shape[-1])

    def label(index: int) -> str:
        position = ",".join(str(int(n)) for n in np.unravel_index(index, shape)) if math.prod(shape) == count else index
        named = ""
        if flat is not None:
            named = " · " + ", ".join(f"{p.name}={v:.4g}" for p, v in zip(parsed.parameters, flat[index], strict=False))
        return f"[{position}]{named}"

    chosen = requested if requested is not None and 0 <= requested < count else None
    return {
        "count": count,
        "options": [{"index": index, "label": label(index)} for index in range(min(count, BINDING_OPTIONS))],
        "chosen": chosen,
        "chosen_label": label(chosen) if chosen is not None else "",
        "values": [float(v) for v in flat[chosen]] if chosen is not None and flat is not None else None,
        "problem": f"There is no binding {requested}: this sweep's are 0 to {count - 1}."
        if requested is not None and chosen is None
        else "",
    }


def _parsed(circuit: JobCircuit):
    """The circuit as submitted, or the reason it does not parse (a string)."""
    try:
        return parse_circuit({"qpy": circuit.source} if circuit.source_format == "qpy" else {"qasm": circuit.source})
    except Exception as exc:  # noqa: BLE001 - a parse problem must not break the page
        return f"(no diagram: {type(exc).__name__})"


def _ideal(parsed, values) -> dict[str, float] | None:
    try:
        bound = parsed.assign_parameters(values) if values else parsed
        return ideal_probabilities(bound)
    except Exception:  # noqa: BLE001 - no overlay rather than no page
        return None


def histogram(counts: dict[str, int] | None, ideal: dict[str, float] | None = None) -> dict | None:
    """The most frequent outcomes (at most ``HISTOGRAM_BARS``) in bitstring order, each with its
    count, share, linear and log bar lengths and ideal probability (None without an ideal)."""
    if not counts:
        return None
    total = sum(counts.values()) or 1
    items = sorted(counts.items())
    hidden = 0
    if len(items) > HISTOGRAM_BARS:
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:HISTOGRAM_BARS]
        hidden = len(items) - len(top)
        items = sorted(top)
    peak = max(v for _, v in items)
    if ideal:  # bars share one scale with the ideal marks: the larger of the two peaks is 100 %
        peak = max(peak, max(ideal.get(key, 0.0) for key, _ in items) * total)
    log_peak = math.log10(1 + peak)
    bars = []
    for key, value in items:
        expected = ideal.get(key, 0.0) if ideal is not None else None
        bars.append(
            {
                "key": key,
                "count": value,
                "pct": 100 * value / total,
                "height": 100 * value / peak,
                "log": 100 * math.log10(1 + value) / log_peak,
                "ideal": expected,
                "ideal_at": None if expected is None else 100 * expected * total / peak,
                "ideal_log": None if expected is None else 100 * math.log10(1 + expected * total) / log_peak,
            }
        )
    distance = None
    if ideal is not None:  # total variation distance over all outcomes, not only the bars shown
        keys = set(counts) | set(ideal)
        distance = 0.5 * sum(abs(counts.get(k, 0) / total - ideal.get(k, 0.0)) for k in keys)
    return {"bars": bars, "total": total, "hidden": hidden, "distinct": len(counts), "tvd": distance}


def expectations(circuit: JobCircuit) -> list[dict] | None:
    if not circuit.evs:
        return None
    stds = circuit.stds or [0.0] * len(circuit.evs)
    observables = observable_labels(circuit.observables, len(circuit.evs), circuit.shape)
    rows = []
    for i, (ev, std) in enumerate(zip(circuit.evs, stds, strict=True)):
        label = observables[i] if i < len(observables) else f"#{i}"  # written out by |observable
        low, high = ev - std, ev + std
        rows.append(
            {
                "label": label,
                "ev": ev,
                "std": std,
                # positions on a -1..1 axis, in percent of the track
                "x": 50 + 50 * max(-1, min(1, ev)),
                "lo": 50 + 50 * max(-1, min(1, low)),
                "span": 50 * (max(-1, min(1, high)) - max(-1, min(1, low))),
            }
        )
    return rows


def parameters(circuit: JobCircuit, parsed=None) -> list[tuple[str, float]]:
    """The circuit's bound parameter values with their names (``circuit.parameters`` order, the
    order ``parameter_values`` is given in); numbered ``#i`` when the source does not parse."""
    values = circuit.parameter_values or []
    if not values:
        return []
    parsed = parsed if parsed is not None else _parsed(circuit)
    swept = sweep_parameters(circuit, parsed)
    if swept is not None:
        return swept
    names = [parameter.name for parameter in parsed.parameters] if not isinstance(parsed, str) else []
    if len(names) != len(values):
        names = [f"#{i}" for i in range(len(values))]
    return list(zip(names, values, strict=True))


def diagram(parsed) -> str:
    if isinstance(parsed, str):
        return parsed
    if parsed.size() > DIAGRAM_MAX_OPS:
        size = f"{parsed.size()} operations on {parsed.num_qubits} qubits, depth {parsed.depth()}"
        return f"({size}: too large to draw here)"
    return circuit_diagram(parsed, fold=110)


def circuit_diagram_of(circuit: JobCircuit) -> str:
    return diagram(_parsed(circuit))
