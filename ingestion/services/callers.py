"""Who asked the service for something it records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from ..models import ApiKey


@dataclass(frozen=True)
class Caller:
    """Who asked the service for something it records (a verification, an export): a name
    readable on its own, plus the user or API key when there is one. The one place these
    names are worded; the export ledger's ``Actor`` adds the channel."""

    name: str
    user: Any = None
    api_key: ApiKey | None = None

    @classmethod
    def for_api_key(cls, api_key: ApiKey, **extra: Any) -> Self:
        name = f"API key {api_key.name!r} ({api_key.prefix}) of project {api_key.project.name}"
        return cls(name, api_key=api_key, **extra)

    @classmethod
    def for_user(cls, user: Any, **extra: Any) -> Self:
        return cls(f"user {user.get_username()!r} (id {user.pk})", user=user, **extra)

    @classmethod
    def for_command(cls, command: str, *, operator: str, **extra: Any) -> Self:
        return cls(f"manage.py {command} run by {operator}", **extra)
