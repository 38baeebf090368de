"""What the stand-in received: every ``POST /jobs`` body, decoded as the service decodes it.

qiskit-ibm-runtime 0.45 sends a primitive's options in two places: ``params`` holds ``pubs``,
``options`` (default_shots, default_precision, resilience, twirling, dynamical_decoupling,
execution, simulator, experimental...), ``version`` and ``resilience_level``; the ``environment``
fields and ``max_execution_time`` go beside it (``log_level``, ``tags``, ``private``, ``cost``).
:meth:`Recorder.options_of` puts them back together as the options dict the client was given, so a
test compares that with what it sent.
"""

from __future__ import annotations

import copy
import threading
from typing import Any


class Recorder:
    """The full request body of each job the stand-in created, by job id, in arrival order."""

    def __init__(self) -> None:
        self._bodies: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def record(self, job_id: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._bodies[job_id] = copy.deepcopy(body)

    def body(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._bodies[job_id])

    def job_ids(self) -> list[str]:
        with self._lock:
            return list(self._bodies)

    def options_of(self, job_id: str) -> dict[str, Any]:
        """The primitive options the client was given for ``job_id``, rebuilt from the request."""
        body = self.body(job_id)
        params = body.get("params") or {}
        options = copy.deepcopy(params.get("options") or {})
        if "resilience_level" in params:
            options["resilience_level"] = params["resilience_level"]
        environment = {}
        if body.get("log_level"):
            environment["log_level"] = body["log_level"]
        if body.get("tags"):
            environment["job_tags"] = list(body["tags"])
        if body.get("private"):
            environment["private"] = True
        if environment:
            options["environment"] = environment
        if body.get("cost"):
            options["max_execution_time"] = body["cost"]
        return options
