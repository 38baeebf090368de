"""The portal at scale, part by part: ``bench_scale.py history [--jobs N] [--keep]`` and
``bench_scale.py bigjob [--circuits N] [--shots N]`` (``scale_bigjob.py``: a big job end to end).

``history``: N jobs (default 1,000,000) in one team on PostgreSQL, written by one
``INSERT ... SELECT generate_series`` (names from ten experiment kinds, one to three tags of
which one is common and one rare, mostly finished statuses, two years of creation times), plus
a neighbouring team's 100,000 that the user must never see. Then, in this process, through
Django's test client and the portal's whole API path (API key, middleware, ninja, the ORM,
serialisation), ``GET /api/v1/jobs`` with ``page_size=20`` for: the first page, a page by
cursor 800,000 jobs deep (what ``page=40000`` was), a common tag, a rare tag, a status, a name
search and a job-id search. Each request is alternated with a plain indexed SELECT of the same
rows by primary key (``SELECT * FROM jobs_job WHERE id = ANY(...)``) on the same connection;
then the SELECT is timed alone, in a loop of its own, as many times. The script prints the
API's p50 as a ratio to each SELECT p50 (target: each within 20x). The SELECT alone is the
stricter baseline: in a tight loop its caches stay warm, and it runs 1.5-2.5x faster.

The database is ``qportal_bench_scale`` on 127.0.0.1:5432 (user ``postgres``). It is kept after
the run with ``--keep``, and a kept one with the right number of jobs is reused (migrated to
this checkout first): generating and indexing 1,000,000 jobs takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _portal import PG_ADMIN, load  # noqa: E402

DB = "qportal_bench_scale"
KINDS = ["bell", "ghz", "vqe h2", "qaoa maxcut", "grover", "qft", "teleport", "bernstein-vazirani", "sweep", "calib"]
COMMON_TAGS = ["nightly", "paper", "device-test", "student", "calibration"]

# $1 team, $2 user, $3 profile, $4 how many, $5 a seed that makes one team's names differ.
GENERATE = """
INSERT INTO jobs_job (id, name, tags, tag_index, primitive, shots, num_circuits, circuits_done, status,
    sub_status, error, cancel_requested, created, submitted_at, started_at, finished_at, execution_time,
    attempt, recoveries, worker_id, submit_key, remote_ids, last_seq, created_by_id, profile_id, team_id,
    ran_on)
SELECT gen_random_uuid(), s.name, to_jsonb(s.tags), '|' || array_to_string(s.tags, '|') || '|', 'sampler',
    1000, 1 + g %% 8, CASE WHEN s.status = 'done' THEN 1 + g %% 8 ELSE 0 END, s.status, '',
    CASE WHEN s.status = 'failed' THEN 'backend error' ELSE '' END, false, s.created,
    s.created + interval '1 second', s.created + interval '2 seconds',
    CASE WHEN s.status IN ('done', 'failed', 'cancelled') THEN s.created + interval '9 seconds' END,
    CASE WHEN s.status = 'done' THEN 7.0 END, 1, 0, '', '', '[]'::jsonb, 6, %(user)s, %(profile)s,
    %(team)s, ''
FROM generate_series(1::bigint, %(count)s) AS g,
LATERAL (SELECT
    (ARRAY[{kinds}])[1 + (g * 7 + %(seed)s) %% 10] || ' ' || ((g * 7919 + %(seed)s) %% 100000) AS name,
    CASE WHEN g %% 3 = 0
        THEN ARRAY[(ARRAY[{tags}])[1 + g %% 5], 'exp-' || (g * 13 %% 500)]
        ELSE ARRAY[(ARRAY[{tags}])[1 + g %% 5]] END AS tags,
    CASE WHEN g > %(count)s - 20 THEN 'queued' WHEN g %% 100 < 90 THEN 'done'
        WHEN g %% 100 < 96 THEN 'failed' ELSE 'cancelled' END AS status,
    now() - (%(count)s - g) * interval '60 seconds' - (g %% 7) * interval '1 millisecond' AS created
) AS s
""".format(
    kinds=", ".join(f"'{k}'" for k in KINDS),
    tags=", ".join(f"'{t}'" for t in COMMON_TAGS),
)


def _setup_django() -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("QPORTAL_API_RATE", "1000000000/minute")
    import django

    django.setup()


def _database_exists() -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone() is not None


def _recreate_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')


def _drop_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


# ----------------------------------------------------------------------------------------------
# history


def _history_data(count: int):
    """The bench user, their API key and the big team: generated unless a kept database has them."""
    from django.core.management import call_command
    from django.db import connection

    from qportal.accounts.access import ensure_user
    from qportal.accounts.models import ApiKey, Membership, Role, Team
    from qportal.jobs.models import Job
    from qportal.profiles.models import ExecutorProfile

    call_command("migrate", verbosity=0)
    user = ensure_user("bench")
    team, _ = Team.objects.get_or_create(name="history")
    neighbours, _ = Team.objects.get_or_create(name="neighbours")
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": Role.OWNER})
    other = ensure_user("neighbour")
    Membership.objects.get_or_create(team=neighbours, user=other, defaults={"role": Role.OWNER})
    if Job.objects.filter(team=team).count() != count:
        profile = ExecutorProfile.objects.get(name="local", team__isnull=True)
        Job.objects.filter(team__in=[team, neighbours]).delete()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for which, number, seed in ((team, count, 0), (neighbours, count // 10, 3)):
                cursor.execute(
                    GENERATE, {"team": which.id, "user": user.id, "profile": profile.id, "count": number, "seed": seed}
                )
        print(f"generated {count} + {count // 10} jobs in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE jobs_job")
    print(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")
    _, key = ApiKey.issue(user)
    return user, key, team


def _cases(team) -> list[tuple[str, dict]]:
    """(label, query) per measured request; the deep page's cursor is the 800,000th job's."""
    from qportal.jobs import history
    from qportal.jobs.filters import sort_keys
    from qportal.jobs.models import Job

    newest = Job.objects.filter(team=team).order_by("-created", "-id")
    deep = newest[800_000 - 1 : 800_000].first() or newest.last()
    some = newest[123_456 - 1 : 123_456].first() or newest.last()
    return [
        ("first page", {}),
        ("deep page (cursor, 800,000 in)", {"cursor": history.cursor_after(deep, sort_keys(None), "-created")}),
        ("tag, common (nightly)", {"tag": "nightly"}),
        ("tag, rare (exp-123)", {"tag": "exp-123"}),
        ("status (failed)", {"status": "failed"}),
        ("name search (q=maxcut 4821)", {"q": "maxcut 4821"}),
        ("job-id search (q=8 hex digits)", {"q": str(some.id)[:8]}),
    ]


def _plain_select(connection, ids: list[str]) -> float:
    """Seconds to read the rows ``ids`` by primary key: the baseline."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM jobs_job WHERE id = ANY(%s::uuid[])", [ids])
        cursor.fetchall()
    return time.perf_counter() - started


def history_part(args) -> None:
    if not args.reuse or not _database_exists():
        _recreate_database()
    _setup_django()
    from django.db import connection
    from django.test import Client

    user, key, team = _history_data(args.jobs)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    print(load())
    print(f"{'case':36} {'rows':>4} {'API p50':>10} {'SELECT p50':>11} {'ratio':>6} {'alone':>9} {'ratio':>6}")
    ratios, strict = [], []
    for label, query in _cases(team):
        params = {"page_size": 20, **query}
        api, plain, alone = [], [], []
        ids: list[str] = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            resp = client.get("/api/v1/jobs", params)
            api.append(time.perf_counter() - started)
            assert resp.status_code == 200, resp.content[:300]
            ids = [item["id"] for item in resp.json()["items"]]
            plain.append(_plain_select(connection, ids))
        for _ in range(args.rounds):
            alone.append(_plain_select(connection, ids))
        ratios.append(p50_ms(api) / p50_ms(plain))
        strict.append(p50_ms(api) / p50_ms(alone))
        print(
            f"{label:36} {len(ids):4} {p50_ms(api):7.2f} ms {p50_ms(plain):8.3f} ms {ratios[-1]:5.1f}x "
            f"{p50_ms(alone):6.3f} ms {strict[-1]:5.1f}x"
        )
    print(load())
    for name, found in (("alternated SELECT", ratios), ("SELECT alone", strict)):
        verdict = "met" if max(found) <= 20 else "missed"
        print(f"worst ratio to the {name}: {max(found):.1f}x (target <= 20x): {verdict}")
    connection.close()
    if not args.keep:
        _drop_database()


PARTS = {"history": history_part}


def main() -> None:
    if sys.argv[1:2] == ["bigjob"]:  # its own options: scale_bigjob.py --help
        from scale_bigjob import main as bigjob

        bigjob(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = parser.add_subparsers(dest="part", required=True)
    history = parts.add_parser("history", help="1,000,000 jobs in one team: list, page, filter and search")
    history.add_argument("--jobs", type=int, default=1_000_000)
    history.add_argument("--rounds", type=int, default=200, help="requests per case (each with its SELECT)")
    history.add_argument("--keep", action="store_true", help="keep the database for the next run")
    history.add_argument("--reuse", action="store_true", help="reuse a kept database with --jobs jobs")
    parts.add_parser("bigjob", help="N circuits x 16 qubits x 100,000 shots end to end (scale_bigjob.py)")
    args = parser.parse_args()
    PARTS[args.part](args)


if __name__ == "__main__":
    main()
