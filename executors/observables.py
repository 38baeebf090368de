"""One estimator observable, as a person writes it, into a checked Hermitian ``SparsePauliOp``.

Shared by the request checks (:mod:`executors.circuits`) and PUB sweeps (:mod:`executors.sweeps`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from qiskit.quantum_info import Pauli, SparsePauliOp

from executors.base import InvalidRequest


def observable_operator(item: Any, index: int = 0) -> SparsePauliOp:
    """One observable (a Pauli label, ``[label, coeff]`` pair, list of pairs, ``{label: coeff}``
    dict, ``Pauli`` or ``SparsePauliOp``) as a checked Hermitian ``SparsePauliOp``."""
    if isinstance(item, SparsePauliOp):
        terms = None
        operator = item
    elif isinstance(item, Pauli):
        terms = None
        operator = SparsePauliOp(item)
    elif isinstance(item, str):
        terms = [(item, 1.0)]
    elif isinstance(item, Mapping):
        terms = list(item.items())
    elif _is_pair(item):
        terms = [tuple(item)]
    elif isinstance(item, Sequence) and item and all(_is_pair(term) for term in item):
        terms = [tuple(term) for term in item]
    else:
        raise InvalidRequest(
            f"circuit {index}: cannot read observable {item!r}; use a Pauli label like 'ZZ', "
            "a [label, coefficient] pair or a list of such pairs",
            index=index,
        )
    if terms is not None:
        operator = _from_terms(terms, index)
    if not _is_hermitian(operator):
        raise InvalidRequest(f"circuit {index}: observable {operator_label(operator)} is not Hermitian", index=index)
    return operator


def _from_terms(terms: list[tuple[Any, Any]], index: int) -> SparsePauliOp:
    for label, coeff in terms:
        if not isinstance(label, str) or not label or set(label.upper()) - set("IXYZ"):
            raise InvalidRequest(f"circuit {index}: {label!r} is not a Pauli label (letters I, X, Y, Z)", index=index)
        if isinstance(coeff, bool) or not isinstance(coeff, numbers.Real) or not math.isfinite(coeff):
            raise InvalidRequest(
                f"circuit {index}: coefficient {coeff!r} of {label} is not a finite real number",
                index=index,
            )
    lengths = {len(label) for label, _ in terms}
    if len(lengths) != 1:
        raise InvalidRequest(f"circuit {index}: the terms of one observable must all have the same length", index=index)
    return SparsePauliOp.from_list([(label.upper(), float(coeff)) for label, coeff in terms])


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, Sequence)
        and not isinstance(item, str)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], numbers.Number)
    )


def _is_hermitian(operator: SparsePauliOp) -> bool:
    difference = (operator - operator.adjoint()).simplify(atol=1e-12)
    return bool(abs(difference.coeffs).max(initial=0.0) < 1e-12)


def operator_label(operator: SparsePauliOp) -> str:
    labels = operator.paulis.to_labels()
    return labels[0] if len(labels) == 1 else f"{labels[0]}+..."
