"""Fernet encryption of secrets at rest, with rotatable keys (``MultiFernet``).

``QPORTAL_FERNET_KEYS`` holds comma-separated keys, newest first: the first encrypts, all decrypt.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class VaultError(Exception):
    pass


def _fernet() -> MultiFernet:
    keys = settings.FERNET_KEYS
    if not keys:
        raise ImproperlyConfigured(
            "QPORTAL_FERNET_KEYS is not set: generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        )
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"QPORTAL_FERNET_KEYS holds an invalid key: {exc}") from None


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise VaultError("stored secret cannot be decrypted with any configured key") from None


def rotate(token: str) -> str:
    """Re-encrypt under the newest key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise VaultError("stored secret cannot be decrypted with any configured key") from None
