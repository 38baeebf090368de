"""A job's primitive options on top of its profile's: what runs, at how many shots, and what a
simulator has to ignore.

The job's options override the profile's field by field (:func:`effective_options`).  Shots follow
qiskit-ibm-runtime's own precedence, where ``default_shots`` beats ``default_precision``
(:func:`job_shots`):

- the job's ``shots`` are the job's ``default_shots``; giving both, different, is refused;
- an estimator job whose options set ``default_precision`` (and no ``default_shots``) runs at that
  precision, and its recorded shots are ``ceil(1 / precision**2)``, the shots that precision stands
  for; ``shots`` beside it is refused, since the two would disagree about the precision;
- otherwise the options' ``default_shots``, else the profile's shots.

Simulators apply what they can (:data:`AER_HONOURS`, :data:`LOCAL_TESTING_HONOURS`) and list the
rest, by dotted path, with :func:`ignored_options`.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from executors.base import MAX_SHOTS, Primitive
from executors.options import (
    PORTAL_OPTIONS,
    InvalidOption,
    expand_shorthands,
    merge_options,
    runtime_options,
    validate_options,
)

__all__ = [
    "AER_HONOURS",
    "LOCAL_TESTING_HONOURS",
    "check_job_options",
    "effective_options",
    "ignored_options",
    "job_shots",
    "precision_of",
    "seed_of",
]

# What qiskit-aer's own primitives (``local`` profiles) apply; the portal's keys are theirs too.
AER_HONOURS = ("default_shots", "default_precision", "simulator.seed_simulator")
# What qiskit-ibm-runtime's local testing mode (fake backends) applies.
LOCAL_TESTING_HONOURS = (*AER_HONOURS, "execution.meas_type")
# The portal's own keys a job may set for itself; the others (``method``, ``noise``, PennyLane's)
# choose the executor a profile builds, so they belong to the profile.
JOB_PORTAL_OPTIONS = ("seed", "optimization_level")
# The portal's own keys each simulator kind reads.
PORTAL_HONOURED = {"local": ("seed", "method"), "fake": ("seed", "optimization_level", "noise")}


def effective_options(profile: dict[str, Any] | None, job: dict[str, Any] | None) -> dict[str, Any]:
    """The job's options over the profile's, nested fields merged (shorthands expanded first)."""
    return merge_options(expand_shorthands(profile or {}), expand_shorthands(job or {}))


def check_job_options(
    primitive: Primitive, job: Any, profile: dict[str, Any] | None, shots: int | None, fallback_shots: int
) -> tuple[dict[str, Any], int]:
    """(the job's own options as given, once valid for ``primitive``; the job's shots).

    The merged options are checked too (a job's ``extrapolator`` must suit the profile's
    ``noise_factors``); every problem is an :class:`InvalidOption` naming the field.
    """
    validate_options(primitive, job if job is not None else {})
    own = copy.deepcopy(job or {})
    for key in own:
        if key in PORTAL_OPTIONS and key not in JOB_PORTAL_OPTIONS:
            raise InvalidOption(key, "is a profile setting: set it in the profile, not per job")
    merged = effective_options(profile, own)
    runtime_options(primitive, merged)
    if shots is not None and "default_shots" in own and own["default_shots"] != shots:
        raise InvalidOption("default_shots", f"says {own['default_shots']} but shots says {shots}: give one")
    return own, job_shots(primitive, merged, shots, fallback_shots)


def precision_of(primitive: Primitive, merged: dict[str, Any]) -> float | None:
    """The precision an estimator job runs at when its options set one and no ``default_shots``."""
    if primitive != "estimator" or merged.get("default_shots") is not None:
        return None
    precision = merged.get("default_precision")
    return None if precision is None else float(precision)


def job_shots(primitive: Primitive, merged: dict[str, Any], shots: int | None, fallback: int) -> int:
    """The shots a job runs (or, run by precision, stands for): see the module docstring."""
    precision = precision_of(primitive, merged)
    if shots is not None:
        if precision is not None:
            raise InvalidOption(
                "default_precision",
                f"sets the estimator's precision ({precision}) and so does shots ({shots}): give one "
                '(or "default_shots" in options, which qiskit-ibm-runtime lets win over default_precision)',
            )
        return shots
    if merged.get("default_shots") is not None:
        return int(merged["default_shots"])
    if precision is not None:
        needed = math.ceil(1 / precision**2)
        if needed > MAX_SHOTS:
            smallest = 1 / math.sqrt(MAX_SHOTS)
            raise InvalidOption(
                "default_precision",
                f"{precision} stands for {needed} shots; the portal's limit is {MAX_SHOTS} (precision {smallest:.5f})",
            )
        return needed
    return fallback


def seed_of(merged: dict[str, Any]) -> int | None:
    """The simulator seed: ``simulator.seed_simulator``, else the portal's ``seed``."""
    seed = (merged.get("simulator") or {}).get("seed_simulator")
    seed = merged.get("seed") if seed is None else seed
    return None if seed is None else int(seed)


def ignored_options(primitive: Primitive, merged: dict[str, Any], kind: str) -> list[str]:
    """Dotted paths of the options a simulator of ``kind`` ("local", "fake") does not apply: every
    runtime field outside what it honours, the fields this primitive has no use for, and portal keys
    of another kind (``method`` on a fake backend)."""
    honoured = AER_HONOURS if kind == "local" else LOCAL_TESTING_HONOURS
    portal = PORTAL_HONOURED.get(kind, ())
    kept, dropped = runtime_options(primitive, {k: v for k, v in merged.items() if k not in PORTAL_OPTIONS})
    ignored = [key for key in merged if key in PORTAL_OPTIONS and key not in portal and key != "shots"]
    ignored += dropped
    ignored += _unhonoured(kept, honoured)
    if kind == "fake" and (merged.get("execution") or {}).get("meas_type") not in (None, "classified"):
        ignored.append("execution.meas_type")  # counts need classified bits
    return sorted(dict.fromkeys(ignored))


def _unhonoured(options: dict[str, Any], honoured: tuple[str, ...], prefix: str = "") -> list[str]:
    """The paths in ``options`` none of ``honoured`` covers, each as high up as it can be said:
    ``twirling`` when none of it applies, ``execution.init_qubits`` beside an applied ``meas_type``."""
    paths = []
    for key, value in options.items():
        path = f"{prefix}{key}"
        if path in honoured:
            continue
        if isinstance(value, dict) and any(h.startswith(path + ".") for h in honoured):
            paths += _unhonoured(value, honoured, path + ".")
        else:
            paths.append(path)
    return paths
