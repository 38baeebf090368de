"""Calibrations kept with jobs: one ``Calibration`` row per distinct calibration of a backend.

The worker records the calibration a job was transpiled against (``executors.device.calibration_of``,
returned by the executor on its ``JobHandle``; ``qportal.jobs.provenance.record_run``); jobs run on
the same calibration share its row, found by digest.  The
scheduled backend refresh (``qportal.jobs.device_refresh``) records cloud backends' calibrations the
same way, so a backend page reads the latest one without reaching IBM.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.dateparse import parse_datetime

from executors.device import calibration_digest
from qportal.jobs.models import Calibration


def _when(calibration: dict[str, Any]) -> datetime | None:
    text = calibration.get("calibrated_at")
    return parse_datetime(text) if isinstance(text, str) else None


def record(calibration: dict[str, Any]) -> Calibration:
    """The row holding ``calibration``, created the first time it is seen (safe under races)."""
    digest = calibration_digest(calibration)
    found = Calibration.objects.filter(digest=digest).only("id").first()  # not its data: the caller has it
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Calibration.objects.create(
                backend=str(calibration.get("backend", ""))[:100],
                calibrated_at=_when(calibration),
                digest=digest,
                data=calibration,
            )
    except IntegrityError:  # another worker stored it first
        return Calibration.objects.only("id").get(digest=digest)


def latest(backend: str) -> Calibration | None:
    """The newest calibration recorded for ``backend`` (by calibration time, then first seen)."""
    return (
        Calibration.objects.filter(backend=backend)
        .order_by(F("calibrated_at").desc(nulls_last=True), "-first_seen", "-id")
        .only("backend", "calibrated_at", "data", "first_seen")
        .first()
    )
