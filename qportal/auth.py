"""API authentication: ``Authorization: Bearer qp_...`` API keys, or the browser session (with CSRF)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from ninja.errors import HttpError
from ninja.security import HttpBearer, SessionAuth

from qportal.accounts.keys import authenticate
from qportal.accounts.models import ApiKey

# ``ApiKey.last_used`` is a "seen recently" mark, kept to this resolution: writing it on every
# request would add a write transaction (a commit, a WAL flush) to every read.
LAST_USED_RESOLUTION = timedelta(minutes=1)


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiKeyAuth(HttpBearer):
    """The key's row is read on every request (one indexed lookup, no per-process cache), so a
    revocation or an expiry holds at once in every web process."""

    openapi_description = "An API key from `POST /api/v1/keys`, the Keys page or `manage.py create_api_key USERNAME`."

    def authenticate(self, request, token: str):
        key = authenticate(token)
        if key is None:
            return None
        now = timezone.now()
        if key.revoked_at is not None:
            raise HttpError(401, "API key revoked")
        if key.expires is not None and key.expires <= now:
            raise HttpError(401, "API key expired")
        if key.read_only and request.method not in SAFE_METHODS:
            raise HttpError(403, "this API key is read-only")
        if key.last_used is None or now - key.last_used >= LAST_USED_RESOLUTION:
            stale = Q(last_used__isnull=True) | Q(last_used__lt=now - LAST_USED_RESOLUTION)
            ApiKey.objects.filter(stale, id=key.id).update(last_used=now)
        key.user.key_team_id = key.team_id  # the access rule honours it (access.key_team_id)
        request.user, request.api_key = key.user, key
        return key.user


class LoggedInSession(SessionAuth):
    """The browser session, with its CSRF check; a request without a logged-in session is not
    checked for CSRF at all, so an anonymous write is told to authenticate (401), not "CSRF failed"."""

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super().__call__(request)


api_auth = [ApiKeyAuth(), LoggedInSession()]
