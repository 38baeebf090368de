"""An owner invites a new person as viewer; they set a password from the link and see the team's jobs
read-only; once promoted to member they submit to the team (issue 13's must-show)."""

from __future__ import annotations

import json

from tests.browser.conftest import login, save_shot
from tests.browser.test_dashboard import api_post
from tests.circuits import BELL

NEW_PASSWORD = "nova's long passphrase"


def lab_id(page, base: str) -> int:
    teams = json.loads(page.evaluate("fetch('/api/v1/teams').then(r => r.text())"))
    return next(t["id"] for t in teams if t["name"] == "lab")


def test_invited_viewer_reads_then_submits_once_promoted(server, chromium, tmp_path):
    base = server.base_url
    alice = login(chromium, base, "alice")
    lab = lab_id(alice, base)
    made = api_post(
        alice, base, "/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], "team": lab, "name": "lab bell"}
    )
    assert made.status == 201, made.text()
    job_id = made.json()["id"]

    alice.click("text=Teams")
    alice.click(f"tr[data-team='{lab}'] a")
    alice.fill("input[name=invitee]", "nova@lab.example")
    alice.select_option("#invite-form select[name=role]", "viewer")
    alice.click("#invite-form button[type=submit]")
    link = alice.input_value("#invitation-url")
    assert link.startswith(f"{base}/invite/")
    assert "nova@lab.example" in alice.inner_text("#pending")
    save_shot(alice, tmp_path, "team-page-1300")
    alice.set_viewport_size({"width": 390, "height": 900})
    save_shot(alice, tmp_path, "team-page-390")
    assert alice.evaluate("document.documentElement.scrollWidth") <= 390
    alice.set_viewport_size({"width": 1300, "height": 900})

    context = chromium.new_context(viewport={"width": 390, "height": 900})
    nova = context.new_page()
    nova.set_default_timeout(20_000)
    nova.goto(link)
    assert "as viewer" in nova.inner_text("#invitation-offer")
    save_shot(nova, tmp_path, "invitation-accept-390")
    assert nova.evaluate("document.documentElement.scrollWidth") <= 390
    nova.set_viewport_size({"width": 1300, "height": 900})
    save_shot(nova, tmp_path, "invitation-accept-1300")
    nova.fill("input[name=username]", "nova")
    nova.fill("input[name=password1]", NEW_PASSWORD)
    nova.fill("input[name=password2]", NEW_PASSWORD)
    nova.click("#accept")
    nova.wait_for_url(f"{base}/teams/{lab}/")
    assert nova.inner_text("#my-role") == "viewer" and "Welcome to lab" in nova.inner_text("#message")
    assert nova.locator("#invite-form").count() == 0 and nova.locator(".role-form").count() == 0

    # The same link does not work twice.
    second = chromium.new_context().new_page()
    second.goto(link)
    assert "already been used" in second.inner_text("#invitation-gone")
    second.context.close()

    # Read-only: the job is listed and opens, with no write control; writes are refused.
    nova.goto(f"{base}/")
    row = nova.locator(f"tr[data-job='{job_id}']")
    row.wait_for()
    assert row.locator("button").count() == 0
    nova.goto(f"{base}/jobs/{job_id}/")
    nova.wait_for_selector(".badge.big.done", timeout=60_000)
    for control in ("#cancel", "#rerun", "#edit-rerun", "#archive", "#delete"):
        assert nova.locator(control).count() == 0, control
    assert api_post(nova, base, f"/jobs/{job_id}/rerun").status == 403
    assert api_post(nova, base, f"/jobs/{job_id}/archive").status == 403
    refused = api_post(nova, base, "/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], "team": lab})
    assert refused.status == 403
    nova.goto(f"{base}/jobs/new/")
    assert nova.locator("select[name=team] option", has_text="lab (viewer)").get_attribute("disabled") is not None

    # The owner promotes her; she submits to the team.
    alice.goto(f"{base}/teams/{lab}/")
    alice.select_option("tr[data-member='nova'] select[name=role]", "member")
    alice.click("tr[data-member='nova'] .role-form button")
    assert "nova is now member" in alice.inner_text("#message")
    assert alice.locator("#audit tr[data-action='member.role_changed']").count() == 1
    assert alice.locator("#audit tr[data-action='member.joined']").count() == 1

    nova.goto(f"{base}/jobs/new/")
    nova.select_option("select[name=team]", label="lab")
    nova.fill("input[name=name]", "nova's first")
    nova.click("#submit")
    nova.wait_for_url(f"{base}/jobs/*/")
    mine = json.loads(
        nova.evaluate(f"fetch('/api/v1/jobs/{nova.url.rstrip('/').rsplit('/', 1)[-1]}').then(r => r.text())")
    )
    assert mine["team"] == lab and mine["name"] == "nova's first"
    context.close()
    alice.context.close()
