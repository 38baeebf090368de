"""The fair claim against the oldest-first claim it replaced, with a backlog queued.

Run by hand:  DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/bench_claim_backlog.py
              [--backlog 1000] [--people 3] [--rounds 300]

One person queues --backlog jobs, --people - 1 others one each; then, alternated within each
round, the fair claim's candidates (``store.claim_candidates``: the turns, then a lock on the
chosen rows) and the oldest-first statement it replaced, each in a transaction that is rolled
back (the queue stays as it is); the median of --rounds calls each, and their ratio.  Give a
database you can fill: every job in it is deleted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from qportal import rawsql  # noqa: E402
from qportal.jobs import queries, store  # noqa: E402
from qportal.profiles.models import ExecutorProfile  # noqa: E402


def oldest_first(now, limit: int) -> list:
    condition = queries.claimable(now, "j")
    lock = ' FOR UPDATE OF "j" SKIP LOCKED' if rawsql.current().features.has_select_for_update_skip_locked else ""
    return rawsql.fetch(
        f'SELECT "j"."id", "j"."status", "j"."attempt", "p"."kind" FROM {queries.JOB} "j"'
        f' INNER JOIN {rawsql.quoted(ExecutorProfile)} "p" ON "p"."id" = "j"."profile_id"'
        f' WHERE {condition.sql} ORDER BY "j"."created" LIMIT %s{lock}',
        [*condition.params, limit],
    )


def timed(statement) -> float:
    started = time.perf_counter()
    with transaction.atomic():
        statement(timezone.now(), 4)
        transaction.set_rollback(True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from qportal.accounts.access import ensure_user
    from qportal.jobs import services
    from qportal.jobs.models import Job
    from tests.circuits import BELL

    Job.objects.all().delete()
    people = [ensure_user(f"bench-{n}") for n in range(args.people)]
    job = services.Submission(profile="local", circuits=[{"qasm": BELL}], shots=10)
    from django.test import override_settings

    with override_settings(MAX_UNFINISHED_PER_USER=args.backlog + 1, MAX_UNFINISHED_PER_TEAM=args.backlog + 1):
        for _ in range(args.backlog):
            services.submit_job(people[0], job)
        for person in people[1:]:
            services.submit_job(person, job)
    fair, old = [], []
    for _ in range(args.rounds):
        fair.append(timed(store.claim_candidates))
        old.append(timed(oldest_first))
    f, o = statistics.median(fair) * 1e3, statistics.median(old) * 1e3
    print(f"backlog {args.backlog} + {args.people - 1} others on {rawsql.current().vendor}")
    print(f"oldest first {o:.3f} ms   fair turns {f:.3f} ms   ratio {f / o:.2f}")
    Job.objects.all().delete()


if __name__ == "__main__":
    main()
