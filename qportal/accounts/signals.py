"""Signals other apps listen to (accounts imports neither profiles nor jobs, so it tells them).

``teams_changed`` is sent, after the commit, with ``user_id`` when a user joins or leaves a team
or their role changes: the jobs app tells that user's open team streams to re-read their teams.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

teams_changed = Signal()


def send_teams_changed(user_id: int) -> None:
    """Send ``teams_changed`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: teams_changed.send(sender=None, user_id=user_id))
