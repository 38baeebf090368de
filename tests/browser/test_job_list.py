"""The job list in Chromium: found by an id prefix, sorted by a header, times in the viewer's zone,
a count that follows jobs arriving live, and pages by cursor that stay put while jobs arrive."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import login, save_shot
from tests.browser.test_dashboard import api_post
from tests.circuits import BELL

pytestmark = pytest.mark.browser
ZONE = "America/St_Johns"  # -03:30: a wrong conversion cannot look right by accident


def submit(page, base: str, name: str, tag: str) -> str:
    body = {"profile": "local", "name": name, "tags": [tag], "circuits": [{"qasm": BELL}]}
    resp = api_post(page, base, "/jobs", body)
    assert resp.status == 201, resp.text()
    return resp.json()["id"]


def shown_names(page) -> list[str]:
    return page.locator("#job-rows td.job-name > a").all_inner_texts()


def test_find_by_id_prefix_sort_by_header_and_local_times(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "alice", timezone_id=ZONE)
    ids = {name: submit(page, base, name, "browse") for name in ("sweep b", "sweep a", "sweep c")}

    page.goto(f"{base}/?tag=browse")
    assert shown_names(page) == ["sweep c", "sweep a", "sweep b"]  # newest first
    assert page.inner_text("#time-zone") == f"({ZONE})"
    row = page.locator(f'tr[data-job="{ids["sweep a"]}"] time')
    utc = datetime.fromisoformat(row.get_attribute("datetime"))
    assert row.inner_text() == utc.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")
    assert row.inner_text() != utc.strftime("%Y-%m-%d %H:%M")

    page.click('th[data-sort="name"] a')
    page.wait_for_url("**sort=name**")
    assert shown_names(page) == ["sweep a", "sweep b", "sweep c"]
    assert page.get_attribute('th[data-sort="name"]', "aria-sort") == "ascending"
    page.click('th[data-sort="name"] a')
    page.wait_for_url("**sort=-name**")
    assert shown_names(page) == ["sweep c", "sweep b", "sweep a"]
    assert page.inner_text("#time-zone") == f"({ZONE})"  # still said after a reload
    for width in (390, 1300):
        page.set_viewport_size({"width": width, "height": 900})
        save_shot(page, tmp_path, f"list-sorted-{width}")

    page.fill("input[name=q]", ids["sweep b"][:8])
    page.press("input[name=q]", "Enter")
    page.wait_for_url(f"**q={ids['sweep b'][:8]}**")
    assert shown_names(page) == ["sweep b"]
    assert page.inner_text("#job-count") == "1 job"
    page.context.close()


def test_the_count_follows_jobs_arriving_live(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "bob", timezone_id=ZONE)
    page.goto(f"{base}/?tag=arrivals&page_size=50")
    page.locator("#live.live").wait_for()
    assert page.inner_text("#job-count") == "0 jobs"
    page.evaluate("window.__sameDocument = true")
    first = submit(page, base, "first arrival", "arrivals")
    page.locator("#job-count", has_text=re.compile(r"^1 job$")).wait_for(timeout=10_000)
    submit(page, base, "second arrival", "arrivals")
    page.locator("#job-count", has_text=re.compile(r"^2 jobs$")).wait_for(timeout=10_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    assert shown_names(page) == ["second arrival", "first arrival"]
    fresh = page.locator(f'tr[data-job="{first}"] time')  # rows that arrived live show local times too
    utc = datetime.fromisoformat(fresh.get_attribute("datetime"))
    assert fresh.inner_text() == utc.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")
    assert page.input_value("#page-size") == "50"
    save_shot(page, tmp_path, "list-live-count-1300")
    page.context.close()


def test_next_and_previous_pages_by_cursor_while_jobs_arrive(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "bob", timezone_id=ZONE)
    for i in range(5):
        submit(page, base, f"paged {i}", "paging")
    page.goto(f"{base}/?tag=paging&page_size=25")
    first = shown_names(page)
    assert first == [f"paged {i}" for i in range(4, -1, -1)] and page.locator("#next-page").count() == 0
    for i in range(5, 27):
        submit(page, base, f"paged {i}", "paging")
    page.reload()
    page.locator("#live.live").wait_for()
    assert shown_names(page)[0] == "paged 26" and page.inner_text("#job-count") == "27 jobs"
    page.click("#next-page")
    page.wait_for_url("**cursor=**")
    page.locator("#live.live").wait_for()
    assert shown_names(page) == ["paged 1", "paged 0"]
    submit(page, base, "paged 27", "paging")  # arrives at the head: the count follows, this page stays
    page.locator("#job-count", has_text=re.compile(r"^28 jobs$")).wait_for(timeout=10_000)
    assert shown_names(page) == ["paged 1", "paged 0"]
    save_shot(page, tmp_path, "list-second-page-1300")
    page.click("#previous-page")
    page.wait_for_url("**cursor=**")
    assert shown_names(page) == [f"paged {i}" for i in range(26, 1, -1)]
    page.click("#first-page")
    page.wait_for_url(re.compile(r".*/\?tag=paging&page_size=25$"))
    assert shown_names(page)[0] == "paged 27"
    page.context.close()
