"""qportal settings, read from the environment (see the configuration table in README.md)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from qportal.env import env_bool, env_choice, env_int, env_int_list, env_list, env_rate, env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("QPORTAL_DATA_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("QPORTAL_DEBUG", False)
SECRET_KEY = env_str("QPORTAL_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "QPORTAL_SECRET_KEY (or QPORTAL_SECRET_KEY_FILE) is required unless QPORTAL_DEBUG=True"
        )
    SECRET_KEY = "insecure-debug-only-key"

# Comma-separated Fernet keys, newest first; older keys still decrypt (manage.py rotate_keys).
FERNET_KEYS = env_list("QPORTAL_FERNET_KEYS", [])

# Where an IBM token may be sent (executors.endpoints): the credential's url host, its proxies, http.
IBM_HOSTS = env_list("QPORTAL_IBM_HOSTS", ["cloud.ibm.com", "*.cloud.ibm.com", "quantum.ibm.com", "*.quantum.ibm.com"])
IBM_PROXY_HOSTS = env_list("QPORTAL_IBM_PROXY_HOSTS", [])
IBM_ALLOW_HTTP = env_bool("QPORTAL_IBM_ALLOW_HTTP", False)

# Memory one simulator process may use (a local or PennyLane state must fit it; executors.memory).
SIM_MEMORY_BYTES = env_int("QPORTAL_SIM_MEMORY_MB", 8192, minimum=64) * 2**20

# Sizes a job may declare, checked before any circuit is built (executors.preflight).
MAX_CIRCUIT_OPERATIONS = env_int("QPORTAL_MAX_CIRCUIT_OPERATIONS", 100_000, minimum=1)
MAX_JOB_OPERATIONS = env_int("QPORTAL_MAX_JOB_OPERATIONS", 2_000_000, minimum=1)
MAX_JOB_QASM3_CHARS = env_int("QPORTAL_MAX_JOB_QASM3_CHARS", 50_000, minimum=1)

ALLOWED_HOSTS = env_list("QPORTAL_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("QPORTAL_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "qportal.accounts",
    "qportal.profiles",
    "qportal.jobs",
    "qportal.notifications",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # serves Swagger UI's own files for /api/v1/docs: no CDN, so the docs work air-gapped
]

MIDDLEWARE = [
    "qportal.handler.finish_later_middleware",  # first: completes long-polls after the others ran
    "django.middleware.security.SecurityMiddleware",
    "qportal.staticfiles.static_files_middleware",  # WhiteNoise: /static/ before sessions and auth
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "qportal.urls"
ASGI_APPLICATION = "qportal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "qportal.jobs.context.script_data",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'qportal.sqlite3'}"
# Threads per web process that run requests (qportal.handler), and PostgreSQL connections kept per
# process (0: a new connection for every request); as many connections as threads, so none waits.
# 4, not 8: requests hold the GIL for most of their time, so more threads than that only make them take
# turns (benchmark 4: the same rate, a worse p99).
WEB_THREADS = env_int("QPORTAL_WEB_THREADS", 4, minimum=1)
DB_POOL_SIZE = env_int("QPORTAL_DB_POOL_SIZE", WEB_THREADS, minimum=0)
# Connections, as qportal.serving enforces them under uvicorn: a request head must arrive within
# SERVE_HEADER_TIMEOUT seconds, a body within SERVE_BODY_TIMEOUT plus one second per
# SERVE_BODY_MIN_RATE bytes received, and one client address holds at most
# SERVE_MAX_CONNECTIONS_PER_CLIENT HTTP connections per web process (0: no cap, e.g. behind a proxy).
SERVE_HEADER_TIMEOUT = env_int("QPORTAL_HEADER_TIMEOUT", 10, minimum=1)
SERVE_BODY_TIMEOUT = env_int("QPORTAL_BODY_TIMEOUT", 30, minimum=1)
SERVE_BODY_MIN_RATE = env_int("QPORTAL_BODY_MIN_RATE", 10240, minimum=1)
SERVE_MAX_CONNECTIONS_PER_CLIENT = env_int("QPORTAL_MAX_CONNECTIONS_PER_CLIENT", 100, minimum=0)
# SQLite only: FULL syncs every commit to disk; NORMAL (WAL) may lose the last commits on power loss.
SQLITE_SYNCHRONOUS = env_choice("QPORTAL_SQLITE_SYNCHRONOUS", "NORMAL", ("NORMAL", "FULL"))
DATABASES = {
    "default": parse_database_url(
        DATABASE_URL, base_dir=str(BASE_DIR), pool_size=DB_POOL_SIZE, sqlite_synchronous=SQLITE_SYNCHRONOUS
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    from redis.connection import parse_url

    # Channels' pub/sub layer carries worker wake-ups and cancel notices (``qportal.jobs.bus``).
    # Pub/sub ignores the database number, so the prefix names it to keep databases apart.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"qportal.{int(parse_url(REDIS_URL).get('db') or 0)}."},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}

# The worker runs inside the web process unless told otherwise (embedded default only makes
# sense with the in-memory layer; production runs `manage.py runworker` processes).
EMBEDDED_WORKER = env_bool("QPORTAL_EMBEDDED_WORKER", not REDIS_URL)
WORKER_CONCURRENCY = env_int("QPORTAL_WORKER_CONCURRENCY", 4, minimum=1)
WORKER_LEASE_SECONDS = env_int("QPORTAL_LEASE_SECONDS", 30, minimum=2)
# A job whose workers died (their leases expired) this many times is failed, not claimed again.
MAX_RECOVERIES = env_int("QPORTAL_MAX_RECOVERIES", 3, minimum=1)
WORKER_SIM_PROCESSES = env_int("QPORTAL_SIM_PROCESSES", os.cpu_count() or 1, minimum=1)
WORKER_SWEEP_SECONDS = env_int("QPORTAL_SWEEP_SECONDS", 3, minimum=1)
# Fair share: queued or running jobs a person, and a team, may have at once (429 beyond), and the
# API requests a person may make: "N/second", "N/minute", "N/hour" or "N/day", "" for no limit.
MAX_UNFINISHED_PER_USER = env_int("QPORTAL_MAX_UNFINISHED_PER_USER", 1000, minimum=1)
MAX_UNFINISHED_PER_TEAM = env_int("QPORTAL_MAX_UNFINISHED_PER_TEAM", 5000, minimum=1)
API_RATE = env_rate("QPORTAL_API_RATE", "1200/minute")  # (requests, seconds) or None
# Notifications (qportal.notifications): extra loops every worker runs (dotted paths to
# ``async def loop(runner)``), so jobs never imports the apps above it; webhook sends.
WORKER_LOOPS = [
    "qportal.notifications.delivery.run_forever",
    "qportal.jobs.session_worker.run_forever",
    "qportal.jobs.device_refresh.run_forever",
    "qportal.jobs.abandoned.run_forever",
]
# Cloud backends' calibrations and queues are read again this often (qportal.jobs.device_refresh).
BACKEND_REFRESH_SECONDS = env_int("QPORTAL_BACKEND_REFRESH_SECONDS", 300, minimum=10)
# Each IBM instance's remaining seconds (service.usage()) are read again this often (usage_checks).
INSTANCE_USAGE_REFRESH_SECONDS = env_int("QPORTAL_INSTANCE_USAGE_REFRESH_SECONDS", 300, minimum=10)
PUBLIC_URL = env_str("QPORTAL_PUBLIC_URL", "http://127.0.0.1:8000")  # job links in notifications
WEBHOOK_ALLOW_PRIVATE = env_bool("QPORTAL_WEBHOOK_ALLOW_PRIVATE", False)
WEBHOOK_TIMEOUT = env_int("QPORTAL_WEBHOOK_TIMEOUT", 10, minimum=1)
NOTIFY_RETRY_WAITS = env_int_list("QPORTAL_NOTIFY_RETRY_WAITS", [10, 30, 120, 600, 3600])
NOTIFY_LEASE_SECONDS = env_int("QPORTAL_NOTIFY_LEASE_SECONDS", 60, minimum=2)
NOTIFY_POLL_SECONDS = env_int("QPORTAL_NOTIFY_POLL_SECONDS", 2, minimum=1)
NOTIFY_GAP_SECONDS = env_int("QPORTAL_NOTIFY_GAP_SECONDS", 60, minimum=1)
NOTIFY_CONCURRENCY = env_int("QPORTAL_NOTIFY_CONCURRENCY", 4, minimum=1)
if NOTIFY_LEASE_SECONDS <= 2 * WEBHOOK_TIMEOUT:
    raise ImproperlyConfigured("QPORTAL_NOTIFY_LEASE_SECONDS must exceed twice QPORTAL_WEBHOOK_TIMEOUT")
# The QASMBench programs shipped with the repository (examples/qasmbench, their licence beside them).
QASMBENCH_DIR = Path(env_str("QPORTAL_QASMBENCH_DIR", str(BASE_DIR / "examples" / "qasmbench")))
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024  # 1000 circuits of QASM fit

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "job-list"
LOGOUT_REDIRECT_URL = "login"
# Accounts: open sign-up (off: people join by invitation), how long an invitation link works.
OPEN_SIGNUP = env_bool("QPORTAL_OPEN_SIGNUP", False)
INVITATION_DAYS = env_int("QPORTAL_INVITATION_DAYS", 7, minimum=1)
PASSWORD_RESET_TIMEOUT = env_int("QPORTAL_PASSWORD_RESET_HOURS", 24, minimum=1) * 3600

# Email (password resets, invitations): SMTP when QPORTAL_EMAIL_HOST is set, else printed to the console.
EMAIL_HOST = env_str("QPORTAL_EMAIL_HOST", "") or ""
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("QPORTAL_EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("QPORTAL_EMAIL_USER", "") or ""
EMAIL_HOST_PASSWORD = env_str("QPORTAL_EMAIL_PASSWORD", "") or ""
EMAIL_USE_SSL = env_bool("QPORTAL_EMAIL_USE_SSL", False)
EMAIL_USE_TLS = env_bool("QPORTAL_EMAIL_USE_TLS", not EMAIL_USE_SSL)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("QPORTAL_EMAIL_USE_TLS and QPORTAL_EMAIL_USE_SSL cannot both be True")
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("QPORTAL_EMAIL_FROM", "qportal@localhost") or "qportal@localhost"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
# WhiteNoise serves what `collectstatic` put in STATIC_ROOT, and (finders) static/ itself, so a
# portal started without collectstatic is still styled; files are cached for WHITENOISE_MAX_AGE.
WHITENOISE_USE_FINDERS = True
# Without collectstatic STATIC_ROOT does not exist; the finders serve static/ then, so say nothing.
warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")
WHITENOISE_MAX_AGE = env_int("QPORTAL_STATIC_MAX_AGE", 3600, minimum=0)

SESSION_COOKIE_SECURE = env_bool("QPORTAL_SECURE_COOKIES", not DEBUG and env_bool("QPORTAL_HTTPS", False))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("QPORTAL_HTTPS", False)
SECURE_HSTS_SECONDS = 31536000 if SECURE_SSL_REDIRECT else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_SSL_REDIRECT
SECURE_HSTS_PRELOAD = SECURE_SSL_REDIRECT
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("QPORTAL_BEHIND_PROXY", False) else None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("QPORTAL_LOG_LEVEL", "INFO")},
    "loggers": {
        # The IBM client logs request details at DEBUG; keep it quiet so nothing sensitive leaks.
        "qiskit_ibm_runtime": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "qiskit": {"level": "WARNING"},
        "stevedore": {"level": "WARNING"},
    },
}
