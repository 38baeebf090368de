"""``GET /api/v1/backends/{name}?profile=``: a backend's qubits, coupling map, errors, queue."""

from __future__ import annotations

from ninja import Router

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
