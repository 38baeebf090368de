"""The dashboard as a daily tool (issue 17): API docs with no network beyond the portal, and pages
that fit a 390 px phone without sideways scrolling, with every navigation link visible."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, save_shot


def test_the_api_docs_render_with_only_the_portal_reachable(server, chromium, tmp_path):
    page = login(chromium, server.base_url, "alice")
    outside = []

    def only_the_portal(route):
        if route.request.url.startswith(server.base_url):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    page.route("**/*", only_the_portal)
    page.goto(f"{server.base_url}/api/v1/docs")
    page.wait_for_selector("text=Submit a job", timeout=20_000)
    assert page.locator(".swagger-ui .opblock").count() >= 10
    assert outside == []  # nothing was even asked of another host
    save_shot(page, tmp_path, "api-docs-offline-1300")
    page.context.close()


PAGES = [
    "/",
    "/jobs/new/",
    "/profiles/",
    "/profiles/new/",
    "/credentials/",
    "/keys/",
    "/sessions/",
    "/api/v1/docs",
    "/no-such-page/",
]
ESTIMATOR = {
    "profile": "local",
    "primitive": "estimator",
    "name": "a job page to measure",
    "circuits": [{"qasm": 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\ncx q[0],q[1];\n'}],
    "observables": [[["ZZ", 1.0], ["XX", 0.5]]],
}


@pytest.mark.parametrize("width", [390, 1300])
def test_no_page_scrolls_sideways_and_the_navigation_is_visible(server, chromium, tmp_path, width):
    page = login(chromium, server.base_url, "alice")
    page.set_viewport_size({"width": width, "height": 900})
    token = page.evaluate("document.cookie.match(/csrftoken=([^;]+)/)[1]")
    made = page.request.post(
        f"{server.base_url}/api/v1/jobs?wait=30", data=ESTIMATOR, headers={"X-CSRFToken": token}
    ).json()
    for path in [*PAGES, f"/jobs/{made['id']}/"]:
        page.goto(f"{server.base_url}{path}")
        page.wait_for_load_state("networkidle")
        name = "job-page" if path.startswith("/jobs/") and path != "/jobs/new/" else path.strip("/").replace("/", "-")
        name = name or "jobs"
        save_shot(page, tmp_path, f"layout-{name}-{width}")
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{path} is {scroll} px wide at {width} px"
        if path == "/api/v1/docs":
            continue
        toggle = page.locator("#nav-toggle")
        if toggle.is_visible():
            toggle.click()
            if path == "/":
                save_shot(page, tmp_path, f"layout-menu-open-{width}", full_page=False)
        for link in page.locator("header.top nav a").all():
            assert link.is_visible(), f"{path}: navigation link {link.inner_text()!r} is hidden at {width} px"
            box = link.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width
    page.context.close()


def test_error_pages_are_styled_with_a_way_back(server, chromium, tmp_path):
    page = login(chromium, server.base_url, "alice")
    nav = "els => els.map(e => e.getAttribute('href'))"
    links = page.locator("header.top nav a").evaluate_all(nav)  # the job list's navigation
    resp = page.goto(f"{server.base_url}/no-such-page/")
    assert resp.status == 404
    assert page.locator("#not-found").is_visible() and len(links) >= 5
    assert page.locator("header.top nav a").evaluate_all(nav) == links
    background = page.evaluate("getComputedStyle(document.querySelector('header.top')).backgroundColor")
    assert background == "rgb(27, 33, 48)"  # the stylesheet applied
    page.click("text=Back to jobs")
    page.wait_for_url(f"{server.base_url}/")
    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert page.request.get(icon).status == 200
    page.context.close()
