"""The dispatcher: reads the jobs' event log past a stored mark and makes the deliveries.

Each pass reads ``JobEvent`` rows with ids above ``ReadMark.last_id`` in id order; for every
``done``/``failed``/``cancelled`` row it makes one ``Delivery`` per matching subscription, and it
moves the mark, all in one transaction: a crash before the commit leaves both as they were.  The
mark row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's transactions take the write
lock), so concurrent dispatchers take turns, and ``(event, subscription)`` is unique, so a row is
never turned into two deliveries.

Ids are allocated before commit, so a row may appear after a higher id already did.  The mark
therefore stops before a gap in the ids while the row after it is younger than
``QPORTAL_NOTIFY_GAP_SECONDS``; after that the missing id is taken as rolled back (or deleted with
its job) and skipped.  The rows after a gap are dispatched at once all the same, and again at each
pass until the mark passes them: the deliveries they already have are left out (and the unique
constraint would refuse them), so waiting costs no latency.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from qportal.accounts.models import Membership
from qportal.jobs.models import Job, JobEvent
from qportal.notifications import messages
from qportal.notifications.models import JOB_EVENTS, Delivery, ReadMark, Scope, Subscription

MARK = "job-events"
BATCH = 1000


def current_mark() -> ReadMark:
    """The mark, made at the log's end the first time (subscriptions are not told of old jobs)."""
    mark = ReadMark.objects.filter(name=MARK).first()
    if mark is None:
        last = JobEvent.objects.aggregate(last=Max("id"))["last"] or 0
        mark, _ = ReadMark.objects.get_or_create(name=MARK, defaults={"last_id": last})
    return mark


def dispatch(now=None) -> int:
    """One pass: the deliveries made (at most ``BATCH`` events read)."""
    now = now or timezone.now()
    if not JobEvent.objects.filter(id__gt=current_mark().last_id).exists():
        return 0  # nothing new: no write transaction (SQLite would take its write lock)
    with transaction.atomic():
        mark = ReadMark.objects.select_for_update().get(name=MARK)
        rows = list(
            JobEvent.objects.filter(id__gt=mark.last_id)
            .order_by("id")
            .values_list("id", "kind", "status", "created", "job_id")[:BATCH]
        )
        settled = now - timedelta(seconds=settings.NOTIFY_GAP_SECONDS)
        last, held, ended = mark.last_id, False, []
        for event_id, kind, status, created, job_id in rows:
            if event_id != last + 1 and created > settled:
                held = True  # an earlier id may still commit: the mark waits here
            if not held:
                last = event_id
            if kind in JOB_EVENTS:
                ended.append((event_id, JOB_EVENTS[kind], status, created, job_id))
        made = _deliveries(ended, now)
        Delivery.objects.bulk_create(made, ignore_conflicts=True)
        if last != mark.last_id:
            ReadMark.objects.filter(pk=mark.pk).update(last_id=last, updated=now)
    return len(made)


def _deliveries(ended: list[tuple], now) -> list[Delivery]:
    if not ended:
        return []
    jobs = Job.objects.select_related("team", "profile").in_bulk({job_id for *_, job_id in ended})
    teams = {job.team_id for job in jobs.values()}
    creators = {job.created_by_id for job in jobs.values() if job.created_by_id}
    subscriptions = list(
        Subscription.objects.filter(
            Q(scope=Scope.TEAM, team_id__in=teams) | Q(scope=Scope.MINE, user_id__in=creators)
        ).select_related("user")
    )
    # A subscriber hears only of the jobs of teams they are still in.
    members = set(
        Membership.objects.filter(team_id__in=teams, user_id__in={s.user_id for s in subscriptions}).values_list(
            "team_id", "user_id"
        )
    )
    made = []
    have = set(Delivery.objects.filter(event_id__in=[e[0] for e in ended]).values_list("event_id", "subscription_id"))
    for event_id, event, status, created, job_id in ended:
        job = jobs.get(job_id)
        if job is None:  # deleted since
            continue
        payload = {"job": messages.job_snapshot(job, status), "url": messages.job_url(job.id)}
        for sub in subscriptions:
            if (event_id, sub.id) not in have and _hears(sub, event, created, job, members):
                made.append(Delivery(subscription=sub, event_id=event_id, event=event, job_id=job.id, payload=payload))
    return made


def _hears(sub: Subscription, event: str, created, job: Job, members: set[tuple[int, int]]) -> bool:
    """Whether ``sub`` is told of ``event`` of ``job``: one of its events, after it was made, a job of
    its team (or its subscriber's), and the subscriber still in the job's team."""
    if event not in sub.events or sub.created > created or (job.team_id, sub.user_id) not in members:
        return False
    if sub.scope == Scope.TEAM:
        return sub.team_id == job.team_id
    return sub.user_id == job.created_by_id
