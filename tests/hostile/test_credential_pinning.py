"""A credential's endpoint cannot be moved without its token, and a token is never sent off IBM's hosts.

The attack: a member (not an owner) changes the team credential's ``url``/``proxies`` to a host of
theirs and leaves the token out, then waits for the worker's background check to send the stored
token there. The receiver is a loopback listener that records every byte; the client's
environment routes every host through it (as the stand-in IBM API's tests do), so whatever
the client would send to the attacker's host arrives there.
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from qportal.accounts import checks
from qportal.accounts.models import CredentialStatus, IBMCredential
from tests.hostile.receiver import Receiver

TOKEN = "tok-PINNED-4b1d9e77c0a2f35e-abcd"
CRN = "crn:v1:bluemix:public:quantum-computing:us-east:a/lab:0b8f4c3e-1d2a-4e5b-9c7d-6f1a2b3c4d5e::"


def _stored(api, team, standin=None):
    body = {"name": "team-ibm", "token": TOKEN, "instance": CRN, "team": team.id}
    resp = api.post("/credentials", body)
    assert resp.status_code == 201, resp.content
    return resp.json()


@pytest.fixture
def receiver(monkeypatch):
    with Receiver() as server:
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(key, server.url)
        for key in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(key, raising=False)
        yield server


def _reach(cred_id: int) -> tuple:
    cred = IBMCredential.objects.get(id=cred_id)
    return cred.url, cred.proxies, cred.verify, cred.channel, cred.instance, cred.decrypt_token()


@pytest.mark.parametrize(
    "change",
    [
        {"url": "http://evil.test"},
        {"proxies": {"urls": {"https": "http://127.0.0.1:9", "http": "http://127.0.0.1:9"}}},
        {"verify": False},
        {"channel": "ibm_cloud"},
        {"instance": "crn:v1:someone-else::"},
    ],
    ids=["url", "proxies", "verify", "channel", "instance"],
)
@pytest.mark.parametrize("who", ["bob", "alice"])  # a member, and the owner: both must re-enter it
def test_where_the_token_goes_changes_only_with_the_token(api_for, users, who, change):
    cred = _stored(api_for("alice"), users["lab"])
    before = _reach(cred["id"])
    body = {"name": "team-ibm", "instance": CRN, **change}
    resp = api_for(who).put(f"/credentials/{cred['id']}", body)
    assert resp.status_code == 400
    field = next(iter(change))
    assert f"changing {field}" in resp.json()["detail"] and "enter the token again" in resp.json()["detail"]
    assert _reach(cred["id"]) == before  # nothing half-written


def test_rename_without_token_still_works(api_for, users):
    cred = _stored(api_for("alice"), users["lab"])
    resp = api_for("bob").put(f"/credentials/{cred['id']}", {"name": "renamed", "instance": CRN})
    assert resp.status_code == 200 and resp.json()["name"] == "renamed"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_member_cannot_get_the_token_sent_to_a_loopback_receiver(api_for, users, receiver):
    cred = _stored(api_for("alice"), users["lab"])
    redirect = {
        "name": "team-ibm",
        "instance": CRN,
        "url": "http://attacker.test",
        "proxies": {"urls": {"http": receiver.url, "https": receiver.url}},
    }
    resp = api_for("bob").put(f"/credentials/{cred['id']}", redirect)
    assert resp.status_code == 400
    IBMCredential.objects.filter(id=cred["id"]).update(status=CredentialStatus.UNCHECKED, checked_at=None)
    checks.check_credential(cred["id"])  # the worker's background check of the credential
    # The credential still points at IBM: the only traffic is an encrypted tunnel to IBM's IAM.
    assert TOKEN.encode() not in receiver.received and b"attacker" not in receiver.received
    assert receiver.received.startswith(b"CONNECT iam.cloud.ibm.com:443 ")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@override_settings(IBM_HOSTS=["cloud.ibm.com", "*.cloud.ibm.com"], IBM_PROXY_HOSTS=[], IBM_ALLOW_HTTP=False)
def test_worker_refuses_a_stored_endpoint_outside_the_policy(users, receiver):
    """A row written before this rule (or by hand) with a foreign endpoint: the worker sends nothing."""
    cred = IBMCredential(
        team=users["lab"],
        name="old",
        url="http://attacker.test",
        proxies={"urls": {"http": receiver.url, "https": receiver.url}},
    )
    cred.set_token(TOKEN)
    cred.save()
    checks.check_credential(cred.id)
    cred.refresh_from_db()
    assert cred.status == CredentialStatus.INVALID
    assert cred.status_reason == "url must be an https URL"
    assert TOKEN not in cred.status_reason
    assert receiver.connections == 0 and TOKEN.encode() not in receiver.received


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"url": "https://127.0.0.1:8443"}, "is not an IBM Quantum endpoint"),
        ({"url": "https://quantum.cloud.ibm.com.evil.example"}, "is not an IBM Quantum endpoint"),
        ({"url": "https://evilcloud.ibm.com"}, "is not an IBM Quantum endpoint"),
        ({"url": "https://user:pw@quantum.cloud.ibm.com"}, "user name or password"),
        ({"proxies": {"urls": {"https": "http://10.0.0.5:3128"}}}, "is not an allowed proxy"),
    ],
)
def test_endpoints_outside_the_policy_are_refused_on_save(api_for, users, fields, message):
    body = {"name": "x", "token": TOKEN, "team": users["lab"].id, **fields}
    resp = api_for("alice").post("/credentials", body)
    assert resp.status_code == 400 and message in resp.json()["detail"]
    assert TOKEN not in resp.content.decode()
    assert not IBMCredential.objects.filter(name="x").exists()


@override_settings(IBM_HOSTS=["cloud.ibm.com", "*.cloud.ibm.com"], IBM_ALLOW_HTTP=False)
def test_default_policy_is_https_and_ibm(api_for, users):
    api = api_for("alice")
    bad = api.post(
        "/credentials", {"name": "x", "token": TOKEN, "team": users["lab"].id, "url": "http://cloud.ibm.com"}
    )
    assert bad.status_code == 400 and "must be an https URL" in bad.json()["detail"]
    good = {"name": "y", "token": TOKEN, "team": users["lab"].id, "url": "https://quantum.cloud.ibm.com"}
    assert api.post("/credentials", good).status_code == 201
