"""HTTP calls to the ingestion API (``/api/v1``), each retried under one policy.

Retry policy, for every call:

- retried: no answer at all (connection refused or reset, timeout), 408, 429 and any 5xx;
- not retried: every other 4xx; the caller gets the refusal and its ``error.code``;
- waits: exponential backoff with full jitter, ``uniform(0, min(cap, base * 2**retry))``;
  a ``Retry-After`` header (429, 503) is honoured as given instead;
- gives up when the next wait would end after the retry budget (measured from the first
  attempt), after ``max_attempts`` attempts (0: no limit), or past the caller's stop time
  (``close()``), and returns the last answer.

A retry resends the same bytes, so the service's duplicate detection (``event_id`` +
``sequence_number``) makes it safe even when an earlier attempt was stored but its answer lost.

A ``Transport`` owns a ``requests.Session`` and must stay in the thread that created it.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from . import SOURCE_SDK_VER

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Reply:
    """The outcome of one call: an HTTP answer, or ``status=None`` when none arrived."""

    status: int | None
    body: Any = None
    retry_after: float | None = None
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in (408, 429) or self.status >= 500

    @property
    def code(self) -> str | None:
        """The API's stable error code (``SEQUENCE_GAP``...), if the body carries one."""
        error = self.body.get("error") if isinstance(self.body, Mapping) else None
        code = error.get("code") if isinstance(error, Mapping) else None
        return code if isinstance(code, str) else None

    @property
    def details(self) -> Mapping[str, Any]:
        error = self.body.get("error") if isinstance(self.body, Mapping) else None
        details = error.get("details") if isinstance(error, Mapping) else None
        return details if isinstance(details, Mapping) else {}

    def describe(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        message = ""
        if isinstance(self.body, Mapping) and isinstance(self.body.get("error"), Mapping):
            message = str(self.body["error"].get("message", ""))[:200]
        return f"HTTP {self.status} {self.code or ''} {message}".strip()


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 0.25
    cap: float = 10.0
    budget: float = 60.0
    max_attempts: int = 0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Full jitter: the wait before retry number ``retry`` (0 for the first retry)."""
        # min() before the power would overflow: 2**retry grows without bound.
        ceiling = self.cap if retry >= 64 else min(self.cap, self.base * 2**retry)
        return rng.uniform(0.0, ceiling)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class Transport:
    """The ingestion API as method calls; every method retries per the module policy."""

    def __init__(
        self,
        *,
        server_url: str,
        api_key: str,
        policy: RetryPolicy,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        stop_at: Callable[[], float] = lambda: math.inf,
        rng: random.Random | None = None,
    ) -> None:
        self._base = server_url.rstrip("/") + API_PREFIX
        self._policy = policy
        self._timeout = (connect_timeout, read_timeout)
        self._sleep = sleep
        self._stop_at = stop_at
        self._rng = rng or random.Random()  # jitter, not secrecy
        self._http = requests.Session()
        self._http.headers.update(
            {
                "Authorization": f"Bearer {api_key}",
                "User-Agent": SOURCE_SDK_VER,
                "Accept": "application/json",
            }
        )
        #: Attempts beyond the first, over the transport's life (for ``Client.stats()``).
        self.retries = 0

    # -- the API ---------------------------------------------------------------------------

    def session_create(
        self, *, session_id: str, agent_id: str, metadata: Mapping[str, Any]
    ) -> Reply:
        body = {"session_id": session_id, "agent_id": agent_id, "metadata": dict(metadata)}
        return self.call("POST", "/sessions", json.dumps(body).encode("utf-8"))

    def events_append(self, session_id: str, events: Sequence[bytes]) -> Reply:
        """Send already encoded proposals (see ``Client``) as one all-or-nothing batch."""
        body = b'{"events":[' + b",".join(events) + b"]}"
        return self.call("POST", f"/sessions/{session_id}/events", body)

    def session_get(self, session_id: str) -> Reply:
        return self.call("GET", f"/sessions/{session_id}")

    def session_seal(self, session_id: str) -> Reply:
        return self.call("POST", f"/sessions/{session_id}/seal", b"")

    def keys(self) -> Reply:
        return self.call("GET", "/keys")

    def close(self) -> None:
        self._http.close()

    # -- retries ---------------------------------------------------------------------------

    def call(self, method: str, path: str, body: bytes | None = None) -> Reply:
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            reply = self._attempt(method, path, body)
            if reply.ok or not reply.retryable:
                return _with_attempts(reply, attempts)
            if self._policy.max_attempts and attempts >= self._policy.max_attempts:
                return _with_attempts(reply, attempts)
            if reply.retry_after is not None:
                wait = reply.retry_after
            else:
                wait = self._policy.backoff(attempts - 1, self._rng)
            limit = min(started + self._policy.budget, self._stop_at())
            if time.monotonic() + wait > limit:
                return _with_attempts(reply, attempts)
            self.retries += 1
            self._sleep(wait)

    def _attempt(self, method: str, path: str, body: bytes | None) -> Reply:
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            response = self._http.request(
                method, self._base + path, data=body, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as exc:
            return Reply(status=None, error=f"{type(exc).__name__}: {exc}"[:300])
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = None
        return Reply(
            status=response.status_code,
            body=parsed,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )


def _with_attempts(reply: Reply, attempts: int) -> Reply:
    return Reply(reply.status, reply.body, reply.retry_after, reply.error, attempts)
