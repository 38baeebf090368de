"""The dashboard as a daily tool (issue 17): API docs with no network beyond the portal."""

from __future__ import annotations

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
