"""``{% job_usage job as used %}``: a finished job's recorded usage for its page; before its
finish, the estimates its events carry (ours at submission, IBM's once submitted), if any."""

from __future__ import annotations

from django import template

from qportal.jobs import usage, usage_events

register = template.Library()


@register.simple_tag
def job_usage(job) -> dict | None:
    if job.is_terminal:
        return usage.job_usage(job.id)
    return usage_events.from_events(job.events.filter(kind__in=("queued", "estimate")))  # the estimates
