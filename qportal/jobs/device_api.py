"""``GET /api/v1/backends/{name}?profile=``: a backend's qubits, coupling map, errors, queue."""

from __future__ import annotations

from uuid import UUID

from ninja import Field, Router, Schema

from executors.base import InvalidRequest
from qportal.jobs import comparison, provenance, services
from qportal.jobs.devices import device_info
from qportal.jobs.schemas import CircuitIn

router = Router(tags=["backends"])


@router.get(
    "/backends/{name}",
    summary="A backend's qubits, coupling map, calibration and queue",
    description="`num_qubits`, `processor`, `basis_gates`, `coupling_map` (`[control, target]` pairs), "
    "`qubits` (per qubit: `t1`, `t2` in seconds, `readout_error`, `sx_error`, ...), `gates` (two-qubit gate "
    "`error` and `duration` per edge), `pending_jobs` and `calibrated_at`, for a backend the profile reaches. "
    "Cloud backends answer what the worker last recorded (it refreshes them every "
    "`QPORTAL_BACKEND_REFRESH_SECONDS`).",
)
def backend_detail(request, name: str, profile: str):
    return device_info(request.user, name, profile)


@router.get(
    "/jobs/{job_id}/provenance",
    tags=["jobs"],
    summary="A job's reproducibility export",
    description="The submitted sources, each circuit's transpiled (ISA) summary and physical qubits, the "
    "backend's calibration at the time (shared by every job run on it), the options as sent, software "
    "versions and a timing breakdown.",
)
def job_provenance(request, job_id: UUID):
    return provenance.export(services.get_job(request.user, job_id))


class CompareIn(Schema):
    profile: str = Field(..., description="the device: a fake or ibm_cloud profile")
    circuits: list[CircuitIn]
    shots: int | None = None
    name: str = ""
    team: int | None = None


def _started(jobs) -> dict:
    ids = ",".join(str(job.id) for job in jobs)
    return {
        "jobs": [str(job.id) for job in jobs],
        "compare": f"/api/v1/compare?jobs={ids}",
        "page": f"/compare/?jobs={ids}",
    }


@router.post(
    "/compare",
    response={201: dict},
    tags=["compare"],
    summary="Run circuits on a device and on the ideal simulator, to compare them",
    description="Submits two jobs in one go: the circuits on `profile` (the device) and on the built-in "
    "`local` profile (ideal). The answer names both and where to read the comparison once they are done.",
)
def start_compare(request, payload: CompareIn):
    sub = services.Submission(
        profile=payload.profile,
        circuits=[c.dict(exclude_none=True) for c in payload.circuits],
        shots=payload.shots,
        name=payload.name,
        tags=["compare"],
        team=payload.team,
    )
    return 201, _started(comparison.submit(request.user, sub))


@router.post("/jobs/{job_id}/compare", response={201: dict}, tags=["compare"], summary="Add an ideal run to a job")
def compare_job(request, job_id: UUID):
    job = services.get_job(request.user, job_id)
    return 201, _started([comparison.companion(request.user, job), job])


@router.get(
    "/compare",
    tags=["compare"],
    summary="Ideal, noisy twin and device side by side",
    description="`jobs`: 1-4 comma-separated job ids with the same circuits. Per circuit: `distributions` "
    "(`exact`: the ideal probabilities; `twin`: the exact distribution of the device run's transpiled circuit "
    "under the device's noise model; each run's counts, labelled `ideal` or by profile), `shots` (null for exact "
    "ones) and `pairs`: every pair's Hellinger `fidelity` and total variation distance `tvd` with their standard "
    "errors from the shots (`fidelity_std`, `tvd_std`).",
)
def get_compare(request, jobs: str):
    ids = [part.strip() for part in jobs.split(",") if part.strip()]
    if not ids:
        raise InvalidRequest("jobs: give 1 to 4 job ids, comma-separated")
    return comparison.compare(request.user, ids)
