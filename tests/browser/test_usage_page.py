"""The usage page in headless Chromium: the chart's bars and the totals are the recorded usage, an
owner sets a budget with the form; the submit page shows the QPU estimate before the button."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import login, manage, save_shot
from tests.circuits import BELL

pytestmark = pytest.mark.browser

# What the worker records at three jobs' finish (qportal.jobs.usage.record): alice 2.5 s and bob
# 1.25 s today, alice 4 s the day before (today too on the 1st: the page shows this month).
RECORDS = """
import uuid
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from qportal.accounts.models import Team
from qportal.jobs.usage_models import UsageRecord
lab = Team.objects.get(name="lab")
users = {u.username: u for u in get_user_model().objects.all()}
today = timezone.now().replace(hour=12)
before = today - timedelta(days=1) if today.day > 1 else today
for name, seconds, when in (("alice", 2.5, today), ("bob", 1.25, today), ("alice", 4.0, before)):
    UsageRecord.objects.create(job_id=uuid.uuid4(), team=lab, user=users[name], username=name, profile="cloud",
                               backend="ibm_manila", kind="ibm_cloud", status="done", qpu_seconds=seconds,
                               finished=when)
print(today.date().isoformat(), before.date().isoformat())
"""


def test_chart_and_totals_are_the_recorded_usage(server, chromium, tmp_path):
    today, before = manage(server.env, "shell", "-c", RECORDS).split()[-2:]
    page = login(chromium, server.base_url, "alice")
    page.goto(f"{server.base_url}/usage/")
    with page.expect_navigation():
        page.select_option("#usage-filter select[name=team]", label="lab")
    assert page.inner_text("#usage-team") == "lab"
    assert page.inner_text("#total-qpu") == "7.750 s"
    chart = page.locator("#usage-chart")
    assert chart.is_visible()
    bars = {
        bar.get_attribute("data-day"): float(bar.get_attribute("data-total")) for bar in chart.locator("g.bar").all()
    }
    assert bars == ({before: 4.0, today: 3.75} if before != today else {today: 7.75})
    segments = chart.locator(f'g.bar[data-day="{today}"] rect')
    assert {s.get_attribute("data-user"): float(s.get_attribute("data-seconds")) for s in segments.all()} == {
        "alice": 2.5 if before != today else 6.5,
        "bob": 1.25,
    }
    # Stacked: the day's segments together are as tall as its total on the chart's scale.
    heights = [float(s.get_attribute("height")) for s in segments.all()]
    box = chart.bounding_box()
    assert box["height"] > 100 and all(h > 0 for h in heights)
    people = page.locator("#usage-by-user tbody tr")
    assert [(r.get_attribute("data-key"), r.locator("[data-qpu]").inner_text()) for r in people.all()] == [
        ("alice", "6.500"),
        ("bob", "1.250"),
    ]
    page.fill("#budget-form input[name=seconds]", "20")
    page.select_option("#budget-form select[name=period]", "week")
    with page.expect_navigation():
        page.click("#budget-form button[type=submit]")
    row = page.locator('#budget-table tr[data-budget="team"]')
    assert row.locator("[data-remaining]").inner_text() == "20.000"
    assert "budget.set · the team: 20.0 s per week" in page.inner_text("#budget-trail")
    save_shot(page, tmp_path, "usage-page-1360")
    page.context.close()


def test_submit_page_shows_the_estimate_before_the_button(server, chromium):
    page = login(chromium, server.base_url, "alice")
    page.goto(f"{server.base_url}/jobs/new/")
    page.fill("#qasm-0", BELL)
    page.fill("#shots", "1000")
    page.wait_for_selector('#estimate[data-state="simulator"]')
    assert page.inner_text("#estimate") == "Runs on a simulator: no QPU time."
    page.select_option("#profile", "fake_manila")
    page.wait_for_selector('#estimate[data-state="ok"]')
    body = {"profile": "fake_manila", "circuits": [{"qasm": BELL}], "shots": 1000, "dry_run": True}
    token = page.input_value("[name=csrfmiddlewaretoken]")
    answer = json.loads(
        page.evaluate(
            "([body, token]) => fetch('/api/v1/jobs', {method: 'POST', headers: {'Content-Type': 'application/json',"
            " 'X-CSRFToken': token}, body: JSON.stringify(body)}).then(r => r.text())",
            [body, token],
        )
    )
    shown = page.inner_text("#estimate")
    assert shown.startswith(f"Estimated QPU time: {answer['estimated_qpu_seconds']:.3f} s")
    assert "counts against no budget" in shown
    # The estimate sits above the submit button.
    assert page.locator("#estimate").bounding_box()["y"] < page.locator("#submit").bounding_box()["y"]
    page.context.close()


def test_the_usage_page_fits_a_phone(server, chromium, tmp_path):
    page = login(chromium, server.base_url, "bob", viewport={"width": 390, "height": 900})
    page.goto(f"{server.base_url}/usage/")
    with page.expect_navigation():
        page.select_option("#usage-filter select[name=team]", label="lab")
    assert page.locator("#usage-chart").is_visible() and not page.locator("#budget-form").count()  # bob: no form
    save_shot(page, tmp_path, "usage-page-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.context.close()
