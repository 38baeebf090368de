"""Email: printed to the console on the embedded default, SMTP once QPORTAL_EMAIL_HOST is set."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.test_settings import ROOT

SHOW = (
    "from django.conf import settings as s; "
    "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_USE_SSL, s.DEFAULT_FROM_EMAIL, "
    "s.OPEN_SIGNUP)"
)


def settings_with(tmp_path, **extra: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("QPORTAL_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(DJANGO_SETTINGS_MODULE="qportal.settings", QPORTAL_DEBUG="True", QPORTAL_DATA_DIR=str(tmp_path), **extra)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {SHOW}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_console_by_default_smtp_when_configured(tmp_path):
    default = settings_with(tmp_path)
    assert default.stdout.split() == [
        "django.core.mail.backends.console.EmailBackend",
        "587",
        "True",
        "False",
        "qportal@localhost",
        "False",
    ]
    smtp = settings_with(
        tmp_path,
        QPORTAL_EMAIL_HOST="mail.lab.example",
        QPORTAL_EMAIL_PORT="465",
        QPORTAL_EMAIL_USE_SSL="True",
        QPORTAL_EMAIL_FROM="portal@lab.example",
        QPORTAL_OPEN_SIGNUP="True",
    )
    assert smtp.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.lab.example",
        "465",
        "False",
        "True",
        "portal@lab.example",
        "True",
    ]
    both = settings_with(tmp_path, QPORTAL_EMAIL_USE_SSL="True", QPORTAL_EMAIL_USE_TLS="True")
    assert both.returncode != 0 and "cannot both be True" in both.stderr
