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
