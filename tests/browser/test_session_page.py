"""A session's page in Chromium: jobs submitted into the session appear as rows without a reload,
and go on to done; a job of no session never appears there."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, save_shot
from tests.browser.test_dashboard import api_post
from tests.circuits import BELL

pytestmark = pytest.mark.browser


def test_the_session_page_lists_its_jobs_as_they_arrive(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "alice")
    resp = api_post(page, base, "/sessions", {"profile": "local", "name": "live loop", "max_time": 600})
    assert resp.status == 201, resp.text()
    session = resp.json()
    page.goto(f"{base}/sessions/{session['id']}/")
    page.locator("#live.live").wait_for()
    assert page.locator("#job-rows tr[data-job]").count() == 0
    page.evaluate("window.__sameDocument = true")

    ids = []
    for step in range(3):
        body = {"session": session["id"], "name": f"step {step}", "circuits": [{"qasm": BELL}], "shots": 200}
        resp = api_post(page, base, "/jobs", body)
        assert resp.status == 201, resp.text()
        ids.append(resp.json()["id"])
        page.locator(f'#job-rows tr[data-job="{ids[-1]}"]').wait_for(timeout=10_000)
    outsider = api_post(page, base, "/jobs", {"profile": "local", "name": "elsewhere", "circuits": [{"qasm": BELL}]})
    assert outsider.status == 201
    for job_id in ids:
        page.locator(f'#job-rows tr[data-job="{job_id}"][data-status="done"]').wait_for(timeout=30_000)
    page.locator("#session-status", has_text="active").wait_for()
    page.locator("#session-job-count", has_text="3").wait_for()
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    rows = page.locator("#job-rows tr[data-job]")
    assert [rows.nth(i).get_attribute("data-job") for i in range(rows.count())] == ids
    assert page.locator("#job-rows td.job-name > a").all_inner_texts() == ["step 0", "step 1", "step 2"]
    save_shot(page, tmp_path, "session-live")

    page.click("#close-session")
    page.locator("#session-status", has_text="closed").wait_for()
    page.click(f'#job-rows tr[data-job="{ids[0]}"] td.job-name > a')
    page.locator("#session-link").click()
    page.wait_for_url(f"{base}/sessions/{session['id']}/")
    page.context.close()
