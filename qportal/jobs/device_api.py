"""``GET /api/v1/backends/{name}?profile=``: a backend's qubits, coupling map, errors, queue."""

from __future__ import annotations

from uuid import UUID

from ninja import Router

from qportal.jobs import provenance, services
from qportal.jobs.devices import device_info

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
