"""The notifications page in headless Chromium: subscribe a webhook, see its secret once, a job's
delivery arrive signed at a receiver on loopback, and the delivery log; at 1300 and 390 px."""

from __future__ import annotations

import json
import time

import pytest

from tests.browser.conftest import login, save_shot, start_server
from tests.browser.test_dashboard import api_post
from tests.circuits import BELL
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def notifying_server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("notify"), {"QPORTAL_WEBHOOK_ALLOW_PRIVATE": "True"})
    yield srv
    srv.stop()


def test_subscribe_receive_and_read_the_log(notifying_server, chromium, tmp_path):
    base = notifying_server.base_url
    page = login(chromium, base, "alice", viewport={"width": 1300, "height": 900})
    page.click("nav >> text=Notifications")
    page.wait_for_url(f"{base}/notifications/")
    with WebhookReceiver() as receiver:
        page.select_option("select[name=target]", value="mine")
        page.select_option("select[name=channel]", value="webhook")
        page.fill("input[name=url]", receiver.url)
        page.click("#notification-form button[type=submit]")
        secret = page.locator("#secret").inner_text().strip()
        assert len(secret) >= 32
        save_shot(page, tmp_path, "notifications-created")
        resp = api_post(page, base, "/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], "name": "bell"})
        assert resp.status == 201, resp.text()
        job_id = resp.json()["id"]
        [request] = receiver.wait_for(1, 60)
    assert request.verifies(secret)
    body = json.loads(request.body)
    assert body["event"] == "job.done" and body["job"]["id"] == job_id
    deadline = time.time() + 20
    while True:
        page.goto(f"{base}/notifications/")
        if page.locator(".delivery [data-status=delivered]").count() == 1 or time.time() > deadline:
            break
        time.sleep(0.5)
    assert page.locator(".delivery [data-status=delivered]").count() == 1
    assert secret not in page.content()
    assert "bell" in page.locator("td.deliveries").inner_text()
    save_shot(page, tmp_path, "notifications-1300")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/notifications/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    save_shot(page, tmp_path, "notifications-390")
