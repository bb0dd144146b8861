"""API keys: created per project, shown once, revoked for good."""

from __future__ import annotations

from typing import cast

from django.db import transaction

from ..errors import IngestionError
from ..models import ApiKey, Project


def api_key_create(*, project_name: str, name: str) -> tuple[ApiKey, str]:
    """Create an API key for the project (created if needed); the plaintext is returned once."""
    with transaction.atomic():
        project, _ = Project.objects.get_or_create(name=project_name)
        key, plaintext = ApiKey.objects.create_key(name=name, project=project)
        return cast(ApiKey, key), plaintext


def api_key_revoke(*, prefix: str) -> ApiKey:
    """Revoke the key with this prefix (for good: the library refuses to un-revoke)."""
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    if api_key is None:
        raise IngestionError("API_KEY_NOT_FOUND", f"no API key with prefix {prefix!r}", status=404)
    if not api_key.revoked:
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
    return api_key
