"""The hand-written SQL on every request (``qportal.rawsql``): same objects and same authorization as the ORM."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.forms.models import model_to_dict

from qportal.accounts import access, keys
from qportal.accounts.models import ApiKey, Membership, Team
from qportal.jobs.models import Job
from qportal.profiles.models import ExecutorProfile
from qportal.profiles.services import resolve_profile
from tests.circuits import BELL

JOB = {"profile": "local", "circuits": [{"qasm": BELL}]}


def fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_api_key_lookup_builds_the_objects_the_orm_builds(users):
    key, secret = ApiKey.issue(users["alice"])
    ApiKey.objects.filter(id=key.id).update(last_used="2026-01-02T03:04:05Z")
    found = keys.authenticate(secret)
    orm = ApiKey.objects.select_related("user").get(id=key.id)
    assert fields(found) == fields(orm) and fields(found.user) == fields(orm.user)
    assert found.last_used.tzinfo is not None and found.user.is_active is True


def test_refused_keys_get_401_and_store_nothing(client, users):
    alice = users["alice"]
    revoked, revoked_secret = ApiKey.issue(alice)
    revoked.delete()
    _, good = ApiKey.issue(alice)
    lookup = good.split("_")[1]
    inactive_user = get_user_model().objects.create_user("ina")
    _, inactive = ApiKey.issue(inactive_user)
    inactive_user.is_active = False
    inactive_user.save()
    for token in (revoked_secret, f"qp_{lookup}_not-the-secret", inactive, "qp_nolookup", f"xx_{lookup}_x"):
        resp = client.post("/api/v1/jobs", JOB, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert resp.status_code == 401, token
    assert not Job.objects.exists()
    resp = client.post("/api/v1/jobs", JOB, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {good}")
    assert resp.status_code == 201 and Job.objects.count() == 1


def test_profile_visibility_matches_the_orm(users):
    lab = users["lab"]
    other = Team.objects.create(name="other")
    Membership.objects.create(team=other, user=users["charlie"])
    ExecutorProfile.objects.create(team=lab, name="quick", kind="local", shots=200, options={"seed": 7})
    ExecutorProfile.objects.create(team=other, name="theirs", kind="local")
    ExecutorProfile.objects.create(team=lab, name="local", kind="local", shots=300)  # shadows the built-in

    quick = resolve_profile(users["bob"], "quick")
    orm = ExecutorProfile.objects.select_related("team").get(team=lab, name="quick")
    assert fields(quick) == fields(orm) and fields(quick.team) == fields(orm.team)
    assert quick.options == {"seed": 7} and quick.team.name == "lab"
    assert resolve_profile(users["alice"], "local").team_id == lab.id  # a team's own profile shadows a built-in
    builtin = resolve_profile(users["charlie"], "local")  # built-ins are visible to everyone
    assert builtin.team_id is None and builtin.team is None
    assert fields(builtin) == fields(ExecutorProfile.objects.get(team=None, name="local"))
    for user, name in ((users["charlie"], "quick"), (users["alice"], "theirs"), (users["alice"], "nowhere")):
        try:
            resolve_profile(user, name)
        except access.NotFound:
            continue
        raise AssertionError(f"{user} sees {name}")


def test_team_lookups_match_the_orm_and_keep_roles(users):
    alice, viola, charlie, lab = users["alice"], users["viola"], users["charlie"], users["lab"]
    personal = access.personal_team(alice)
    assert fields(personal) == fields(Team.objects.get(personal=True, memberships__user=alice))
    assert personal.personal is True and personal.created.tzinfo is not None
    found = access.membership(viola, lab.id)
    assert model_to_dict(found) == model_to_dict(Membership.objects.get(user=viola, team=lab))
    assert found.team.name == "lab" and not found.can_write
    for user, team_id, error in ((viola, lab.id, access.ReadOnly), (charlie, lab.id, access.NotFound)):
        try:
            access.writable_membership(user, team_id)
        except error:
            continue
        raise AssertionError(f"{user} may write to {team_id}")


def test_submissions_land_in_the_right_team_or_nowhere(api_for, users):
    lab = users["lab"].id
    job = api_for("alice").post("/jobs", JOB).json()
    assert job["team"] == access.personal_team(users["alice"]).id and job["team_name"] == "alice (personal)"
    assert api_for("bob").post("/jobs", {**JOB, "team": lab}).json()["team"] == lab
    assert api_for("viola").post("/jobs", {**JOB, "team": lab}).status_code == 403
    assert api_for("charlie").post("/jobs", {**JOB, "team": lab}).status_code == 404
    assert Job.objects.count() == 2


def test_submitted_rows_read_back_as_the_objects_submit_returned(users):
    from qportal.jobs import services
    from qportal.jobs.models import JobCircuit, JobEvent

    sub = services.Submission(
        profile="local", circuits=[{"qasm": BELL, "name": "a"}, {"qasm": BELL}], name="n", tags=["x", "y"], shots=7
    )
    job = services.submit_job(users["alice"], sub)
    stored = Job.objects.get(id=job.id)
    assert fields(job) == fields(stored) and not job._state.adding
    assert (stored.tags, stored.tag_index, stored.last_seq, stored.status) == (["x", "y"], "|x|y|", 1, "queued")
    circuits = list(JobCircuit.objects.filter(job=job).order_by("index").values_list("index", "name", "num_qubits"))
    assert [(i, q) for i, _, q in circuits] == [(0, 2), (1, 2)] and circuits[0][1] == "a"
    (event,) = JobEvent.objects.filter(job=job)
    assert (event.seq, event.kind, event.data) == (1, "queued", {})


def test_profile_query_also_brings_the_personal_team(users):
    from qportal.profiles.services import resolve_profile_and_personal_team

    alice, lab = users["alice"], users["lab"]
    profile, personal = resolve_profile_and_personal_team(alice, "local")
    assert profile.team_id is None and fields(personal) == fields(access.personal_team(alice))
    assert resolve_profile_and_personal_team(alice, "local", lab.id)[1] is None  # not needed with a team
    # Another user's personal team, or a team alice merely belongs to, is never hers.
    Membership.objects.filter(user=alice, team__personal=True).delete()
    Membership.objects.create(team=access.personal_team(users["bob"]), user=alice, role="member")
    assert resolve_profile_and_personal_team(alice, "local")[1] is None
    job = services_submit(alice)
    created = access.personal_team(alice)
    assert job.team_id == created.id and created.name == "alice (personal)"
    assert created.id != access.personal_team(users["bob"]).id


def services_submit(user):
    from qportal.jobs import services

    return services.submit_job(user, services.Submission(profile="local", circuits=[{"qasm": BELL}]))
