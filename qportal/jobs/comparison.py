"""Compare: the same circuits on the ideal simulator, the device's noisy twin and the device.

``submit`` sends a device job and its ideal companion (the built-in ``local`` profile, same
circuits and shots) in one transaction; ``companion`` adds the ideal run to an existing job.
``compare(user, job_ids)`` reads finished runs and, per circuit, lays side by side:

- ``exact``: the ideal distribution (statevector, ``executors.ideal``), when cheap;
- ``twin``: the exact distribution of the device run's own transpiled circuit under the device's
  noise model (a fake backend's own; for a cloud device the fake backend of the same device, else
  one built from the calibration the job ran on): what its counts estimate
  (``executors.compare.noisy_probabilities``);
- every run's counts, labelled ``ideal`` (a local job) or by its profile;

and every pair's Hellinger fidelity and total variation distance with their shot-noise standard
errors (``executors.compare.pairwise``).  The twin is computed in the request only for the first
``MAX_TWIN_CIRCUITS`` circuits of at most ``MAX_TWIN_QUBITS`` measured qubits, so a request stays
short.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from executors.base import InvalidRequest
from executors.circuits import parse_circuit
from executors.compare import noisy_probabilities, pairwise, twin_noise_model
from executors.ideal import ideal_probabilities
from executors.provenance import isa_circuit
from qportal.jobs import services
from qportal.jobs.models import Job
from qportal.profiles.models import ProfileKind

IDEAL_PROFILE = "local"
MAX_RUNS = 4
MAX_TWIN_CIRCUITS = 20
MAX_TWIN_QUBITS = 6
MAX_SHOWN_CIRCUITS = 50
COLOURS = {"exact": "#555555", "twin": "#b45309", "ideal": "#2563eb"}
DEVICE_COLOURS = ("#dc2626", "#16a34a", "#9333ea")


def submit(user, sub: services.Submission) -> list[Job]:
    """The device job and its ideal companion, both or neither; returns [ideal, device]."""
    with transaction.atomic():
        device = services.submit_job(user, sub)
        ideal = _ideal_companion(user, device, sub.circuits)
    return [ideal, device]


def companion(user, job: Job) -> Job:
    """An ideal run of ``job``'s circuits (its shots, its team), tagged ``compare``."""
    circuits = [{"qasm": c.source} if c.source_format != "qpy" else {"qpy": c.source} for c in job.circuits.all()]
    return _ideal_companion(user, job, circuits)


def _ideal_companion(user, device: Job, circuits: list[dict[str, Any]]) -> Job:
    if device.primitive != "sampler":
        raise InvalidRequest("compare runs sampler jobs (counts); this is an estimator job")
    if device.profile.kind not in (ProfileKind.FAKE, ProfileKind.IBM_CLOUD):
        raise InvalidRequest(f"compare needs a device profile (fake or ibm_cloud), not {device.profile.kind}")
    sub = services.Submission(
        profile=IDEAL_PROFILE,
        circuits=circuits,
        shots=device.shots,
        name=f"ideal run of {device.name or str(device.id)[:8]}"[:200],
        tags=["compare"],
        team=device.team_id,
    )
    return services.submit_job(user, sub)


def _twin_backend(job: Job) -> tuple[object | None, str | None]:
    """The backend whose noise model is ``job``'s device's twin, and what it is: the fake backend
    of that device (a fake job's own; ``ibm_x`` -> ``fake_x``), else the calibration the job ran on."""
    from executors.device import backend_from_calibration
    from executors.fake_backend import fake_backend, list_fake_backends

    name = (job.provenance or {}).get("choice", {}).get("backend") or job.profile.backend
    if job.profile.kind == ProfileKind.IBM_CLOUD:
        name = "fake_" + name.removeprefix("ibm_")
    if name in {b["name"] for b in list_fake_backends()}:
        return fake_backend(name), f"{name}'s noise model"
    if job.calibration_id is not None:
        calibration = job.calibration
        when = calibration.data.get("calibrated_at") or "an unknown time"
        return backend_from_calibration(calibration.data), f"the noise model of its calibration of {when}"
    return None, None


def _label(job: Job, taken: set[str]) -> str:
    label = "ideal" if job.profile.kind == ProfileKind.LOCAL else job.profile.name
    base, n = label, 2
    while label in taken or label in ("exact", "twin"):
        label, n = f"{base}-{n}", n + 1
    return label


def compare(user, job_ids: list[str]) -> dict[str, Any]:
    """The comparison of ``job_ids`` (2-4 jobs of the user's teams, with the same circuits)."""
    if not 1 <= len(job_ids) <= MAX_RUNS:
        raise InvalidRequest(f"compare 1 to {MAX_RUNS} jobs, got {len(job_ids)}")
    jobs = [services.get_job(user, job_id) for job_id in job_ids]
    sources = [list(job.circuits.order_by("index").values_list("source", flat=True)) for job in jobs]
    if any(s != sources[0] for s in sources[1:]):
        raise InvalidRequest("the jobs compared must run the same circuits")
    labels: dict[str, Job] = {}
    for job in jobs:
        labels[_label(job, set(labels))] = job
    devices = [job for job in jobs if job.profile.kind != ProfileKind.LOCAL]
    twin_job = next((job for job in devices if job.status == "done"), None)
    twin_backend, twin_source = _twin_backend(twin_job) if twin_job is not None else (None, None)
    model = twin_noise_model(twin_backend) if twin_backend is not None else None
    rows = {label: list(job.circuits.order_by("index")) for label, job in labels.items()}
    circuits = []
    for index in range(min(len(sources[0]), MAX_SHOWN_CIRCUITS)):
        runs: dict[str, tuple[dict, int | None]] = {}
        first = next(iter(rows.values()))[index]
        exact = None
        if first.source_format != "qpy":
            exact = ideal_probabilities(parse_circuit({"qasm": first.source}, index))
        if exact:
            runs["exact"] = (exact, None)
        twin = None
        if model is not None and index < MAX_TWIN_CIRCUITS:
            meta = next(r for r in rows[_label_of(labels, twin_job)] if r.index == index).metadata or {}
            isa = isa_circuit(meta.get("isa"))
            if isa is not None and len(meta.get("physical_qubits") or ()) <= MAX_TWIN_QUBITS:
                twin = noisy_probabilities(isa, model)
        if twin:
            runs["twin"] = (twin, None)
        for label, circuit_rows in rows.items():
            row = circuit_rows[index]
            if row.done and row.counts:
                runs[label] = (row.counts, row.shots)
        circuits.append(
            {
                "index": index,
                "name": first.name,
                "distributions": {label: dict(data) for label, (data, _) in runs.items()},
                "shots": {label: shots for label, (_, shots) in runs.items()},
                "pairs": pairwise(runs),
            }
        )
    return {
        "jobs": {
            label: {"id": str(job.id), "status": job.status, "profile": job.profile.name}
            for label, job in labels.items()
        },
        "done": all(job.status == "done" for job in jobs),
        "twin": twin_backend.name if twin_backend is not None else None,
        "twin_source": twin_source,
        "circuits": circuits,
    }


def _label_of(labels: dict[str, Job], job: Job) -> str:
    return next(label for label, candidate in labels.items() if candidate.id == job.id)


def histogram(circuit: dict[str, Any], colours: dict[str, str], max_outcomes: int = 16) -> dict[str, Any]:
    """An overlaid bar chart of one circuit's distributions (probabilities), for the SVG template:
    the ``max_outcomes`` most likely outcomes over all runs, one bar per run side by side."""
    probs = {}
    for label, data in circuit["distributions"].items():
        total = circuit["shots"][label] or sum(data.values()) or 1
        probs[label] = {key: value / total for key, value in data.items()}
    weight: dict[str, float] = {}
    for data in probs.values():
        for key, value in data.items():
            weight[key] = weight.get(key, 0.0) + value
    outcomes = sorted(sorted(weight), key=lambda key: -weight[key])[:max_outcomes]
    outcomes.sort()
    labels = list(probs)
    width, height, left, bottom = 640, 220, 40, 40
    plot_h = height - bottom - 10
    group = (width - left - 10) / max(len(outcomes), 1)
    bar = max(2.0, (group - 6) / max(len(labels), 1))
    top = max((max(d.values(), default=0) for d in probs.values()), default=1) or 1
    bars = []
    for i, outcome in enumerate(outcomes):
        for j, label in enumerate(labels):
            value = probs[label].get(outcome, 0.0)
            h = plot_h * value / top
            bars.append(
                {
                    "x": round(left + i * group + 3 + j * bar, 1),
                    "y": round(10 + plot_h - h, 1),
                    "w": round(bar - 1, 1),
                    "h": round(h, 1),
                    "fill": colours[label],
                    "label": label,
                    "outcome": outcome,
                    "p": round(value, 4),
                }
            )
    ticks = [{"x": round(left + i * group + group / 2, 1), "outcome": outcome} for i, outcome in enumerate(outcomes)]
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "ticks": ticks,
        "base": 10 + plot_h,
        "top": round(top, 3),
        "legend": [{"label": label, "fill": colours[label]} for label in labels],
    }


def colours_for(labels: list[str]) -> dict[str, str]:
    colours, spare = {}, iter(DEVICE_COLOURS * 2)
    for label in labels:
        colours[label] = COLOURS.get(label) or next(spare)
    return colours


def page_context(result: dict[str, Any]) -> dict[str, Any]:
    labels = list(dict.fromkeys(["exact", "twin", *result["jobs"]]))
    colours = colours_for(labels)
    return {
        "result": result,
        "charts": [{"circuit": c, "chart": histogram(c, colours)} for c in result["circuits"]],
    }
