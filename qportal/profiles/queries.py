"""Every hand-written statement of the profiles app, by name: finding the profile a submission
names, on every submission (bench/README.md, benchmark 4).  Identifiers double-quoted, values as
parameters; rows come back as the model instances the ORM would build."""

from __future__ import annotations

from qportal import rawsql
from qportal.accounts import queries as accounts_queries
from qportal.accounts.access import key_team_id, team_ids_sql
from qportal.accounts.models import Team
from qportal.profiles.models import ExecutorProfile


def visible_named(user, name: str, *, with_personal_team: bool = False) -> tuple[list[ExecutorProfile], Team | None]:
    """The profiles named ``name`` that ``user`` may see (built-in, or of a team they are a member
    of: the access rule's SQL form), their teams joined; with ``with_personal_team`` also the user's
    personal team (as ``access.personal_team`` finds it), from the same statement."""
    profiles, teams, personal_teams = (
        rawsql.columns(ExecutorProfile, "p"),
        rawsql.columns(Team, "t"),
        rawsql.columns(Team, "pt"),
    )
    select, join, params = f"{profiles.select()}, {teams.select()}", "", []
    if with_personal_team:
        subquery, params = accounts_queries.personal_team_id_sql(user.pk, key_team_id(user))
        select += ", " + personal_teams.select()
        join = f' LEFT OUTER JOIN {personal_teams.table()} ON "pt"."id" = ({subquery})'
    teams_sql, teams_params = team_ids_sql(user)
    rows = rawsql.fetch(
        f"SELECT {select} FROM {profiles.table()}"
        f' LEFT OUTER JOIN {teams.table()} ON "t"."id" = "p"."team_id"{join}'
        f' WHERE "p"."name" = %s AND ("p"."team_id" IS NULL OR "p"."team_id" IN ({teams_sql}))',
        [*params, name, *teams_params],
    )
    found, personal = [], None
    n, t = len(profiles), len(teams)
    for row in rows:
        profile = profiles.build(row[:n])
        profile.team = teams.build(row[n : n + t]) if profile.team_id is not None else None
        found.append(profile)
        if with_personal_team and personal is None and row[n + t] is not None:
            personal = personal_teams.build(row[n + t :])
    return found, personal
