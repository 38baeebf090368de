"""The worker's scheduled refresh of cloud backends: their calibrations and queues.

Every ``BACKEND_REFRESH_SECONDS`` each valid IBM credential's backends are read (blocking, in a
thread): each calibration is recorded (``qportal.jobs.calibrations``, deduplicated) and the
credential's backend list gets the queue lengths, so backend pages and ``GET /api/v1/backends``
show them without a request reaching IBM.  Started by ``JobRunner.serve`` from ``WORKER_LOOPS``.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from django.db import close_old_connections

from executors.base import ExecutorError
from qportal.accounts.models import CredentialStatus, IBMCredential
from qportal.jobs import calibrations

log = logging.getLogger(__name__)


def refresh_credential(cred_id: int) -> int:
    """Read and record the backends of one credential; returns how many. Blocking."""
    from executors.device import backend_info
    from executors.ibm_cloud import classify, get_service

    try:
        cred = IBMCredential.objects.filter(id=cred_id, status=CredentialStatus.VALID).first()
        if cred is None:
            return 0
        spec = cred.to_spec()
        rows = []
        try:
            for backend in get_service(spec).backends():
                status = backend.status()
                info = backend_info(backend, queue=int(status.pending_jobs))
                calibrations.record({k: v for k, v in info.items() if k not in ("name", "pending_jobs")})
                rows.append(
                    {
                        "name": backend.name,
                        "num_qubits": backend.num_qubits,
                        "pending_jobs": status.pending_jobs,
                        "operational": status.operational,
                        "status_msg": status.status_msg,
                        "calibrated_at": info["calibrated_at"],
                    }
                )
        except Exception as error:  # noqa: BLE001 - classified, logged without the token
            log.info("credential %s: backends not refreshed: %s", cred_id, classify(error, spec))
            return 0
        IBMCredential.objects.filter(id=cred_id, token_encrypted=cred.token_encrypted).update(backends=rows)
        return len(rows)
    except ExecutorError as error:
        log.info("credential %s: backends not refreshed: %s", cred_id, error)
        return 0


def refresh_all() -> int:
    """``refresh_credential`` for every valid credential, on connections of this thread's own
    (closed afterwards). Blocking; returns how many backends were refreshed."""
    close_old_connections()
    try:
        ids = list(IBMCredential.objects.filter(status=CredentialStatus.VALID).values_list("id", flat=True))
        return sum(refresh_credential(cred_id) for cred_id in ids)
    finally:
        close_old_connections()


async def run_forever(runner) -> None:
    """Refresh every valid credential's backends, then sleep ``BACKEND_REFRESH_SECONDS``."""
    while True:
        try:
            await asyncio.to_thread(refresh_all)
        except Exception:
            log.exception("backend refresh failed; retrying")
        await asyncio.sleep(settings.BACKEND_REFRESH_SECONDS)
