"""The service's identity: its id and its Ed25519 sealing keys.

Settings:

- ``AGENTOPS_INGESTION_SERVICE_ID``: the ``authority_id`` of every event the service chains
  and the ``ingestion_service_id`` of its seals.
- ``AGENTOPS_SEAL_KEY_FILE``: PEM (PKCS#8) private key that signs seals. A configured file that
  cannot be read is always an error: the service never falls back to another key.
- ``AGENTOPS_DEV_SEAL_KEY_FILE``: when no key file is configured and ``AGENTOPS_REQUIRE_SEAL_KEY``
  is False (development), a key is generated there (mode 0600) on first use.
- ``AGENTOPS_RETIRED_PUBLIC_KEYS``: public keys of former sealing keys (raw base64 or PEM file
  paths); seals made with them keep verifying as trusted.

Values are read once and cached; ``cache_clear()`` (and any change through Django's
``setting_changed`` signal, as in tests) forgets them.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from agentops_sdk import seal
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

_KEY_SETTINGS = frozenset(
    {
        "AGENTOPS_INGESTION_SERVICE_ID",
        "AGENTOPS_SEAL_KEY_FILE",
        "AGENTOPS_DEV_SEAL_KEY_FILE",
        "AGENTOPS_REQUIRE_SEAL_KEY",
        "AGENTOPS_RETIRED_PUBLIC_KEYS",
    }
)


@functools.cache
def service_id() -> str:
    return settings.AGENTOPS_INGESTION_SERVICE_ID


# Two threads generating the development key at once could read a half-written file.
_generate_lock = threading.Lock()


@functools.cache
def signing_key() -> Ed25519PrivateKey:
    """The private key that signs seals; ImproperlyConfigured when it cannot be had."""
    path = settings.AGENTOPS_SEAL_KEY_FILE
    if path:
        try:
            return seal.private_key_load(path)
        except seal.KeyLoadError as exc:
            raise ImproperlyConfigured(f"AGENTOPS_SEAL_KEY_FILE: {exc}") from exc
    if settings.AGENTOPS_REQUIRE_SEAL_KEY:
        raise ImproperlyConfigured("AGENTOPS_SEAL_KEY_FILE must name the sealing key")
    try:
        with _generate_lock:
            return seal.private_key_load_or_generate(settings.AGENTOPS_DEV_SEAL_KEY_FILE)
    except (seal.KeyLoadError, OSError) as exc:
        raise ImproperlyConfigured(f"AGENTOPS_DEV_SEAL_KEY_FILE: {exc}") from exc


@functools.cache
def _retired_keys() -> tuple[Ed25519PublicKey, ...]:
    loaded = []
    for spec in settings.AGENTOPS_RETIRED_PUBLIC_KEYS:
        try:
            loaded.append(seal.public_key_load(spec))
        except seal.KeyLoadError as exc:
            raise ImproperlyConfigured(f"AGENTOPS_RETIRED_PUBLIC_KEYS: {exc}") from exc
    return tuple(loaded)


def trusted_public_keys() -> list[Ed25519PublicKey]:
    """The keys whose seals this service vouches for: the current one, then retired ones."""
    return [signing_key().public_key(), *_retired_keys()]


def public_keys() -> list[dict[str, Any]]:
    """The published keys: ``{key_id, public_key, algorithm, status}``, current first."""
    published: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, key in enumerate(trusted_public_keys()):
        kid = seal.key_id(key)
        if kid in seen:  # a retired list that still names the current key
            continue
        seen.add(kid)
        published.append(
            {
                "key_id": kid,
                "public_key": seal.public_key_b64(key),
                "algorithm": seal.SIGNATURE_ALG,
                "status": "current" if index == 0 else "retired",
            }
        )
    return published


def startup_check() -> None:
    """Fail at start-up, not at the first seal, when a configured sealing key is unusable.

    Whatever the settings module: a key file that is named but cannot be read, or a retired key
    that cannot be loaded, stops the process naming the setting. Only the development key, made
    when no file is named, waits for the first seal (creating it is a side effect that a
    ``manage.py`` command of no interest to sealing should not have).
    """
    if settings.AGENTOPS_SEAL_KEY_FILE or settings.AGENTOPS_REQUIRE_SEAL_KEY:
        signing_key()
    _retired_keys()


def cache_clear() -> None:
    service_id.cache_clear()
    signing_key.cache_clear()
    _retired_keys.cache_clear()


@receiver(setting_changed)
def _forget_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting in _KEY_SETTINGS:
        cache_clear()
