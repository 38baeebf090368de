"""Production mode as README documents it serves its own static files (WhiteNoise): before, the
uvicorn command answered /static/... with an HTML 404, so pages were unstyled and their live
scripts never loaded. In Chromium: a CSS rule is applied and a row updates live."""

from __future__ import annotations

import urllib.request

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, browser_available
from tests.circuits import BELL
from tests.production.harness import running_portal

pytestmark = pytest.mark.production


@pytest.fixture
def portal(tmp_path):
    with running_portal(tmp_path, redis_db=11) as portal:
        yield portal


def test_static_files_are_served_with_cache_headers(portal):
    portal.start_web(workers=1)
    for path, kind in (("/static/qportal.css", "text/css"), ("/static/js/live.js", "text/javascript")):
        with urllib.request.urlopen(f"http://127.0.0.1:{portal.port}{path}", timeout=10) as answer:
            assert answer.status == 200 and answer.headers["Content-Type"].startswith(kind)
            assert "max-age=3600" in answer.headers["Cache-Control"]
            assert len(answer.read()) > 100


def test_a_production_page_is_styled_and_its_rows_update_live(portal):
    from playwright.sync_api import sync_playwright

    assert browser_available(), "Chromium is not installed at /usr/bin/chromium"
    portal.start_web(workers=1)
    portal.start_worker("static-w1")
    session = portal.session_cookie()
    base = f"http://127.0.0.1:{portal.port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": session, "url": base}])
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{base}/")
        # qportal.css: .top { background: #1b2130; height: 48px } (unstyled: transparent, auto)
        header = page.evaluate(
            "(() => { const s = getComputedStyle(document.querySelector('header.top'));"
            " return [s.backgroundColor, s.height] })()"
        )
        assert header == ["rgb(27, 33, 48)", "48px"]
        page.screenshot(path=str(portal.log_dir / "production-list.png"))
        status, job = portal.request(
            "POST", "/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], "name": "live-row"}
        )
        assert status == 201
        row = page.locator(f"[data-job='{job['id']}']")
        row.wait_for()
        page.wait_for_function(
            "id => { const r = document.querySelector(`[data-job='${id}']`); return r && /done/.test(r.textContent) }",
            arg=job["id"],
        )
        browser.close()
