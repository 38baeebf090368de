"""The job page's and list's actions on a job: archive and delete ask first (dismissed, nothing
happens; accepted, it is done)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, save_shot
from tests.browser.test_dashboard import api_post, slow_qasm
from tests.circuits import BELL

pytestmark = pytest.mark.browser


class Dialogs:
    """Answers the page's confirm() dialogs in turn: False dismisses, True accepts."""

    def __init__(self, page):
        self.asked: list[str] = []
        self.answers: list[bool] = []
        page.on("dialog", self.answer)

    def answer(self, dialog):
        self.asked.append(dialog.message)
        dialog.accept() if self.answers.pop(0) else dialog.dismiss()

    def expect(self, *answers: bool) -> None:
        self.answers = list(answers)


def finished_job(page, base: str, name: str) -> str:
    resp = api_post(page, base, "/jobs?wait=30", {"profile": "local", "name": name, "circuits": [{"qasm": BELL}]})
    assert resp.status == 201 and resp.json()["status"] == "done", resp.text()
    return resp.json()["id"]


def at_widths(page, tmp_path, name: str) -> None:
    for width in (390, 1300):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)
        save_shot(page, tmp_path, f"{name}-{width}", full_page=False)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
    page.set_viewport_size({"width": 1360, "height": 900})


def test_archive_asks_first_and_moves_the_job_between_the_lists(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "alice")
    dialogs = Dialogs(page)
    job_id = finished_job(page, base, "to archive")
    api_job = f"{base}/api/v1/jobs/{job_id}"

    page.goto(f"{base}/jobs/{job_id}/")
    at_widths(page, tmp_path, "detail-actions")
    dialogs.expect(False)
    page.click("#archive")
    page.wait_for_timeout(500)
    assert page.request.get(api_job).json()["archived_at"] is None and len(dialogs.asked) == 1
    dialogs.expect(True)
    page.click("#archive")
    page.locator("#archived").wait_for()  # the summary says so, live
    assert page.request.get(api_job).json()["archived_at"] is not None
    assert "Archive this job?" in dialogs.asked[-1]

    page.goto(f"{base}/")
    assert page.locator(f'tr[data-job="{job_id}"]').count() == 0
    page.check("#show-archived")
    page.click("#filters button")
    row = page.locator(f'tr[data-job="{job_id}"]')
    row.wait_for()
    at_widths(page, tmp_path, "list-archived")
    row.locator("button[data-unarchive]").click()  # bringing a job back destroys nothing: no question
    row.wait_for(state="detached")
    assert page.request.get(api_job).json()["archived_at"] is None

    page.goto(f"{base}/")
    row = page.locator(f'tr[data-job="{job_id}"]')
    dialogs.expect(False)
    row.locator("button[data-archive]").click()
    page.wait_for_timeout(500)
    assert row.count() == 1 and page.request.get(api_job).json()["archived_at"] is None
    dialogs.expect(True)
    row.locator("button[data-archive]").click()
    row.wait_for(state="detached")
    assert page.request.get(api_job).json()["archived_at"] is not None
    assert len(dialogs.asked) == 4
    page.context.close()


def test_delete_asks_first_and_a_running_job_is_stopped_then_deleted(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "bob")
    dialogs = Dialogs(page)
    done_id = finished_job(page, base, "to delete")
    page.goto(f"{base}/jobs/{done_id}/")
    dialogs.expect(False)
    page.click("#delete")
    page.wait_for_timeout(500)
    assert page.request.get(f"{base}/api/v1/jobs/{done_id}").status == 200
    dialogs.expect(True)
    page.click("#delete")
    page.wait_for_url(f"{base}/")
    assert page.request.get(f"{base}/api/v1/jobs/{done_id}").status == 404
    assert dialogs.asked[-1].startswith("Delete this job?")

    resp = api_post(
        page, base, "/jobs", {"profile": "stepwise", "name": "slow", "circuits": [{"qasm": slow_qasm()}] * 60}
    )
    running_id = resp.json()["id"]
    page.goto(f"{base}/jobs/{running_id}/")
    page.locator("#status", has_text="running").wait_for(timeout=30_000)
    dialogs.expect(False)
    page.click("#delete")
    page.wait_for_timeout(500)
    assert page.request.get(f"{base}/api/v1/jobs/{running_id}").json()["cancel_requested"] is False
    dialogs.expect(True)
    page.click("#delete")
    page.wait_for_url(f"{base}/", timeout=40_000)
    assert page.request.get(f"{base}/api/v1/jobs/{running_id}").status == 404
    assert "cancel it, and delete it once it has stopped" in dialogs.asked[-1]
    page.context.close()


def test_edit_and_run_again_opens_the_submit_page_filled_in(server, chromium, tmp_path):
    """A cluster job (of two local members) says which member ran it; "Edit and run again" opens
    the submit page with its inputs, and submitting it with a change makes a new, linked job."""
    base = server.base_url
    page = login(chromium, base, "alice")
    profiles = page.request.get(f"{base}/api/v1/profiles").json()
    lab = next(p["team"] for p in profiles if p["name"] == "stepwise")
    pair = {"name": "pair", "kind": "cluster", "members": ["local", "stepwise"], "team": lab}
    made = api_post(page, base, "/profiles", pair)
    assert made.status == 201, made.text()
    body = {"profile": "pair", "name": "cluster bell", "tags": ["edit"], "shots": 700, "team": lab}
    resp = api_post(page, base, "/jobs?wait=30", {**body, "circuits": [{"qasm": BELL}, {"qasm": BELL}]})
    job = resp.json()
    assert job["status"] == "done" and job["ran_on"] in ("local", "stepwise"), job

    page.goto(f"{base}/jobs/{job['id']}/")
    assert page.inner_text("#ran-on") == job["ran_on"]
    page.click("#edit-rerun")
    page.wait_for_url(f"{base}/jobs/new/?from={job['id']}")
    assert page.locator("#edited-from").is_visible()
    assert [page.input_value(f"#qasm-{i}") for i in range(2)] == [BELL, BELL]
    assert page.input_value("input[name=name]") == "cluster bell" and page.input_value("#shots") == "700"
    assert page.input_value("input[name=tags]") == "edit" and page.input_value("#profile") == "pair"
    assert page.input_value("select[name=team]") == str(lab)
    at_widths(page, tmp_path, "submit-from-job")

    page.fill("#shots", "333")
    page.fill("input[name=name]", "cluster bell, fewer shots")
    page.click("#submit")
    page.wait_for_url(lambda url: "/jobs/" in url and job["id"] not in url and "new" not in url)
    page.locator("#status", has_text="done").wait_for(timeout=60_000)
    new_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    new = page.request.get(f"{base}/api/v1/jobs/{new_id}").json()
    assert (new["shots"], new["name"], new["num_circuits"], new["rerun_of"], new["profile"]) == (
        333,
        "cluster bell, fewer shots",
        2,
        job["id"],
        "pair",
    )
    assert new["ran_on"] in ("local", "stepwise") and new["ran_on"] != job["ran_on"]  # cyclic: the other member
    assert page.inner_text("#ran-on") == new["ran_on"]
    at_widths(page, tmp_path, "detail-cluster")
    page.context.close()
