"""``GET /api/v1/teams/{id}/audit``: a team's audit trail, for its owners."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema
from ninja.pagination import paginate

from qportal.accounts import audit
from qportal.input import BoundedLimitOffset

router = Router(tags=["teams"])


class AuditOut(Schema):
    id: int
    created: datetime
    actor: str
    action: str
    target: str
    data: dict


@router.get(
    "/teams/{team_id}/audit",
    response=list[AuditOut],
    summary="A team's audit trail, newest first (owners)",
    description="Who did what to the team and when: credentials, profiles, cancelled, failed and deleted jobs "
    "(and members, roles and keys). `actor` is a username (blank: the portal itself). Members who are not "
    "owners get a 403; anyone outside the team a 404.",
)
@paginate(BoundedLimitOffset)
def team_audit(request, team_id: int):
    return audit.entries(request.user, team_id)
