"""Circuits parsed at submission, kept for a worker in the same process (the embedded default).

The worker takes them instead of parsing the stored sources again (see bench/README.md, benchmark
2).  Bounded; a miss (a worker in another process, an evicted entry, a retry) parses the stored
sources, which stay the record of truth.  One instance per process, on the jobs app's config
(``JobsConfig.parsed_circuits``), handed to the submission path and to ``JobRunner``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class ParsedCircuits:
    """A bounded map from job id to its parsed circuits; ``keep`` circuits over all jobs."""

    def __init__(self, keep: int = 2000):
        self.keep = keep
        self._jobs: OrderedDict[str, list] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many circuits are kept."""
        return self._count

    def job_ids(self) -> list[str]:
        with self._lock:
            return list(self._jobs)

    def remember(self, job_id, circuits: list) -> None:
        if len(circuits) > self.keep:
            return
        with self._lock:
            self._jobs[str(job_id)] = list(circuits)
            self._count += len(circuits)
            while self._count > self.keep:
                self._count -= len(self._jobs.popitem(last=False)[1])

    def take(self, job_id, count: int) -> list | None:
        """The job's circuits, forgotten here; None unless exactly ``count`` were kept."""
        with self._lock:
            circuits = self._jobs.pop(str(job_id), None)
            if circuits is not None:
                self._count -= len(circuits)
        return circuits if circuits is not None and len(circuits) == count else None
