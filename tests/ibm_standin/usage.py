"""The stand-in's usage book: quantum seconds per job and the instance's consumption and limit.

Each job is charged once it completes or is cancelled while running: ``seconds`` when set
(``usage`` control action), else ``1 + n % 4`` seconds for the n-th job (so jobs differ and a
test can sum them).  IBM's estimate (``estimated_running_time_seconds`` on ``GET /jobs/{id}``) is
the same figure.  The instance's ``usage_consumed_seconds`` is the sum of charged jobs plus
``consumed`` set by a test; with ``limit`` set, ``usage_limit_reached`` once consumption reaches it.
"""

from __future__ import annotations

import threading
from typing import Any


class UsageBook:
    def __init__(self) -> None:
        self.seconds: float | None = None  # every job's charge; None: 1 + n % 4
        self.limit: float | None = None
        self.consumed = 0.0  # consumption from outside these jobs
        self._charges: dict[str, float] = {}
        self._numbers: dict[str, int] = {}
        self._lock = threading.Lock()

    def configure(self, body: dict[str, Any]) -> None:
        """The ``usage`` control action: ``seconds``, ``limit``, ``consumed`` (each optional)."""
        with self._lock:
            for key in ("seconds", "limit", "consumed"):
                if key in body:
                    setattr(self, key, None if body[key] is None else float(body[key]))

    def charge_for(self, job_id: str) -> float:
        with self._lock:
            number = self._numbers.setdefault(job_id, len(self._numbers))
            return self.seconds if self.seconds is not None else float(1 + number % 4)

    def charge(self, job_id: str) -> None:
        """Charge a finished job (once)."""
        seconds = self.charge_for(job_id)
        with self._lock:
            self._charges.setdefault(job_id, seconds)

    def job_fields(self, job_id: str) -> dict[str, Any]:
        return {"estimated_running_time_seconds": self.charge_for(job_id)}

    def metrics(self, job_id: str, timestamps: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            seconds = self._charges.get(job_id, 0.0)
        return {"timestamps": timestamps, "usage": {"quantum_seconds": seconds, "seconds": seconds}}

    def charged(self) -> dict[str, float]:
        with self._lock:
            return dict(self._charges)

    def instance(self, crn: str) -> dict[str, Any]:
        with self._lock:
            used = self.consumed + sum(self._charges.values())
            limit = self.limit
        return {
            "instance_id": crn,
            "plan_id": "standin-plan",
            "usage_consumed_seconds": used,
            "usage_limit_seconds": limit,
            "usage_limit_reached": limit is not None and used >= limit,
        }
