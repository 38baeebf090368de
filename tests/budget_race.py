"""Fifty submissions at once against a QPU budget that fits ten; run by tests/test_budget_race.py.

``python -m tests.budget_race`` with ``DATABASE_URL`` naming an empty database (an SQLite file or a
PostgreSQL database): it migrates it, starts the IBM stand-in, makes a team with an IBM profile
and a budget of exactly ten estimates, and has 50 threads (each with its own database connection)
submit one job each at the same moment.  Then a worker runs the accepted jobs, the stand-in
charging each its estimate, and the budget settles.  It prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import os
import threading

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
SUBMITTERS = 50
FITS = 10


def main() -> None:
    import django

    django.setup()
    from asgiref.sync import async_to_sync
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Sum

    from qportal.accounts.models import IBMCredential, Membership, Role, Team
    from qportal.jobs import services, worker
    from qportal.jobs.budgets import BudgetExceeded
    from qportal.jobs.models import Job
    from qportal.jobs.usage_models import Budget, BudgetHold, BudgetWindow, UsageRecord
    from qportal.profiles.models import ExecutorProfile
    from tests.circuits import BELL
    from tests.ibm_standin.server import StandIn

    call_command("migrate", verbosity=0)
    with StandIn() as standin:
        os.environ.update(standin.env)
        users = [get_user_model().objects.create_user(name) for name in ("alice", "bob")]
        lab = Team.objects.create(name="lab")
        for user, role in zip(users, (Role.OWNER, Role.MEMBER), strict=True):
            Membership.objects.create(team=lab, user=user, role=role)
        credential = IBMCredential(
            team=lab, name="standin", url=standin.url, instance=standin.crn, proxies=standin.proxies, status="valid"
        )
        credential.set_token(standin.token)
        credential.save()
        ExecutorProfile.objects.create(
            team=lab, name="cloud", kind="ibm_cloud", backend="ibm_manila", credential=credential, shots=1000
        )

        def submission() -> services.Submission:
            return services.Submission(profile="cloud", circuits=[{"qasm": BELL}], team=lab.id)

        estimate = services.dry_run_job(users[0], submission())["estimated_qpu_seconds"]
        budget = Budget.objects.create(team=lab, period="day", seconds=round(FITS * estimate, 3))
        connection.close()

        barrier = threading.Barrier(SUBMITTERS)
        outcomes: list[str] = []
        lock = threading.Lock()

        def submit(number: int) -> None:
            try:
                barrier.wait(timeout=60)
                services.submit_job(users[number % 2], submission())
                outcome = "accepted"
            except BudgetExceeded:
                outcome = "refused"
            except Exception as exc:  # noqa: BLE001 - reported to the test
                outcome = f"error: {type(exc).__name__}: {exc}"
            finally:
                connection.close()  # each thread had its own connection
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=submit, args=(n,)) for n in range(SUBMITTERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        held = BudgetWindow.objects.get(budget=budget)
        before = {"held_ms": held.held_ms, "used_ms": held.used_ms, "jobs": Job.objects.count()}
        before["holds"] = BudgetHold.objects.count()

        standin.usage.configure({"seconds": estimate})  # each job charged exactly its estimate
        real_build = worker.build_executor

        def build(spec):
            executor = real_build(spec)
            executor.poll, executor.poll_cap = 0.02, 0.2
            return executor

        worker.build_executor = build
        async_to_sync(worker.JobRunner(worker_id="race", concurrency=10).run_until_idle)(300)
        settled = BudgetWindow.objects.get(budget=budget)
        records = UsageRecord.objects.filter(team=lab)
        print(
            json.dumps(
                {
                    "vendor": connection.vendor,
                    "estimate": estimate,
                    "limit_ms": round(budget.seconds * 1000),
                    "outcomes": sorted(outcomes),
                    "before": before,
                    "after": {"held_ms": settled.held_ms, "used_ms": settled.used_ms},
                    "done": Job.objects.filter(status="done").count(),
                    "unsettled": BudgetHold.objects.filter(settled=False).count(),
                    "records": records.count(),
                    "recorded_qpu": records.aggregate(total=Sum("qpu_seconds"))["total"],
                    "charged": sum(standin.usage.charged().values()),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
