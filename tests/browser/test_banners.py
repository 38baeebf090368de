"""A banner for a failed action clears itself once the problem is gone: after the socket is back
from a drop, or after the next API call that succeeds; and its close button removes it."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, save_shot
from tests.browser.test_dashboard import api_post, slow_qasm

pytestmark = pytest.mark.browser

KEEP_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  function Kept(url, protocols) { const ws = new Native(url, protocols); window.__sockets.push(ws); return ws; }
  Kept.prototype = Native.prototype;
  window.WebSocket = Kept;
})();
"""


def test_a_cancel_banner_goes_when_the_server_answers_again(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "bob")
    page.add_init_script(KEEP_SOCKETS)
    circuits = [{"qasm": slow_qasm()} for _ in range(20)]
    resp = api_post(
        page, base, "/jobs", {"profile": "stepwise", "name": "banner", "tags": ["banner"], "circuits": circuits}
    )
    assert resp.status == 201, resp.text()
    job_id = resp.json()["id"]
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{base}/?tag=banner")
    page.locator("#live.live").wait_for()
    cancel = page.locator(f'tr[data-job="{job_id}"] button[data-cancel]')
    banner = page.locator("#flash")

    page.route("**/api/v1/jobs/*/cancel", lambda route: route.abort())  # the server is "away"
    cancel.click()
    banner.wait_for()
    assert banner.locator(".flash-text").inner_text() == "Could not cancel: Failed to fetch"
    for width in (390, 1300):
        page.set_viewport_size({"width": width, "height": 700})
        save_shot(page, tmp_path, f"banner-{width}", full_page=False)
    page.click("#flash .flash-close")
    assert banner.count() == 0

    cancel.click()  # fails again; then the socket drops and comes back
    banner.wait_for()
    sockets = page.evaluate("window.__sockets.length")
    page.evaluate("window.__sockets[window.__sockets.length - 1].close()")
    page.wait_for_function(f"window.__sockets.length > {sockets}")
    page.locator("#live.live").wait_for()
    banner.wait_for(state="detached", timeout=5_000)

    cancel.click()  # fails a third time; the retry once the server answers clears it
    banner.wait_for()
    page.unroute("**/api/v1/jobs/*/cancel")
    cancel.click()
    banner.wait_for(state="detached", timeout=5_000)
    page.locator(f'tr[data-job="{job_id}"] .badge', has_text="cancelled").wait_for(timeout=20_000)
    page.context.close()
