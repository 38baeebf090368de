"""Every hand-written statement of the accounts app, by name: the lookups on every API request
(a key and its user, a membership and its team, the personal team).  Building the ORM's query
cost more CPU than running it (bench/README.md, benchmark 4).  Identifiers double-quoted, values
as parameters; the rows come back as the model instances the ORM would build (``rawsql.Columns``).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from qportal import rawsql
from qportal.accounts.models import ApiKey, Membership, Role, Team


def api_key_with_user(lookup: str) -> ApiKey | None:
    """The key whose public part is ``lookup``, its user attached."""
    keys, users = rawsql.columns(ApiKey, "k"), rawsql.columns(get_user_model(), "u")
    rows = rawsql.fetch(
        f"SELECT {keys.select()}, {users.select()} FROM {keys.table()} INNER JOIN {users.table()}"
        f' ON "u"."{users.model._meta.pk.column}" = "k"."user_id" WHERE "k"."lookup" = %s',
        [lookup],
    )
    if not rows:
        return None
    found = keys.build(rows[0][: len(keys)])
    found.user = users.build(rows[0][len(keys) :])
    return found


def membership_with_team(user_id: int, team_id: int) -> Membership | None:
    memberships, teams = rawsql.columns(Membership, "m"), rawsql.columns(Team, "t")
    rows = rawsql.fetch(
        f"SELECT {memberships.select()}, {teams.select()} FROM {memberships.table()}"
        f' INNER JOIN {teams.table()} ON "t"."id" = "m"."team_id" WHERE "m"."user_id" = %s AND "m"."team_id" = %s',
        [user_id, team_id],
    )
    if not rows:
        return None
    found = memberships.build(rows[0][: len(memberships)])
    found.team = teams.build(rows[0][len(memberships) :])
    return found


def personal_team_id_sql(user_id: int, key_team_id: int | None = None) -> tuple[str, list]:
    """A subquery for the id of the user's personal team (the one they own), and its parameters;
    with a team-scoped key's ``key_team_id``, that team if the user is still a member of it."""
    if key_team_id is not None:
        return (
            f'SELECT "m2"."team_id" FROM {rawsql.quoted(Membership)} "m2" WHERE "m2"."user_id" = %s'
            ' AND "m2"."team_id" = %s',
            [user_id, key_team_id],
        )
    return (
        f'SELECT "t2"."id" FROM {rawsql.quoted(Team)} "t2" INNER JOIN {rawsql.quoted(Membership)} "m2"'
        ' ON "m2"."team_id" = "t2"."id" WHERE "t2"."personal" AND "m2"."user_id" = %s AND "m2"."role" = %s'
        ' ORDER BY "t2"."id" LIMIT 1',
        [user_id, Role.OWNER.value],
    )


def personal_team(user_id: int) -> Team | None:
    teams = rawsql.columns(Team, "t")
    subquery, params = personal_team_id_sql(user_id)
    rows = rawsql.fetch(f'SELECT {teams.select()} FROM {teams.table()} WHERE "t"."id" = ({subquery})', params)
    return teams.build(rows[0]) if rows else None
