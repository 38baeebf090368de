"""The profile option ``simulate_first``: before a job spends device time, the worker runs it on
the device's noisy twin (``executors.twin.predict``) and records the predicted fidelity on the job
(``provenance["simulate_first"]``, a ``simulated`` event, the job page)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from executors.base import ExecutorError
from executors.runtime import DEFAULT_OPTIMIZATION_LEVEL
from executors.twin import predict
from qportal.jobs import queries
from qportal.jobs.events import append_event
from qportal.jobs.models import ACTIVE, Job

log = logging.getLogger(__name__)


def wanted(item) -> bool:
    """A fresh (not reattached) job of a device profile that asks for it."""
    spec = item.spec
    return bool(spec.options.get("simulate_first")) and spec.kind in ("fake", "ibm_cloud") and not item.remote_ids


async def twin_backend(item, executor) -> Any:
    """The backend whose noise predicts the device: a fake backend itself, a cloud backend's current
    calibration (the executor's backend object, refreshed on its TTL); None for "auto"."""
    if item.spec.kind == "fake":
        if item.spec.backend == "auto":
            return None
        from executors.fake_backend import fake_backend

        return fake_backend(item.spec.backend)
    return await executor.current_backend()


def record(job_id, attempt: int, prediction: dict[str, Any]) -> bool:
    held = Job.objects.filter(id=job_id, attempt=attempt, status__in=list(ACTIVE))
    recorded = held.values_list("provenance", flat=True).first()
    if recorded is None or held.update(provenance={**recorded, "simulate_first": prediction}) != 1:
        return False
    fidelity = prediction["predicted_fidelity"]
    shown = "no circuit could be predicted" if fidelity is None else f"predicted fidelity {fidelity:.4f}"
    append_event(
        job_id,
        "simulated",
        message=f"simulated first on {prediction['backend']}'s noisy twin: {shown}",
        data={"predicted_fidelity": fidelity, "backend": prediction["backend"]},
        where=queries.held_by(attempt),
    )
    return True


async def before_submit(item, executor, db) -> None:
    """Predict and record (``db``: the worker's database-thread wrapper); a failure is logged and
    the job goes on, since the prediction only informs."""
    try:
        backend = await twin_backend(item, executor)
        if backend is None:
            return
        options = item.spec.options
        level = options.get("optimization_level")
        level = DEFAULT_OPTIMIZATION_LEVEL if level is None else int(level)
        seed = options.get("seed")
        prediction = await asyncio.to_thread(predict, list(item.request.circuits), backend, level, seed)
    except ExecutorError as exc:
        log.info("job %s: no twin prediction: %s", item.job_id, exc)
        return
    except Exception:  # noqa: BLE001 - the prediction only informs; the job itself goes on
        log.exception("job %s: the twin prediction failed", item.job_id)
        return
    await db(record)(item.job_id, item.attempt, prediction)
