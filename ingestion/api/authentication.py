"""``Authorization: Bearer <api key>`` authentication against hashed project API keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from rest_framework import authentication, exceptions, permissions

from .. import selectors
from ..models import ApiKey, Project
from .throttling import auth_failure_record, auth_failures_check

MAX_KEY_CHARS = 200


@dataclass(frozen=True)
class ProjectPrincipal:
    """The caller of the API: a project, speaking through one of its keys."""

    project: Project
    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self):  # throttles and logs identify callers by key
        return self.api_key.pk


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0] != self.keyword:
            self._refuse(request, "use 'Authorization: Bearer <api key>'")
        # An address that has failed too often is refused before its key costs a lookup.
        auth_failures_check(request=request)
        key = parts[1]
        prefix, dot, _ = key.partition(".")
        # A real key is "<8-character prefix>.<32-character secret>"; anything far longer is
        # refused before it reaches the database as a query parameter.
        plausible = dot and len(key) <= MAX_KEY_CHARS
        api_key = selectors.api_key_by_prefix(prefix) if plausible else None
        # The secret is checked before revocation so that a revoked key is only named as such
        # to someone who holds it.
        if api_key is None or not api_key.is_valid(key):
            self._refuse(request, "invalid API key")
        if api_key.revoked:
            self._refuse(request, "this API key has been revoked")
        if api_key.has_expired:
            self._refuse(request, "this API key has expired")
        return ProjectPrincipal(project=api_key.project, api_key=api_key), api_key

    def authenticate_header(self, request):
        return self.keyword

    @staticmethod
    def _refuse(request, message: str) -> NoReturn:
        auth_failure_record(request=request)  # 429 instead once the address is over its rate
        raise exceptions.AuthenticationFailed(message)


class ApiKeyRequired(permissions.IsAuthenticated):
    """``IsAuthenticated``, where a request refused for having no key at all counts as a failed
    authentication of its address too (a key that is present counts in authenticate)."""

    def has_permission(self, request, view):
        if super().has_permission(request, view):
            return True
        auth_failure_record(request=request)
        return False
