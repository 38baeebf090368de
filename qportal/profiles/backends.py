"""What ``GET /api/v1/backends`` answers for each kind of profile."""

from __future__ import annotations

from typing import Any

from executors.registry import backend_max_qubits
from qportal.profiles.models import ExecutorProfile, ProfileKind


def backends_for(profile: ExecutorProfile) -> dict[str, Any]:
    kind = profile.kind
    if kind == ProfileKind.FAKE:
        from executors.fake_backend import list_fake_backends

        items = list_fake_backends()
    elif kind == ProfileKind.IBM_CLOUD:
        # Reaching IBM blocks for seconds to minutes, so requests read what the worker last saw.
        items = list(profile.credential.backends) if profile.credential_id else []
    elif kind == ProfileKind.CLUSTER:
        items = [{"name": name, "kind": "profile"} for name in profile.members]
    else:
        items = [{"name": profile.backend or "aer_simulator", "num_qubits": backend_max_qubits(profile.to_spec())}]
    least_busy = None
    with_queue = [b for b in items if b.get("pending_jobs") is not None and b.get("operational", True)]
    if with_queue:
        least_busy = min(with_queue, key=lambda b: b["pending_jobs"])["name"]
    return {
        "profile": profile.name,
        "kind": kind,
        "selected": profile.backend,
        "least_busy": least_busy,
        "backends": items,
    }
