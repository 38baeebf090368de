"""Notifications: subscriptions, the dispatcher over the job event log, signed webhooks to a
receiver on loopback, retries, email, and who may subscribe to what."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from qportal.accounts.models import AuditEntry
from qportal.notifications import delivery, dispatch
from qportal.notifications.models import Attempt, Delivery, ReadMark, Subscription
from tests.circuits import BELL
from tests.test_cloud_jobs import cloud_setup, executors  # noqa: F401 - the fixture
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.NOTIFY_RETRY_WAITS = [0, 0, 0]
    settings.PUBLIC_URL = "https://portal.example"


@pytest.fixture
def emails(users):
    for name in ("alice", "bob", "viola", "charlie"):
        users[name].email = f"{name}@example.org"
        users[name].save(update_fields=["email"])
    return users


def subscribe(api, status=201, **body):
    resp = api.post("/notifications", body)
    assert resp.status_code == status, resp.content
    return resp.json()


def queued_job(api, team, name="n1") -> str:
    resp = api.post("/jobs", {"profile": "local", "team": team.id, "circuits": [{"qasm": BELL}], "name": name})
    assert resp.status_code == 201, resp.content
    return resp.json()["id"]


def cancelled_job(api, team, name="n1") -> str:
    job_id = queued_job(api, team, name)
    assert api.post(f"/jobs/{job_id}/cancel").status_code == 200
    return job_id


def test_webhook_is_signed_and_its_body_holds_no_token(api_for, users, standin, executors, run_jobs):  # noqa: F811
    alice = api_for("alice")
    cloud_setup(alice, users["lab"], standin)
    with WebhookReceiver() as receiver:
        sub = subscribe(alice, channel="webhook", url=receiver.url)
        secret = sub["secret"]
        assert len(secret) >= 32
        resp = alice.post("/jobs", {"profile": "cloud", "team": users["lab"].id, "circuits": [{"qasm": BELL}]})
        job_id = resp.json()["id"]
        run_jobs()
        assert alice.get(f"/jobs/{job_id}").json()["status"] == "done"
        assert delivery.run_once() == ["delivered"]
        [request] = receiver.requests
    assert request.verifies(secret) and not request.verifies(secret + "x")
    body = json.loads(request.body)
    assert set(body) == {"event", "job", "url", "delivery", "sent_at"}
    assert set(body["job"]) == {
        "id", "name", "status", "team", "profile", "circuits", "shots", "created", "finished_at", "error"
    }  # fmt: skip
    assert body["event"] == "job.done" and body["job"]["id"] == job_id and body["job"]["status"] == "done"
    assert body["job"]["profile"] == "cloud" and body["job"]["team"] == "lab"
    assert body["url"] == f"https://portal.example/jobs/{job_id}/"
    [made] = Delivery.objects.all()
    assert request.headers["X-Qportal-Delivery"] == str(made.id) == body["delivery"]
    assert request.headers["X-Qportal-Event"] == "job.done"
    assert abs(int(request.headers["X-Qportal-Timestamp"]) - timezone.now().timestamp()) < 60
    raw = request.body + json.dumps(request.headers).encode()
    assert standin.token.encode() not in raw and secret.encode() not in raw
    # The secret is never shown again, nor kept in clear.
    listed = alice.get("/notifications").json()
    assert secret not in json.dumps(listed) and "secret" not in listed[0]
    assert secret not in Subscription.objects.get().secret_encrypted


def test_slack_format_is_text_only(api_for, users):
    alice = api_for("alice")
    with WebhookReceiver() as receiver:
        sub = subscribe(alice, channel="webhook", url=receiver.url, format="slack", secret="s" * 20)
        assert sub["secret"] == "s" * 20
        job_id = cancelled_job(alice, users["alice"].memberships.get(team__personal=True).team, "bell")
        assert delivery.run_once() == ["delivered"]
        [request] = receiver.requests
    assert json.loads(request.body) == {"text": f"qportal: job bell cancelled: https://portal.example/jobs/{job_id}/"}
    assert request.verifies("s" * 20)


def test_a_receiver_answering_500_twice_gets_the_third_try(api_for, users):
    alice = api_for("alice")
    with WebhookReceiver([500, 500]) as receiver:
        sub = subscribe(alice, channel="webhook", url=receiver.url)
        cancelled_job(alice, users["lab"])
        assert delivery.run_once() == ["pending"]
        assert delivery.run_once() == ["pending"]
        assert delivery.run_once() == ["delivered"]
        assert delivery.run_once() == []
        assert len(receiver.requests) == 3
    ids = {r.headers["X-Qportal-Delivery"] for r in receiver.requests}
    assert len(ids) == 1  # the same delivery, three times
    [made] = Delivery.objects.all()
    assert made.status == "delivered" and made.attempts == 3
    assert [(a.number, a.status_code, a.ok, a.error) for a in Attempt.objects.order_by("number")] == [
        (1, 500, False, "HTTP 500"),
        (2, 500, False, "HTTP 500"),
        (3, 200, True, ""),
    ]
    log = alice.get(f"/notifications/{sub['id']}/deliveries").json()
    assert log["count"] == 1 and [a["status_code"] for a in log["items"][0]["attempt_log"]] == [500, 500, 200]


def test_retries_wait_longer_each_time_then_give_up(api_for, users, settings):
    settings.NOTIFY_RETRY_WAITS = [10, 30]
    alice = api_for("alice")
    with WebhookReceiver([500, 503, 500, 500]) as receiver:
        subscribe(alice, channel="webhook", url=receiver.url)
        cancelled_job(alice, users["lab"])
        waits = []
        for _ in range(3):
            before = timezone.now()
            delivery.run_once()
            made = Delivery.objects.get()
            waits.append(round((made.next_attempt_at - before).total_seconds()))
            assert delivery.run_once() == []  # not due yet
            Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        assert len(receiver.requests) == 3
    made = Delivery.objects.get()
    assert waits[:2] == [10, 30] and made.status == "failed" and made.attempts == 3
    assert made.last_status_code == 500


def test_email_goes_to_the_users_address(api_for, emails):
    alice = api_for("alice")
    subscribe(alice, channel="email")
    job_id = cancelled_job(alice, emails["lab"], "bell")
    assert delivery.run_once() == ["delivered"]
    [message] = mail.outbox
    assert message.to == ["alice@example.org"] and message.subject == "qportal: job bell cancelled"
    assert f"https://portal.example/jobs/{job_id}/" in message.body and "Team: lab" in message.body


def test_email_needs_an_address(api_for, users):
    assert "no email address" in subscribe(api_for("alice"), 400, channel="email")["detail"]


def test_who_hears_of_what(api_for, emails):
    alice, bob, charlie = api_for("alice"), api_for("bob"), api_for("charlie")
    lab = emails["lab"].id
    subscribe(alice, channel="email", events=["job.done"])  # alice: her own jobs, done only
    subscribe(bob, channel="email", scope="team", team=lab)  # bob: every lab job
    subscribe(charlie, channel="email")  # charlie: his own jobs
    cancelled_job(alice, emails["lab"], "alices")
    assert delivery.run_once() == ["delivered"]
    assert [(m.to, m.subject) for m in mail.outbox] == [(["bob@example.org"], "qportal: job alices cancelled")]


def test_a_job_ended_before_the_subscription_is_not_told(api_for, emails):
    alice = api_for("alice")
    cancelled_job(alice, emails["lab"])
    subscribe(alice, channel="email")
    assert delivery.run_once() == [] and not Delivery.objects.exists()


def test_one_delivery_per_event_and_subscription_however_often_the_log_is_read(api_for, emails, settings):
    alice = api_for("alice")
    subscribe(alice, channel="email")
    subscribe(alice, channel="email", scope="team", team=emails["lab"].id)
    start = ReadMark.objects.get().last_id
    cancelled_job(alice, emails["lab"])
    assert dispatch.dispatch() == 2
    assert dispatch.dispatch() == 0
    ReadMark.objects.update(last_id=start)  # a dispatcher that read the same rows again
    dispatch.dispatch(now=timezone.now() + timedelta(seconds=settings.NOTIFY_GAP_SECONDS + 1))
    assert Delivery.objects.count() == 2
    assert ReadMark.objects.get().last_id > start


def test_the_mark_waits_at_a_fresh_gap_in_the_ids(api_for, emails, settings):
    from qportal.jobs.models import JobEvent

    alice = api_for("alice")
    subscribe(alice, channel="email")
    job_id = cancelled_job(alice, emails["lab"])
    last = JobEvent.objects.filter(job_id=job_id).order_by("-id").first()
    # As if the id before the "cancelled" row belonged to a transaction not yet committed.
    JobEvent.objects.filter(id=last.id).update(id=last.id + 5)
    assert dispatch.dispatch() == 1  # sent at once,
    assert ReadMark.objects.get().last_id < last.id + 5  # but the mark waits before the gap
    assert dispatch.dispatch() == 0  # read again, never made twice
    assert dispatch.dispatch(now=timezone.now() + timedelta(seconds=settings.NOTIFY_GAP_SECONDS + 1)) == 0
    assert ReadMark.objects.get().last_id == last.id + 5 and Delivery.objects.count() == 1


def test_viewers_subscribe_by_email_only_and_outsiders_not_at_all(api_for, emails):
    lab = emails["lab"].id
    viola, charlie, bob, alice = (api_for(n) for n in ("viola", "charlie", "bob", "alice"))
    url = "http://127.0.0.1:9/hook"
    assert "viewer" in subscribe(viola, 403, channel="webhook", scope="team", team=lab, url=url)["detail"]
    subscribe(charlie, 404, channel="webhook", scope="team", team=lab, url=url)
    subscribe(charlie, 404, channel="email", scope="team", team=lab)
    own = subscribe(viola, channel="email", scope="team", team=lab)
    hook = subscribe(bob, channel="webhook", scope="team", team=lab, url=url)
    assert viola.delete(f"/notifications/{hook['id']}").status_code == 404
    assert charlie.delete(f"/notifications/{hook['id']}").status_code == 404
    assert charlie.post(f"/notifications/{hook['id']}/test").status_code == 404
    assert charlie.get(f"/notifications/{hook['id']}/deliveries").status_code == 404
    assert [s["id"] for s in charlie.get("/notifications").json()] == []
    assert {s["id"] for s in alice.get("/notifications").json()} == {own["id"], hook["id"]}
    assert alice.delete(f"/notifications/{hook['id']}").status_code == 204
    assert viola.delete(f"/notifications/{own['id']}").status_code == 204
    entries = list(AuditEntry.objects.filter(team_id=lab).order_by("id").values_list("actor", "action", "target"))
    assert entries == [
        ("viola", "notification.created", "email to viola"),
        ("bob", "notification.created", "webhook http://127.0.0.1:9/…hook"),
        ("alice", "notification.deleted", "webhook http://127.0.0.1:9/…hook"),
        ("viola", "notification.deleted", "email to viola"),
    ]
    assert hook["secret"] not in str(list(AuditEntry.objects.values_list("data", flat=True)))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "ftp://example.org/",
        "file:///etc/passwd",
        "http://user:pw@example.org/",
        "http:///nohost",
        "http://no-such-host.invalid/",
        "",
    ],
)
def test_hostile_urls_are_refused(api_for, users, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    detail = subscribe(api_for("alice"), 400, channel="webhook", url=url)["detail"]
    assert detail.startswith("url: ")
    assert not Subscription.objects.exists()


def test_a_url_that_turns_private_is_refused_at_send_time_for_good(api_for, users, settings):
    alice = api_for("alice")
    with WebhookReceiver() as receiver:
        subscribe(alice, channel="webhook", url=receiver.url)
        cancelled_job(alice, users["lab"])
        settings.WEBHOOK_ALLOW_PRIVATE = False
        assert delivery.run_once() == ["failed"]
        assert receiver.requests == []
    assert "private or loopback" in Delivery.objects.get().last_error


def test_bad_input_is_a_400(api_for, users):
    alice = api_for("alice")
    url = "http://127.0.0.1:9/"
    assert subscribe(alice, 400, channel="sms")["detail"].startswith("channel")
    assert subscribe(alice, 400, channel="webhook", url=url, format="xml")["detail"].startswith("format")
    assert subscribe(alice, 400, channel="webhook", url=url, events=["job.exploded"])["detail"].startswith("events")
    assert subscribe(alice, 400, channel="webhook", url=url, events=[])["detail"].startswith("events")
    assert "16 to 200" in subscribe(alice, 400, channel="webhook", url=url, secret="short")["detail"]
    assert "names its team" in subscribe(alice, 400, channel="webhook", url=url, scope="team")["detail"]
    assert "names no team" in subscribe(alice, 400, channel="webhook", url=url, team=users["lab"].id)["detail"]
    assert api_for(None).get("/notifications").status_code == 401
    assert alice.delete("/notifications/999").status_code == 404
    assert not Subscription.objects.exists()


def test_a_test_delivery_is_sent_and_logged(api_for, users):
    alice = api_for("alice")
    with WebhookReceiver() as receiver:
        sub = subscribe(alice, channel="webhook", url=receiver.url)
        resp = alice.post(f"/notifications/{sub['id']}/test")
        assert resp.status_code == 202 and resp.json()["status"] == "pending"
        assert delivery.run_once() == ["delivered"]
        [request] = receiver.requests
    assert json.loads(request.body)["event"] == "test" and request.verifies(sub["secret"])
    [logged] = alice.get(f"/notifications/{sub['id']}/deliveries").json()["items"]
    assert logged["status"] == "delivered" and logged["attempt_log"][0]["status_code"] == 200


def test_the_page_shows_the_secret_once_and_the_log(client, users):
    client.force_login(users["alice"])
    page = client.get("/notifications/")
    assert page.status_code == 200 and b'id="notification-form"' in page.content
    with WebhookReceiver([500]) as receiver:
        resp = client.post(
            "/notifications/",
            {"target": str(users["lab"].id), "channel": "webhook", "url": receiver.url, "format": "json",
             "events": ["job.done", "job.cancelled"]},
        )  # fmt: skip
        assert resp.status_code == 201
        sub = Subscription.objects.get()
        secret = sub.decrypt_secret()
        assert secret.encode() in resp.content
        sub_id = sub.id
        assert client.post(f"/notifications/{sub_id}/test/").status_code == 302
        delivery.run_once()
    page = client.get("/notifications/")
    assert secret.encode() not in page.content
    assert b'data-status="pending"' in page.content and b"HTTP 500" in page.content
    form = {"target": "mine", "channel": "webhook", "url": "ftp://x", "events": ["job.done"]}
    bad = client.post("/notifications/", form)
    assert bad.status_code == 400 and b"http:// or https://" in bad.content
    assert client.post(f"/notifications/{sub_id}/delete/").status_code == 302
    assert not Subscription.objects.exists()
    client.force_login(users["charlie"])
    assert client.post("/notifications/", {"target": str(users["lab"].id), "channel": "email",
                                           "events": ["job.done"]}).status_code == 400  # fmt: skip


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the in-memory shared-cache test database locks tables instead of waiting (a file does not)",
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_dispatchers_make_each_delivery_once(api_for, emails):
    import threading

    alice = api_for("alice")
    subscribe(alice, channel="email")
    subscribe(alice, channel="email", scope="team", team=emails["lab"].id)
    for i in range(5):
        cancelled_job(alice, emails["lab"], f"j{i}")
    barrier, made, errors = threading.Barrier(4), [], []

    def run():
        try:
            barrier.wait()
            made.append(dispatch.dispatch())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and sum(made) == 10
    assert Delivery.objects.count() == 10
    assert Delivery.objects.values("event_id", "subscription").distinct().count() == 10
