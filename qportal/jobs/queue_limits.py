"""The queue limits: at most ``QPORTAL_MAX_UNFINISHED_PER_USER`` queued or running jobs per person
(whichever key or session submits them) and ``QPORTAL_MAX_UNFINISHED_PER_TEAM`` per team.

Counting a person's and a team's unfinished jobs costs a scan of them (``queries.unfinished_counts``),
which grows with the backlog (benchmark 4).  So each process keeps the last exact count of a
(person, team) pair and adds its own submissions to it, and counts again only when that sum comes
within a tenth of a limit, or the count is older than ``RECOUNT_SECONDS``.  A submission is refused
only on an exact count.  In one process (the embedded default) the limits therefore hold exactly;
across web processes they hold unless the other processes submit more than a tenth of the limit
for the same person or team within ``RECOUNT_SECONDS`` (at the defaults, 100 and 500 jobs in a
second, far beyond ``QPORTAL_API_RATE``).
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from qportal.jobs import queries

RECOUNT_SECONDS = 1.0
_MAX_ENTRIES = 10_000


class QueueFull(Exception):
    """Too many unfinished jobs for this person or team; answered 429 with ``retry_after`` seconds."""

    retry_after = 10


# (user id, team id) -> [person's count, team's count, monotonic time of the count]
_known: dict[tuple[int, int], list] = {}
_lock = threading.Lock()


def check(user_id: int, team) -> None:
    """Raise :class:`QueueFull` if the person or ``team`` is at its limit; else count this submission."""
    per_user, per_team = settings.MAX_UNFINISHED_PER_USER, settings.MAX_UNFINISHED_PER_TEAM
    key = (user_id, team.id)
    now = time.monotonic()
    with _lock:
        known = _known.get(key)
        if (
            known is not None
            and now - known[2] < RECOUNT_SECONDS
            and known[0] < per_user - max(1, per_user // 10)
            and known[1] < per_team - max(1, per_team // 10)
        ):
            known[0] += 1
            known[1] += 1
            return
    mine, team_total = queries.unfinished_counts(user_id, team.id)
    if mine >= per_user:
        raise QueueFull(
            f"you have {mine} queued or running jobs, the most one person may have "
            f"(QPORTAL_MAX_UNFINISHED_PER_USER); wait for some to finish, or cancel some"
        )
    if team_total >= per_team:
        raise QueueFull(
            f"team {team.name!r} has {team_total} queued or running jobs, the most one team may have "
            f"(QPORTAL_MAX_UNFINISHED_PER_TEAM); wait for some to finish, or cancel some"
        )
    with _lock:
        if len(_known) >= _MAX_ENTRIES:
            _known.clear()
        _known[key] = [mine + 1, team_total + 1, now]


def forget() -> None:
    """Drop every remembered count (the next submission of each pair counts again)."""
    with _lock:
        _known.clear()


@receiver(setting_changed)
def _limits_changed(setting, **kwargs) -> None:
    if setting in ("MAX_UNFINISHED_PER_USER", "MAX_UNFINISHED_PER_TEAM"):
        forget()
