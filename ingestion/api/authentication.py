"""``Authorization: Bearer <api key>`` authentication against hashed project API keys."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from ..models import ApiKey, Project

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
            raise exceptions.AuthenticationFailed("use 'Authorization: Bearer <api key>'")
        key = parts[1]
        prefix, dot, _ = key.partition(".")
        # A real key is "<8-character prefix>.<32-character secret>"; anything far longer is
        # refused before it reaches the database as a query parameter.
        plausible = dot and len(key) <= MAX_KEY_CHARS
        api_key = (
            ApiKey.objects.select_related("project").filter(prefix=prefix).first()
            if plausible
            else None
        )
        # The secret is checked before revocation so that a revoked key is only named as such
        # to someone who holds it.
        if api_key is None or not api_key.is_valid(key):
            raise exceptions.AuthenticationFailed("invalid API key")
        if api_key.revoked:
            raise exceptions.AuthenticationFailed("this API key has been revoked")
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("this API key has expired")
        return ProjectPrincipal(project=api_key.project, api_key=api_key), api_key

    def authenticate_header(self, request):
        return self.keyword
