"""The Keys page in headless Chromium at 390 and 1300 px: create a key, see it once, copy, revoke."""

from __future__ import annotations

import urllib.request

import pytest

from tests.browser.conftest import login, save_shot

pytestmark = pytest.mark.browser


def status_with(base: str, key: str) -> int:
    request = urllib.request.Request(f"{base}/api/v1/jobs", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("width", [390, 1300])
def test_create_see_once_copy_and_revoke(server, chromium, tmp_path, width):
    base = server.base_url
    page = login(chromium, base, "alice", viewport={"width": width, "height": 900})
    page.goto(f"{base}/keys/")
    name = f"notebook-{width}"
    page.fill("input[name=name]", name)
    page.select_option("select[name=team]", label="lab")
    page.fill("input[name=expires]", "30")
    page.click("#key-form button[type=submit]")
    key = page.input_value("#new-key-value")
    assert key.startswith("qp_")
    page.click("#copy-key")
    page.wait_for_function("document.getElementById('copy-key').textContent === 'Copied'")
    save_shot(page, tmp_path, f"keys-new-{width}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert status_with(base, key) == 200

    page.goto(f"{base}/keys/")
    assert key not in page.content()
    row = page.locator(f'tr[data-key="{name}"]')
    assert key[:11] in row.inner_text() and "lab" in row.inner_text()
    dialogs = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    row.locator("button", has_text="Revoke").click()
    assert dialogs and "Revoke" in dialogs[0]
    assert status_with(base, key) == 200  # dismissed: still works
    page.once("dialog", lambda d: d.accept())
    row.locator("button", has_text="Revoke").click()
    page.wait_for_selector("#message")
    assert "Revoked" in page.inner_text("#message")
    assert page.locator(f'tr[data-key="{name}"]').get_attribute("data-status") == "revoked"
    save_shot(page, tmp_path, f"keys-revoked-{width}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert status_with(base, key) == 401
    page.context.close()
