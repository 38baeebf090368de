"""Test settings: the embedded default plus throwaway secrets, generated per run (never stored).

The generated values go into ``os.environ`` so processes the tests start (daphne, workers)
share them.
"""

import atexit
import os
import secrets
import shutil
import sys
import tempfile

from cryptography.fernet import Fernet

os.environ.setdefault("QPORTAL_SECRET_KEY", secrets.token_urlsafe(40))
os.environ.setdefault("QPORTAL_FERNET_KEYS", Fernet.generate_key().decode())
if "QPORTAL_DATA_DIR" not in os.environ:  # the process that makes the dir also removes it
    os.environ["QPORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="qportal-test-")
    atexit.register(shutil.rmtree, os.environ["QPORTAL_DATA_DIR"], ignore_errors=True)
os.environ.setdefault("QPORTAL_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
# The stand-in IBM API (tests/ibm_standin) is http://<name>.test reached through a loopback proxy.
os.environ.setdefault("QPORTAL_IBM_HOSTS", "cloud.ibm.com,*.cloud.ibm.com,quantum.ibm.com,*.quantum.ibm.com,*.test")
os.environ.setdefault("QPORTAL_IBM_PROXY_HOSTS", "127.0.0.1")
os.environ.setdefault("QPORTAL_IBM_ALLOW_HTTP", "True")

from qportal.settings import *  # noqa: E402,F403

# Hashing test passwords with PBKDF2 costs ~0.7 s per user; tests don't need that strength.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Workers that tests run inside the pytest process run no extra loops (the notification sender's
# threads would share the in-memory test database with the test); the servers and workers tests
# start as processes run them (tests/production, tests/browser).
if "pytest" in sys.modules:
    WORKER_LOOPS = []
