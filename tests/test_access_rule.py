"""The one access rule (qportal.accounts.access): its ORM filter and its SQL fragment agree for an
owner, a member, a viewer and an outsider, on jobs, profiles and credentials, for reading and for
writing; the job detail (SQL), the job list (ORM) and both websocket streams follow it."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from qportal.accounts import access
from qportal.accounts.models import IBMCredential
from qportal.jobs import detail, services
from qportal.jobs.models import Job
from qportal.profiles.models import ExecutorProfile
from tests.circuits import BELL
from tests.test_websockets import app, connect, fresh_layer  # noqa: F401  (fixtures)

PEOPLE = {"alice": (True, True), "bob": (True, True), "viola": (True, False), "charlie": (False, False)}


@pytest.fixture
def lab_objects(users):
    lab = users["lab"]
    job = services.submit_job(
        users["alice"], services.Submission(profile="local", circuits=[{"qasm": BELL}], team=lab.id)
    )
    profile = ExecutorProfile.objects.create(team=lab, name="lab-local", kind="local", backend="aer_simulator")
    cred = IBMCredential(team=lab, name="lab-ibm")
    cred.set_token("token-for-access-test")
    cred.save()
    return {Job: job.pk, ExecutorProfile: profile.pk, IBMCredential: cred.pk}


def _normal(model, value):
    return str(uuid.UUID(str(value))) if model is Job else int(value)  # SQLite keeps UUIDs as hex


def _by_sql(model, user, write: bool) -> set:
    fragment, params = access.team_ids_sql(user, write=write)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {model._meta.db_table} WHERE team_id IN ({fragment})", params)
        return {_normal(model, row[0]) for row in cursor.fetchall()}


def _by_orm(model, user, write: bool) -> set:
    return {
        _normal(model, v)
        for v in model.objects.filter(access.team_filter(user, write=write)).values_list("id", flat=True)
    }


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize("model", [Job, ExecutorProfile, IBMCredential], ids=lambda m: m.__name__)
def test_orm_and_sql_forms_agree(users, lab_objects, who, model):
    user, (sees, writes) = users[who], PEOPLE[who]
    lab_id = _normal(model, lab_objects[model])
    for write, expected in ((False, sees), (True, writes)):
        orm, sql = _by_orm(model, user, write), _by_sql(model, user, write)
        assert orm == sql
        assert (lab_id in orm) == expected
    assert access.can_write(user, users["lab"].id) == writes
    assert (users["lab"].id in access.team_ids(user)) == sees
    assert (users["lab"].id in access.team_ids(user, write=True)) == writes


@pytest.mark.parametrize("model", [Job, ExecutorProfile, IBMCredential], ids=lambda m: m.__name__)
def test_both_forms_honour_a_team_scoped_key(users, lab_objects, model):
    """A request with a key limited to alice's personal team sees none of lab's objects."""
    alice, lab_id = users["alice"], _normal(model, lab_objects[model])
    alice.key_team_id = access.personal_team(alice).id
    for write in (False, True):
        orm, sql = _by_orm(model, alice, write), _by_sql(model, alice, write)
        assert orm == sql and lab_id not in orm
    assert not access.can_write(alice, users["lab"].id) and not access.is_owner(alice, users["lab"].id)
    assert access.team_ids(alice) == [alice.key_team_id]
    with pytest.raises(access.NotFound):
        access.membership(alice, users["lab"].id)
    alice.key_team_id = users["lab"].id
    assert lab_id in _by_orm(model, alice, True) == _by_sql(model, alice, True)
    assert access.personal_team(alice).id == users["lab"].id


@pytest.mark.parametrize("who", PEOPLE)
def test_job_detail_list_and_profiles_follow_the_rule(users, lab_objects, who):
    user, (sees, _) = users[who], PEOPLE[who]
    job_id = lab_objects[Job]
    listed = services.jobs_for(user).filter(id=job_id).exists()
    try:
        detail.job_detail(user, job_id)
        shown = True
    except access.NotFound:
        shown = False
    assert listed == shown == sees
    from qportal.profiles.services import resolve_profile, visible_profiles

    assert visible_profiles(user).filter(name="lab-local").exists() == sees
    try:
        resolve_profile(user, "lab-local")
        resolved = True
    except access.NotFound:
        resolved = False
    assert resolved == sees


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("who", PEOPLE)
async def test_websocket_streams_follow_the_rule(app, users, who):  # noqa: F811
    user, (sees, _) = users[who], PEOPLE[who]
    lab = users["lab"]
    job = await sync_to_async(services.submit_job)(
        users["alice"], services.Submission(profile="local", circuits=[{"qasm": BELL}], team=lab.id)
    )
    comm, connected, _ = await connect(app, "/ws/jobs/", user)
    assert connected
    hello = await comm.receive_json_from(5)
    assert (lab.id in hello["teams"]) == sees
    await comm.disconnect()
    comm, connected, code = await connect(app, f"/ws/jobs/{job.id}/", user)
    if sees:
        assert connected and (await comm.receive_json_from(5))["type"] == "hello"
        await comm.disconnect()
    else:
        assert not connected or (await comm.receive_output(5))["type"] == "websocket.close"
