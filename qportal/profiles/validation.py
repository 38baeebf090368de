"""Profiles are validated when saved, not when a job fails."""

from __future__ import annotations

import re
from typing import Any

from executors.base import MAX_SHOTS, ExecutorError
from executors.registry import backend_max_qubits
from qportal.profiles.models import ExecutionMode, ExecutorProfile, ProfileKind
from qportal.profiles.services import ProfileInvalid, profile_max_qubits

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SELECTORS = ("cyclic", "random", "least_busy")
# The AerSimulator methods a local profile may name (``options["method"]``, executors.local);
# "unitary" and "superop" are left out: they cannot sample shots.
AER_METHODS = (
    "automatic",
    "statevector",
    "density_matrix",
    "stabilizer",
    "extended_stabilizer",
    "matrix_product_state",
)

# option name -> (type, minimum, maximum)
OPTION_RULES: dict[str, tuple[type, Any, Any]] = {
    "optimization_level": (int, 0, 3),
    "resilience_level": (int, 0, 2),
    "seed": (int, 0, 2**63 - 1),
    "default_shots": (int, 1, MAX_SHOTS),
    "max_execution_time": (int, 1, 10_800),
    "dynamical_decoupling": (bool, None, None),
    "twirling": (bool, None, None),
    "noise": (bool, None, None),
    "max_jobs": (int, 1, 100),
    "shots": (int, 0, MAX_SHOTS),  # PennyLane profiles: 0 keeps the job's shots (the seeds' rule)
    "device_options": (dict, None, None),
    "method": (str, None, None),
    "simulate_first": (bool, None, None),  # executors.options.PORTAL_OPTIONS has these three too
    "auto_criterion": (str, None, None),
    "auto_backends": (list, None, None),
}

# Each submission on a cluster resolves every member in the worker's database thread, so a long
# list starved every other job (issue 16). Failover needs a handful.
MAX_CLUSTER_MEMBERS = 16


def validate_options(options: Any) -> dict[str, Any]:
    if not isinstance(options, dict):
        raise ProfileInvalid("options must be an object")
    for key, value in options.items():
        if key not in OPTION_RULES:
            raise ProfileInvalid(f"unknown option {key!r}; known options: {', '.join(sorted(OPTION_RULES))}")
        kind, low, high = OPTION_RULES[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ProfileInvalid(f"option {key} must be an integer")
        if kind is not int and not isinstance(value, kind):
            raise ProfileInvalid(f"option {key} must be {kind.__name__}")
        if low is not None and not low <= value <= high:
            raise ProfileInvalid(f"option {key} must be between {low} and {high}, got {value}")
    if "method" in options and options["method"] not in AER_METHODS:
        raise ProfileInvalid(f"option method must be one of {', '.join(AER_METHODS)}")
    if options.get("auto_criterion", "least_busy") not in ("least_busy", "least_noisy"):
        raise ProfileInvalid("option auto_criterion must be least_busy or least_noisy")
    if "auto_backends" in options and not (
        options["auto_backends"] and all(isinstance(n, str) for n in options["auto_backends"])
    ):
        raise ProfileInvalid("option auto_backends must be a non-empty list of backend names")
    return options


def validate_profile(profile: ExecutorProfile) -> None:
    """Check a profile before it is saved; fills ``max_qubits`` where it is cheap to know."""
    if not NAME_RE.match(profile.name or ""):
        raise ProfileInvalid("name must be 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit")
    if profile.kind not in ProfileKind.values:
        raise ProfileInvalid(f"kind must be one of {', '.join(ProfileKind.values)}")
    if profile.mode not in ExecutionMode.values:
        raise ProfileInvalid(f"mode must be one of {', '.join(ExecutionMode.values)}")
    if not 1 <= profile.shots <= MAX_SHOTS:
        raise ProfileInvalid(f"shots must be between 1 and {MAX_SHOTS}")
    if profile.max_time is not None and not 1 <= profile.max_time <= 28_800:
        raise ProfileInvalid("max_time must be between 1 and 28800 seconds")
    validate_options(profile.options)
    if profile.kind == ProfileKind.IBM_CLOUD:
        if not profile.backend:
            raise ProfileInvalid("an ibm_cloud profile needs a backend name (e.g. ibm_brisbane)")
        if profile.credential_id is None:
            raise ProfileInvalid("an ibm_cloud profile needs a credential")
        if profile.credential.team_id != profile.team_id:
            raise ProfileInvalid("the credential belongs to another team")
    if profile.kind == ProfileKind.CLUSTER:
        _validate_cluster(profile)
    else:
        profile.members = []
    if profile.kind == ProfileKind.PENNYLANE:
        _validate_pennylane_device(profile)
    if profile.kind in (ProfileKind.LOCAL, ProfileKind.FAKE):
        if profile.kind == ProfileKind.FAKE and not profile.backend:
            raise ProfileInvalid("a fake profile needs a backend name (e.g. fake_manila)")
        try:
            profile.max_qubits = backend_max_qubits(profile.to_spec())
        except ExecutorError as exc:
            raise ProfileInvalid(str(exc)) from None


def _validate_cluster(profile: ExecutorProfile) -> None:
    from qportal.profiles.services import member_resolver

    if profile.selector not in SELECTORS:
        raise ProfileInvalid(f"selector must be one of {', '.join(SELECTORS)}")
    if not isinstance(profile.members, list) or not profile.members:
        raise ProfileInvalid("a cluster lists at least one member profile")
    if len(profile.members) > MAX_CLUSTER_MEMBERS:
        raise ProfileInvalid(
            f"a cluster lists at most {MAX_CLUSTER_MEMBERS} member profiles, got {len(profile.members)}"
        )
    if len(set(profile.members)) != len(profile.members):
        raise ProfileInvalid("a cluster lists each member profile once")
    resolve = member_resolver(profile)
    for name in profile.members:
        if name == profile.name:
            raise ProfileInvalid("a cluster cannot contain itself")
        if resolve(name).kind == ProfileKind.CLUSTER:
            raise ProfileInvalid(f"member {name!r} is itself a cluster; nest members directly")
    profile.max_qubits = None
    profile.max_qubits = profile_max_qubits(profile)  # the smallest member bounds the cluster


def _validate_pennylane_device(profile: ExecutorProfile) -> None:
    import pennylane as qml

    device = profile.backend or "default.qubit"
    try:
        qml.device(device, wires=1, **(profile.options.get("device_options") or {}))
    except Exception as exc:  # PennyLane raises several types for unknown devices and bad options
        raise ProfileInvalid(f"PennyLane device {device!r} cannot be created: {exc}") from None
    profile.backend = device
