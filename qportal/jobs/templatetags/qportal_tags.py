"""Template helpers for job pages: short durations, queued/running times, observables as written."""

from __future__ import annotations

import json
import numbers
from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def seconds_short(seconds: float | None) -> str:
    """``4.2 s``, ``3 min 05 s``, ``2 h 07 min``."""
    if seconds is None:
        return "–"
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def _span(start: datetime | None, end: datetime | None) -> float | None:
    if start is None:
        return None
    return ((end or timezone.now()) - start).total_seconds()


@register.filter
def queued_for(job) -> str:
    """Time from submission until a worker picked the job up (still counting while queued)."""
    end = job.submitted_at or job.started_at or (job.finished_at if job.is_terminal else None)
    return seconds_short(_span(job.created, end))


@register.filter
def running_for(job) -> str:
    """Time the job spent running (still counting while it runs)."""
    start = job.started_at or job.submitted_at
    if start is None:
        return "–"
    return seconds_short(_span(start, job.finished_at))


@register.filter
def observable(item: Any) -> str:
    """One estimator observable as a person writes it: ``ZZ``, ``-1.0 * YY``, ``0.5 * ZZ - 0.5 * XX``
    (the forms ``executors.circuits.to_observables`` reads; anything else as JSON)."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        terms = list(item.items())
    elif _is_pair(item):
        terms = [item]
    elif isinstance(item, list) and item and all(_is_pair(term) for term in item):
        terms = item
    else:
        return json.dumps(item)
    text = ""
    for i, (label, coeff) in enumerate(terms):
        if not isinstance(coeff, numbers.Real) or isinstance(coeff, bool):
            return json.dumps(item)
        if i == 0:
            text = f"{coeff} * {label}"
        else:
            text += f" - {-coeff} * {label}" if coeff < 0 else f" + {coeff} * {label}"
    return text


def _is_pair(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)


@register.filter
def pretty_json(value: Any) -> str:
    """``value`` as indented JSON (a job's options on its page; the template escapes it)."""
    return json.dumps(value, indent=1, sort_keys=True)
