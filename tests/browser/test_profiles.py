"""Profiles in headless Chromium: the form shows what the chosen kind uses, and deleting asks first."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, login, save_shot
from tests.browser.test_dashboard import api_post
from tests.circuits import GHZ3

pytestmark = pytest.mark.browser

FIELDS = ("method", "fake_backend", "credential", "ibm_backend", "mode", "device", "selector", "options")


def visible_fields(page, scripted: bool = True) -> set[str]:
    shown = {name for name in FIELDS if page.locator(f"#profile-form [name={name}]").is_visible()}
    if scripted:  # the script's "off" marks agree with what the stylesheet shows
        kind = page.input_value("select[name=kind]")
        marked = page.locator(".kind-section:not(.off)").evaluate_all("els => els.map(e => e.dataset.kinds)")
        assert marked and all(kind in kinds.split() for kinds in marked), (kind, marked)
    return shown


def test_switching_kind_shows_only_that_kinds_fields(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "alice")
    page.goto(f"{base}/profiles/new/")
    assert visible_fields(page) == {"method", "options"}
    page.select_option("select[name=kind]", value="fake")
    assert visible_fields(page) == {"fake_backend", "mode", "options"}
    page.select_option("select[name=kind]", value="ibm_cloud")
    assert visible_fields(page) == {"credential", "ibm_backend", "mode", "options"}
    page.select_option("select[name=kind]", value="pennylane")
    assert visible_fields(page) == {"device", "options"}
    page.select_option("select[name=kind]", value="cluster")
    assert visible_fields(page) == {"selector"}
    # Cluster members are the chosen team's profiles and the built-ins.
    page.select_option("select[name=team]", label="lab")
    members = page.locator("#members-field input[name=members]:visible")
    names = set(members.evaluate_all("els => els.map(e => e.value)"))
    assert {"stepwise", "local", "fake_manila"} <= names
    for width in (390, 1300):
        page.set_viewport_size({"width": width, "height": 900})
        save_shot(page, tmp_path, f"profile-new-cluster-{width}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width

    page.fill("input[name=name]", "duo")
    page.check('#members-field input[value="stepwise"]')
    page.check('#members-field input[value="fake_manila"]')
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/profiles/")
    assert "members: stepwise, fake_manila" in page.inner_text('tr[data-profile="duo"]')
    page.context.close()


def test_without_javascript_the_kinds_fields_still_switch_and_save(server, chromium, tmp_path):
    base = server.base_url
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/profiles/new/")
    assert visible_fields(page, scripted=False) == {"method", "options"}  # the stylesheet shows them
    page.select_option("select[name=team]", label="lab")
    page.fill("input[name=name]", "noisy-lima")
    page.select_option("select[name=kind]", value="fake")
    assert visible_fields(page, scripted=False) == {"fake_backend", "mode", "options"}
    page.select_option("select[name=fake_backend]", value="fake_lima")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/profiles/")
    assert "fake_lima" in page.inner_text('tr[data-profile="noisy-lima"]')
    context.close()


def test_deleting_asks_first_and_a_profile_in_use_stays(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "bob")
    for name in ("scratch", "in-use"):
        resp = api_post(page, base, "/profiles", {"name": name, "kind": "local", "team": lab_id(page, base)})
        assert resp.status == 201, resp.text()
    job = api_post(page, base, "/jobs", {"profile": "in-use", "circuits": [{"qasm": GHZ3}], "shots": 10})
    assert job.status == 201, job.text()
    page.goto(f"{base}/profiles/")
    asked = []

    def answer(dialog):  # the first question is dismissed, every later one accepted
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    page.click('tr[data-profile="scratch"] [data-delete]')
    page.wait_for_timeout(500)
    assert asked == ["Delete profile scratch? This cannot be undone."]
    assert page.locator('tr[data-profile="scratch"]').count() == 1 and page.url == f"{base}/profiles/"
    assert "scratch" in names(page, base)

    page.click('tr[data-profile="scratch"] [data-delete]')
    page.locator("#message", has_text="Deleted profile scratch.").wait_for()
    assert page.locator('tr[data-profile="scratch"]').count() == 0 and "scratch" not in names(page, base)

    page.click('tr[data-profile="in-use"] [data-delete]')
    message = page.locator("#message.error")
    message.wait_for()
    assert "1 job uses profile 'in-use', so it cannot be deleted" in message.inner_text()
    assert page.locator('tr[data-profile="in-use"]').count() == 1 and "in-use" in names(page, base)
    assert len(asked) == 3
    for width in (390, 1300):
        page.set_viewport_size({"width": width, "height": 900})
        save_shot(page, tmp_path, f"profiles-refused-{width}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.context.close()


def names(page, base: str) -> set[str]:
    return {p["name"] for p in page.request.get(f"{base}/api/v1/profiles").json()}


def lab_id(page, base: str) -> int:
    """The lab team's id, from its profile "stepwise" (tests/browser/conftest.py)."""
    return next(p["team"] for p in page.request.get(f"{base}/api/v1/profiles").json() if p["name"] == "stepwise")
