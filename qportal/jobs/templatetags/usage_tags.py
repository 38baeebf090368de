"""``{% job_usage job as used %}``: a finished job's recorded usage for its page (None before)."""

from __future__ import annotations

from django import template

from qportal.jobs import usage

register = template.Library()


@register.simple_tag
def job_usage(job) -> dict | None:
    return usage.job_usage(job.id) if job.is_terminal else None
