"""Checking an API key (``qp_<lookup>_<secret>``): the key and its user in one statement, since it
runs on every API request (``queries.api_key_with_user``)."""

from __future__ import annotations

import hmac

from qportal.accounts import queries
from qportal.accounts.models import API_KEY_PREFIX, ApiKey, hash_api_key


def authenticate(key: str) -> ApiKey | None:
    """The active user's key ``key`` is, with its user attached; None for anything else."""
    parts = key.split("_", 2)
    if len(parts) != 3 or f"{parts[0]}_" != API_KEY_PREFIX:
        return None
    found = queries.api_key_with_user(parts[1])
    if found is None or not hmac.compare_digest(found.hashed, hash_api_key(key)) or not found.user.is_active:
        return None
    return found
