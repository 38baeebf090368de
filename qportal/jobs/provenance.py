"""What a job ran against, kept with it, and its reproducibility export (one JSON file).

The worker records, once the job is submitted (``record_run``): the backend's calibration (a
shared ``Calibration`` row, ``qportal.jobs.calibrations``), the software versions, and the
options as sent.  Each circuit's result metadata holds its transpiled (ISA) circuit's summary
and layout (``executors.provenance``).  ``export`` gathers these with the submitted sources and
a timing breakdown read off the job's timestamps and events.
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from django.db import transaction

from executors.base import ExecutionRequest, ExecutorSpec
from executors.job_options import effective_options, precision_of
from executors.provenance import software_versions
from executors.runtime import cloud_options
from qportal.jobs import calibrations, queries
from qportal.jobs.events import append_event
from qportal.jobs.models import ACTIVE, Job

_PHASES = {
    "transpiling": "transpile",
    "waiting for QPU": "queued_on_backend",
    "executing": "executing",
    "post-processing": "post_processing",
}


@cache
def portal_version() -> str:
    """The portal's git commit (short), or "unknown" outside a checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        found = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip() or "unknown"


def versions() -> dict[str, str | None]:
    return {**software_versions(), "qportal": portal_version()}


def run_details(spec: ExecutorSpec, request: ExecutionRequest, choice: dict | None = None) -> dict[str, Any]:
    """What the worker sends, as provenance: options as the primitive gets them, versions, and the
    backend chosen for an ``"auto"`` profile (``choice``)."""
    shots = request.shots or spec.shots
    merged = effective_options(spec.options, request.options)
    # IBM gets the runtime's options (tags aside); a simulator the merged ones (less the job's
    # ignored_options) and the shots, unless an estimator runs by precision.
    if spec.kind == "ibm_cloud":
        sent = cloud_options(request.primitive, merged, shots=shots, tags=[])[0]
    elif precision_of(request.primitive, merged) is None:
        sent = {**merged, "default_shots": int(shots)}
    else:
        sent = merged
    return {
        **({"choice": choice} if choice else {}),
        "backend": spec.backend,
        "kind": spec.kind,
        "mode": spec.mode,
        "shots": shots,
        "profile_options": dict(spec.options),
        "job_options": dict(request.options or {}),
        "options_sent": sent,
        "local_transpile": spec.local_transpile,
        "versions": versions(),
    }


def record_run(job_id, attempt: int, calibration: dict[str, Any] | None, details: dict[str, Any]) -> bool:
    """Store the job's calibration and run details, if this attempt still holds the job; a backend
    choice in ``details`` is also told in a ``backend`` event."""
    with transaction.atomic():
        held = Job.objects.filter(id=job_id, attempt=attempt, status__in=list(ACTIVE))
        recorded = held.values_list("provenance", flat=True).first() or {}
        fields: dict[str, Any] = {"provenance": {**recorded, **details}}
        if calibration:
            fields["calibration"] = calibrations.record(calibration)
        if held.update(**fields) != 1:
            return False
        choice = details.get("choice")
        if choice:
            summary = {key: choice.get(key) for key in ("backend", "criterion", "reason")}
            append_event(
                job_id,
                "backend",
                message=f"chose {choice['backend']}: {choice['reason']}",
                data=summary,
                where=queries.held_by(attempt),
            )
        return True


def timings(job: Job) -> dict[str, float | None]:
    """Seconds spent queued (created to claimed), in each sub-status the events name (transpile,
    waiting for the QPU, executing, post-processing), and in all from claim to finish."""

    def between(a, b):
        return (b - a).total_seconds() if a and b else None

    events = list(job.events.order_by("seq").values_list("kind", "sub_status", "message", "created"))
    phases: dict[str, float] = {}
    for (kind, sub, message, at), (_, _, _, after) in zip(events, events[1:], strict=False):
        label = message if kind == "progress" else sub
        phase = _PHASES.get(label)
        if phase:
            phases[phase] = phases.get(phase, 0.0) + (after - at).total_seconds()
    return {
        "queued": between(job.created, job.submitted_at),
        "submit": between(job.submitted_at, job.started_at),
        **{name: phases.get(name) for name in _PHASES.values()},
        "running": between(job.started_at, job.finished_at),
        "total": between(job.created, job.finished_at),
        "execution_time": job.execution_time,
    }


def circuit_records(job: Job) -> list[dict[str, Any]]:
    """Each circuit's submitted source and, once run, its ISA summary and physical qubits."""
    rows = job.circuits.order_by("index").values("index", "name", "source_format", "source", "num_qubits", "metadata")
    records = []
    for row in rows:
        metadata = row["metadata"] or {}
        records.append(
            {
                "index": row["index"],
                "name": row["name"],
                "source_format": row["source_format"],
                "source": row["source"],
                "num_qubits": row["num_qubits"],
                "physical_qubits": metadata.get("physical_qubits"),
                "isa": metadata.get("isa"),
            }
        )
    return records


def calibration_record(job: Job) -> dict[str, Any] | None:
    if job.calibration_id is None:
        return None
    row = job.calibration
    return {"id": row.id, "digest": row.digest, "backend": row.backend, "data": row.data}


def export(job: Job) -> dict[str, Any]:
    """The reproducibility export: everything above in one JSON-able dict."""
    recorded = job.provenance or {}
    return {
        "format": "qportal-provenance/1",
        "job": {
            "id": str(job.id),
            "name": job.name,
            "status": job.status,
            "profile": job.profile.name,
            "primitive": job.primitive,
            "shots": job.shots,
            "created": job.created.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            "remote_ids": list(job.remote_ids),
        },
        "run": {key: value for key, value in recorded.items() if key not in ("choice", "simulate_first")},
        "versions": recorded.get("versions") or versions(),
        "versions_recorded": "versions" in recorded,
        "backend_choice": recorded.get("choice"),
        "simulate_first": recorded.get("simulate_first"),
        "calibration": calibration_record(job),
        "circuits": circuit_records(job),
        "timings": timings(job),
    }


def page_context(job: Job) -> dict[str, Any]:
    """The job page's provenance panel: calibration, versions, choice, first circuits' ISA."""
    recorded = job.provenance or {}
    first = job.circuits.order_by("index").values_list("index", "metadata")[:3]
    isa = [
        {"index": index, "qubits": (meta or {}).get("physical_qubits"), **((meta or {}).get("isa") or {})}
        for index, meta in first
    ]
    calibration = calibration_record(job)
    used = frozenset(isa[0]["qubits"] or ()) if isa else frozenset()
    drawn = None
    if calibration is not None:
        from qportal.jobs.devices import map_view

        drawn = map_view(calibration["data"], "readout_error", used)
    return {
        "calibration": calibration,
        "recorded": recorded,
        "isa": [item for item in isa if item.get("depth") is not None],
        "map": drawn,
        "timings": timings(job) if job.is_terminal else None,
        "comparable": job.primitive == "sampler" and job.profile.kind in ("fake", "ibm_cloud"),
    }
