"""Client settings: keyword arguments first, then ``AGENTOPS_*`` variables, then defaults.

=====================  ==============================  =============================================
setting                environment variable            default
=====================  ==============================  =============================================
``mode``               ``AGENTOPS_MODE``               ``"remote"`` if a server URL is set, else
                                                       ``"local"`` (an explicit ``local_dir``
                                                       argument means local)
``server_url``         ``AGENTOPS_SERVER_URL``         none; the service root (``/api/v1`` is added)
``api_key``            ``AGENTOPS_API_KEY``            none; sent as ``Authorization: Bearer ...``
``local_dir``          ``AGENTOPS_LOCAL_DIR``          ``agentops-sessions`` (local session files)
``seal``               ``AGENTOPS_SEAL``               remote: true; local: false (unsigned seal)
``batch_size``         ``AGENTOPS_BATCH_SIZE``         100 events per request
``flush_interval``     ``AGENTOPS_FLUSH_INTERVAL``     0.5 s, the longest a partial batch waits
``queue_size``         ``AGENTOPS_QUEUE_SIZE``         10,000 events held in memory per client
``backoff_base``       ``AGENTOPS_BACKOFF_BASE``       0.25 s, the first retry waits up to this
``backoff_cap``        ``AGENTOPS_BACKOFF_CAP``        10 s, the longest wait (Retry-After aside)
``retry_budget``       ``AGENTOPS_RETRY_BUDGET``       60 s one request may spend retrying
``max_attempts``       ``AGENTOPS_MAX_ATTEMPTS``       0 (no limit but the budget)
``connect_timeout``    ``AGENTOPS_CONNECT_TIMEOUT``    3 s
``read_timeout``       ``AGENTOPS_TIMEOUT``            10 s
``shutdown_timeout``   ``AGENTOPS_SHUTDOWN_TIMEOUT``   5 s for ``close()``, ``flush()`` and at exit
``max_payload_bytes``  ``AGENTOPS_MAX_PAYLOAD_BYTES``  262,144 (the service's default limit)
``instance_id``        ``AGENTOPS_INSTANCE_ID``        ``sdk-`` + 12 random hex digits; the
                                                       ``authority_id`` of local sessions
``payload_nonce``      ``AGENTOPS_PAYLOAD_NONCE``      true: each recorded payload gets a random
                                                       128-bit ``nonce`` field (32 hex digits), so
                                                       the hash of an erased payload confirms no
                                                       guess of its content
=====================  ==============================  =============================================

A malformed value (``AGENTOPS_BATCH_SIZE=lots``) raises ``ValueError`` naming the variable when
the client is built, so a misconfiguration shows up at start-up rather than as silent loss.
"""

from __future__ import annotations

import dataclasses
import math
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["local", "remote"]

ENV_PREFIX = "AGENTOPS_"
#: Setting name -> environment variable, where the two names differ.
_ENV_NAMES = {"read_timeout": "AGENTOPS_TIMEOUT"}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class ClientConfig:
    """Every knob of ``Client``; see the module docstring for the environment variables."""

    mode: Mode = "local"
    server_url: str | None = None
    api_key: str | None = None
    local_dir: str = "agentops-sessions"
    seal: bool = False
    batch_size: int = 100
    flush_interval: float = 0.5
    queue_size: int = 10_000
    backoff_base: float = 0.25
    backoff_cap: float = 10.0
    retry_budget: float = 60.0
    max_attempts: int = 0
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    shutdown_timeout: float = 5.0
    max_payload_bytes: int = 256 * 1024
    instance_id: str = ""
    payload_nonce: bool = True

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientConfig:
        """Build a config from ``overrides`` (``None`` means "not given"), the environment and
        the defaults, then check it."""
        env = os.environ if environ is None else environ
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise TypeError(f"unknown client setting(s): {', '.join(unknown)}")

        values: dict[str, Any] = {}
        for name in fields:
            if overrides.get(name) is not None:
                values[name] = overrides[name]
                continue
            variable = _ENV_NAMES.get(name, ENV_PREFIX + name.upper())
            raw = env.get(variable)
            if raw is not None and raw.strip() != "":
                values[name] = _parse(variable, raw.strip(), fields[name].type)

        # Derived defaults. The mode: an explicit server_url or local_dir argument says which
        # the caller wants (even if the environment names a server), otherwise a configured
        # server means remote. The mode then decides whether sessions are sealed.
        if "mode" not in values:
            if overrides.get("server_url"):
                values["mode"] = "remote"
            elif overrides.get("local_dir"):
                values["mode"] = "local"
            else:
                values["mode"] = "remote" if values.get("server_url") else "local"
        values.setdefault("seal", values["mode"] == "remote")
        values.setdefault("instance_id", f"sdk-{uuid.uuid4().hex[:12]}")
        if values.get("server_url"):
            values["server_url"] = str(values["server_url"]).rstrip("/")
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Raise ``ValueError`` for settings the client cannot work with."""
        if self.mode not in ("local", "remote"):
            raise ValueError(f"mode must be 'local' or 'remote', not {self.mode!r}")
        if self.mode == "remote":
            if not self.server_url:
                raise ValueError("remote mode needs a server_url (or AGENTOPS_SERVER_URL)")
            if not self.api_key:
                raise ValueError("remote mode needs an api_key (or AGENTOPS_API_KEY)")
        positive = ("batch_size", "queue_size", "max_payload_bytes")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        non_negative = (
            "backoff_base",
            "backoff_cap",
            "retry_budget",
            "max_attempts",
            "shutdown_timeout",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("connect_timeout", "read_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def _parse(variable: str, raw: str, kind: Any) -> Any:
    """Turn an environment string into the field's type (annotations are strings here)."""
    kind = str(kind)
    try:
        if kind == "int":
            return int(raw.replace("_", ""))
        if kind == "float":
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(raw)
            return number
        if kind == "bool":
            lowered = raw.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r} is not a valid {kind}") from None
    return raw
