"""Primitive options, checked by qiskit-ibm-runtime's own ``SamplerOptions`` / ``EstimatorOptions``.

An options dict mixes two kinds of keys:

- the portal's own (``PORTAL_OPTIONS``: ``optimization_level`` for local transpilation, ``seed``,
  ``noise``, ``method``, PennyLane's ``shots``/``max_jobs``/``device_options``), checked here;
- every field of the V2 primitives' options (``resilience``, ``twirling``,
  ``dynamical_decoupling``, ``execution``, ``environment``, ``simulator``, ``default_shots``,
  ``default_precision``, ``resilience_level``, ``max_execution_time``, ``experimental``...),
  checked by building the runtime's options class from them.  ``twirling: true`` and
  ``dynamical_decoupling: true`` (the older shorthands) stand for their ``enable`` fields.

:func:`validate_options` raises :class:`InvalidOption`, whose ``field`` is the dotted path of the
first bad field (``resilience.zne.noise_factors``); messages never repeat a string value, and a
key that looks like a secret is refused wherever it is.
"""

from __future__ import annotations

import copy
import json
import re
import typing
from dataclasses import fields, is_dataclass
from typing import Any

import pydantic
from qiskit_ibm_runtime.options import EstimatorOptions, SamplerOptions
from qiskit_ibm_runtime.options.utils import UnsetType

from executors.base import MAX_SHOTS, InvalidRequest, Primitive

__all__ = [
    "AER_METHODS",
    "PORTAL_OPTIONS",
    "InvalidOption",
    "expand_shorthands",
    "merge_options",
    "runtime_options",
    "validate_options",
]

# name -> (type, minimum, maximum)
PORTAL_OPTIONS: dict[str, tuple[type, Any, Any]] = {
    "optimization_level": (int, 0, 3),
    "seed": (int, 0, 2**63 - 1),
    "noise": (bool, None, None),
    "max_jobs": (int, 1, 100),
    "shots": (int, 0, MAX_SHOTS),  # PennyLane profiles: 0 keeps the job's shots
    "device_options": (dict, None, None),
    "method": (str, None, None),
    # Portal-only: run on the device's noisy twin first and record the predicted fidelity
    # (qportal.jobs.simulate_first); a profile whose backend is "auto" (executors.auto).
    "simulate_first": (bool, None, None),
    "auto_criterion": (str, None, None),
    "auto_backends": (list, None, None),
}
AUTO_CRITERIA = ("least_busy", "least_noisy")
AER_METHODS = (
    "automatic",
    "statevector",
    "density_matrix",
    "stabilizer",
    "extended_stabilizer",
    "matrix_product_state",
)
_CLASSES = {"estimator": EstimatorOptions, "sampler": SamplerOptions}
_SECRET = re.compile(r"token|secret|passw|api[_-]?key|credential|authori[sz]ation|cookie", re.IGNORECASE)
MAX_OPTIONS_CHARS = 20_000
MAX_DEPTH = 8


class InvalidOption(InvalidRequest):
    """An option the primitive cannot take; ``field`` is its dotted path."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field == "options" else f"options.{field}: {message}")
        self.field = field


def merge_options(base: dict[str, Any] | None, override: dict[str, Any] | None) -> dict[str, Any]:
    """``override`` on top of ``base``: nested objects merge key by key, anything else is replaced."""
    merged = copy.deepcopy(base or {})
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_options(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def expand_shorthands(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with ``twirling: true`` / ``dynamical_decoupling: true`` written as the runtime's
    own fields, so a job's ``{"twirling": {"num_randomizations": 8}}`` merges into a profile's
    ``twirling: true`` instead of replacing it."""
    return {key: _expand_shorthand(key, value) for key, value in (options or {}).items()}


def validate_options(primitive: Primitive | None, options: Any) -> dict[str, Any]:
    """``options`` checked and normalised (as qiskit-ibm-runtime reads them), with only the keys given.

    ``primitive`` None (a profile, used by both primitives): each key must suit one of them.
    """
    if not isinstance(options, dict):
        raise InvalidOption("options", "must be an object")
    _check_shape(options)
    normalised: dict[str, Any] = {}
    runtime: dict[str, Any] = {}
    for key, value in options.items():
        if key in PORTAL_OPTIONS:
            normalised[key] = _check_portal(key, value)
        else:
            runtime[key] = _expand_shorthand(key, value)
    if primitive is not None:
        normalised.update(_validated(_CLASSES[primitive], runtime))
        return normalised
    for key, value in runtime.items():
        candidates = [cls for cls in _CLASSES.values() if key in _field_names(cls)]
        if not candidates:
            raise InvalidOption(key, f"unknown option; known: {', '.join(sorted(_known_keys()))}")
        errors = []
        for cls in candidates:
            try:
                normalised.update(_validated(cls, {key: value}))
                break
            except InvalidOption as error:
                errors.append(error)
        else:
            raise errors[0]
    return normalised


def runtime_options(primitive: Primitive, options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The ``options`` for ``SamplerV2``/``EstimatorV2`` from validated portal options: the portal's
    own keys left out, shorthands expanded, and the fields this primitive has no use for (a
    profile's ``resilience`` on a sampler job) dropped.  Returns (options, dropped field paths)."""
    cls = _CLASSES[primitive]
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in options.items():
        if key in PORTAL_OPTIONS:
            continue
        if key not in _field_names(cls):
            dropped.append(key)
            continue
        kept[key] = _expand_shorthand(key, value)
    for _ in range(MAX_DEPTH * 4):  # drop nested fields of the other primitive (execution.meas_type)
        try:
            _validated(cls, kept)
            break
        except InvalidOption as error:
            if "unexpected" not in str(error) or not _drop(kept, error.field):
                raise
            dropped.append(error.field)
    return kept, dropped


# -- helpers -----------------------------------------------------------------------------------
def _check_shape(options: dict[str, Any]) -> None:
    try:
        size = len(json.dumps(options))
    except (TypeError, ValueError):
        raise InvalidOption("options", "must be plain JSON") from None
    if size > MAX_OPTIONS_CHARS:
        raise InvalidOption("options", f"are {size} characters of JSON; the limit is {MAX_OPTIONS_CHARS}")

    def walk(value: Any, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise InvalidOption(path, f"nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if _SECRET.search(str(key)):
                    raise InvalidOption(child, "looks like a secret; options never carry credentials")
                walk(item, child, depth + 1)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]", depth + 1)

    walk(options, "", 0)


def _check_portal(key: str, value: Any) -> Any:
    kind, low, high = PORTAL_OPTIONS[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidOption(key, "must be an integer")
    if kind is not int and not isinstance(value, kind):
        raise InvalidOption(key, f"must be {'an object' if kind is dict else kind.__name__}")
    if low is not None and not low <= value <= high:
        raise InvalidOption(key, f"must be between {low} and {high}, got {value}")
    if key == "method" and value not in AER_METHODS:
        raise InvalidOption(key, f"must be one of {', '.join(AER_METHODS)}")
    if key == "auto_criterion" and value not in AUTO_CRITERIA:
        raise InvalidOption(key, f"must be one of {', '.join(AUTO_CRITERIA)}")
    if key == "auto_backends" and (not value or not all(isinstance(name, str) for name in value)):
        raise InvalidOption(key, "must be a non-empty list of backend names")
    return value


def _expand_shorthand(key: str, value: Any) -> Any:
    if key == "twirling" and isinstance(value, bool):
        return {"enable_gates": value, "enable_measure": value}
    if key == "dynamical_decoupling" and isinstance(value, bool):
        return {"enable": value}
    return value


def _field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls) if not f.name.startswith("_")}


def _known_keys() -> set[str]:
    return set(PORTAL_OPTIONS) | _field_names(EstimatorOptions) | _field_names(SamplerOptions)


def _validated(cls: type, runtime: dict[str, Any]) -> dict[str, Any]:
    """``runtime`` built into ``cls``; the given keys read back off the built object."""
    try:
        built = cls(**runtime)
    except pydantic.ValidationError as error:
        raise _as_invalid(cls, error) from None
    except TypeError as error:  # a key pydantic's dataclass refused before validating
        raise InvalidOption(next(iter(runtime), "options"), str(error)) from None
    return {key: _read_back(getattr(built, key), value) for key, value in runtime.items()}


def _read_back(built: Any, given: Any) -> Any:
    """The normalised form of ``given`` (nested keys as given; values as the options class holds them)."""
    if is_dataclass(built) and isinstance(given, dict):
        return {key: _read_back(getattr(built, key), value) for key, value in given.items()}
    if isinstance(built, UnsetType):
        return given
    if isinstance(built, tuple):
        return list(built)
    return built


def _as_invalid(cls: type, error: pydantic.ValidationError) -> InvalidOption:
    """The most specific of pydantic's errors, its location rewritten as a dotted field path."""
    best = None
    for item in error.errors():
        if str(item["loc"][-1]).startswith("is-instance["):
            continue  # the alternatives pydantic also tried (Unset, the fake ``Dict`` type)
        path = _path(cls, item["loc"])
        if item["type"] == "unexpected_keyword_argument" and isinstance(item["loc"][-1], str):
            path.append(item["loc"][-1])
        if best is None or len(path) > len(best[0]):
            best = (path, item)
    if best is None:
        item = error.errors()[0]
        best = (_path(cls, item["loc"]), item)
    path, item = best
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "unexpected_keyword_argument":
        message = "unexpected field (not an option of qiskit-ibm-runtime's " + _owner(cls, path) + ")"
    return InvalidOption(".".join(path) or "options", message)


def _path(cls: type, loc: tuple) -> list[str]:
    """pydantic's ``loc`` without its validator and type steps: the option names and list indices."""
    path: list[str] = []
    current: Any = cls
    for step in loc:
        if isinstance(step, int):
            if path:
                path[-1] += f"[{step}]"
            continue
        names = {f.name: f for f in fields(current)} if is_dataclass(current) else {}
        if step in names:
            path.append(step)
            current = _dataclass_of(names[step].type, current)
    return path


def _dataclass_of(annotation: Any, owner: type) -> Any:
    """The options dataclass a field holds (``resilience`` -> ``ResilienceOptionsV2``), else None."""
    for arg in typing.get_args(annotation) or (annotation,):
        if isinstance(arg, type) and is_dataclass(arg):
            return arg
    return None


def _owner(cls: type, path: list[str]) -> str:
    current: Any = cls
    for step in path[:-1]:
        names = {f.name: f for f in fields(current)} if is_dataclass(current) else {}
        if step not in names:
            break
        current = _dataclass_of(names[step].type, current) or current
    return current.__name__


def _drop(options: dict[str, Any], field: str) -> bool:
    parts = field.split(".")
    node: Any = options
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    if not isinstance(node, dict) or parts[-1] not in node:
        return False
    del node[parts[-1]]
    return True
