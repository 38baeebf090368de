"""A webhook delivery survives ``kill -9`` of the worker sending it (real runworker processes on
PostgreSQL and Redis): the next worker sends it again once the lease has expired."""

from __future__ import annotations

import json

import pytest

from tests.circuits import BELL
from tests.production.harness import running_portal
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.production


def test_kill_9_of_the_worker_mid_delivery_still_delivers(tmp_path):
    env = {
        "QPORTAL_WEBHOOK_ALLOW_PRIVATE": "True",
        "QPORTAL_WEBHOOK_TIMEOUT": "3",
        "QPORTAL_NOTIFY_LEASE_SECONDS": "8",
        "QPORTAL_NOTIFY_POLL_SECONDS": "1",
    }
    with running_portal(tmp_path, redis_db=12, **env) as portal, WebhookReceiver(hold=True) as receiver:
        portal.start_web()
        portal.start_worker("w1")
        status, sub = portal.request("POST", "/notifications", {"channel": "webhook", "url": receiver.url})
        assert status == 201, sub
        status, job = portal.request("POST", "/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], "name": "k9"})
        assert status == 201, job

        [first] = receiver.wait_for(1, 120)  # w1 is sending; the receiver holds the request open
        assert portal.sql("SELECT status, attempts FROM notifications_delivery")[0] == ("sending", 1)
        portal.kill("w1")
        receiver.release()
        portal.start_worker("w2")

        requests = receiver.wait_for(2, 120)
        assert len(requests) == 2, "the delivery was not sent again"
        portal.wait_for(
            lambda: portal.sql("SELECT status FROM notifications_delivery")[0][0] == "delivered", 30, "delivered"
        )
        attempts = portal.sql(
            "SELECT number, worker, finished IS NOT NULL, ok, status_code FROM notifications_attempt ORDER BY number"
        )
        delivered = portal.sql("SELECT id, status, attempts FROM notifications_delivery")

    second = requests[1]
    assert second.verifies(sub["secret"]) and first.verifies(sub["secret"])
    assert first.headers["X-Qportal-Delivery"] == second.headers["X-Qportal-Delivery"] == str(delivered[0][0])
    body = json.loads(second.body)
    assert body["event"] == "job.done" and body["job"]["id"] == job["id"] and body["job"]["name"] == "k9"
    assert portal.key.encode() not in second.body
    assert delivered == [(delivered[0][0], "delivered", 2)]
    assert attempts == [(1, "w1", False, False, None), (2, "w2", True, True, 200)]
