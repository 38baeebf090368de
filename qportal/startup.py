"""Process start-up helpers shared by the server and the worker commands."""

from __future__ import annotations

import gc


def freeze_loaded_objects() -> None:
    """Move every object alive now (Django, Qiskit, Aer, the app) out of the garbage collector's
    reach.  They live as long as the process; without this, each full collection walks them all
    again with the GIL held, which showed as the slowest requests' latency (benchmark 2)."""
    gc.collect()
    gc.freeze()
