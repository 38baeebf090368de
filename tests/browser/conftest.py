"""A real portal in a subprocess (``manage.py serve`` on a fresh SQLite file) and headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.production.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"
SHOTS_DIR = Path("/tmp/qportal-shots")

# alice owns team "lab", bob is a member, viola a viewer, charlie an outsider. "stepwise" is a lab
# profile that runs circuits one by one, so a long job shows progress and stops between circuits.
SETUP_USERS = f"""
from django.contrib.auth import get_user_model
from qportal.accounts.access import personal_team
from qportal.accounts.models import Membership, Team
from qportal.profiles.models import ExecutorProfile
from qportal.profiles.validation import validate_profile
users = {{}}
for name in ("alice", "bob", "viola", "charlie"):
    users[name] = get_user_model().objects.create_user(name, password={PASSWORD!r})
    personal_team(users[name])
lab = Team.objects.create(name="lab")
for name, role in (("alice", "owner"), ("bob", "member"), ("viola", "viewer")):
    Membership.objects.create(team=lab, user=users[name], role=role)
profile = ExecutorProfile(team=lab, name="stepwise", kind="local", single_job=False, shots=600,
                          description="Aer, one circuit at a time")
validate_profile(profile)
profile.save()
print("LAB", lab.id)
"""


def browser_available() -> bool:
    return Path(CHROMIUM).exists()


def manage(env: dict, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if out.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError(f"server did not start: {log.read_text()[-3000:]}")


class Server:
    def __init__(self, base_url: str, proc: subprocess.Popen, log: Path, env: dict):
        self.base_url, self.proc, self.log, self.env = base_url, proc, log, env

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_server(tmp: Path, env_extra: dict | None = None, setup: bool = True) -> Server:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "QPORTAL_DATA_DIR": str(tmp / "data"),
        "QPORTAL_LEASE_SECONDS": "6",
        "QPORTAL_SWEEP_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
        **(env_extra or {}),
    }
    for name in ("DATABASE_URL", "REDIS_URL"):
        if name not in (env_extra or {}):
            env.pop(name, None)
    manage(env, "migrate", "--noinput")
    if setup:
        manage(env, "shell", "-c", SETUP_USERS)
    port = free_port()
    log = tmp / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/login/", proc, log)
    return Server(base, proc, log, env)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not browser_available():
        pytest.fail("Chromium is not installed at /usr/bin/chromium: `make test` installs Debian's chromium package")
    srv = start_server(tmp_path_factory.mktemp("portal"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    if not browser_available():
        pytest.fail("Chromium is not installed at /usr/bin/chromium: `make test` installs Debian's chromium package")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def login(browser, base_url: str, username: str, **context_options):
    """A logged-in page; ``context_options`` go to ``new_context`` (``timezone_id``, ``viewport``...)."""
    context = browser.new_context(**{"viewport": {"width": 1360, "height": 900}, **context_options})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    return page


def save_shot(page, tmp_path: Path, name: str, full_page: bool = True) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    SHOTS_DIR.mkdir(exist_ok=True)
    shutil.copy(path, SHOTS_DIR / path.name)
    return path
