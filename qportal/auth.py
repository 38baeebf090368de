"""API authentication: ``Authorization: Bearer qp_...`` API keys, or the browser session (with CSRF)."""

from __future__ import annotations

from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from qportal.accounts.models import ApiKey


class ApiKeyAuth(HttpBearer):
    openapi_description = "An API key from `python manage.py create_api_key USERNAME`."

    def authenticate(self, request, token: str):
        key = ApiKey.authenticate(token)
        if key is None:
            return None
        ApiKey.objects.filter(id=key.id).update(last_used=timezone.now())
        request.user = key.user
        return key.user


api_auth = [ApiKeyAuth(), SessionAuth()]
