"""Rate limits counted in the cache that every worker shares.

Two limits:

- requests per API key (``AGENTOPS_API_RATE``, e.g. ``6000/min``); a request without a key
  (the schema, the public keys) counts against its client address instead;
- failed authentications per client address (``AGENTOPS_AUTH_FAILURE_RATE``, e.g.
  ``30/min``): a missing, invalid, expired or revoked key. Over the limit the address is
  answered 429 before any key is looked up, so guessing keys costs the service one cache read
  per attempt. Successes are never counted.

The client address is ``REMOTE_ADDR``, or with ``AGENTOPS_TRUSTED_PROXIES`` = N (DRF's
``NUM_PROXIES``) the address the N-th proxy from the right wrote into ``X-Forwarded-For``; a
header the client wrote itself is never believed otherwise.

Each limit counts in fixed windows: one counter per caller and window of the rate's period,
named by the window's number and gone once the window has passed. Incrementing is one round
trip: an upsert on the database cache (``dbcache://``), ``SET NX`` + ``INCR`` in one
transaction on Redis. A caller may therefore make up to twice the rate across the boundary of
two windows, and concurrent failures may pass the read before any of them is counted; both
bound an attacker to a small multiple of the rate, which is what the limit is for.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.redis import RedisCache
from django.db import connections, router
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

logger = logging.getLogger(__name__)

# Addresses and key prefixes go into cache keys as they are; anything else a proxy header may
# carry is hashed so that no cache backend ever sees an odd or overlong key.
_PLAIN_IDENT = re.compile(r"[0-9A-Za-z.:_-]{1,64}")


def _ident_safe(ident: str | None) -> str:
    ident = ident or "unknown"
    if _PLAIN_IDENT.fullmatch(ident):
        return ident
    return hashlib.sha256(ident.encode("utf-8", "replace")).hexdigest()[:32]


def client_address(request) -> str:
    """The client's address by the rule above (REST framework's, with ``NUM_PROXIES``): the
    one every limit counts and the access ledger records."""
    return BaseThrottle().get_ident(request)


# --- counters -------------------------------------------------------------------------------


def _redis_errors() -> tuple[type[Exception], ...]:
    from redis.exceptions import ConnectionError, TimeoutError  # only with a Redis cache

    return (ConnectionError, TimeoutError)


def _db_counter(backend: DatabaseCache, key: str, *, expires_at: float | None) -> int:
    connection = connections[router.db_for_write(backend.cache_model_class)]
    quote = connection.ops.quote_name
    table, cache_key, value, expires = map(quote, (backend._table, "cache_key", "value", "expires"))
    # Only identifiers quoted by the backend are formatted into the statements (the table is
    # the one CACHES names); every value is a bound parameter.
    with connection.cursor() as cursor:
        if expires_at is None:
            cursor.execute(f"SELECT {value} FROM {table} WHERE {cache_key} = %s", [key])  # noqa: S608
            row = cursor.fetchone()
            return int(row[0]) if row else 0
        expiry = datetime.fromtimestamp(math.ceil(expires_at), tz=UTC if settings.USE_TZ else None)
        # Not a pickled value as DatabaseCache writes: only this module reads these rows, and
        # a number in text is what lets the database add one in the same statement.
        cursor.execute(
            f"INSERT INTO {table} ({cache_key}, {value}, {expires}) VALUES (%s, '1', %s) "  # noqa: S608
            f"ON CONFLICT ({cache_key}) DO UPDATE "
            f"SET {value} = CAST(CAST({table}.{value} AS INTEGER) + 1 AS TEXT) "
            f"RETURNING {value}",
            [key, connection.ops.adapt_datetimefield_value(expiry)],
        )
        count = int(cursor.fetchone()[0])
        if count == 1:
            # A new window began for this caller: the counters of past windows are dropped
            # here, once per caller and window, since no set() of the cache culls them.
            now = datetime.fromtimestamp(time.time(), tz=UTC if settings.USE_TZ else None)
            cursor.execute(
                f"DELETE FROM {table} WHERE {expires} < %s",  # noqa: S608
                [connection.ops.adapt_datetimefield_value(now)],
            )
        return count


def _redis_counter(backend: RedisCache, key: str, *, expires_at: float | None) -> int:
    client = backend._cache.get_client(key, write=expires_at is not None)
    if expires_at is None:
        value = client.get(key)
        return int(value) if value is not None else 0
    pipe = client.pipeline(transaction=True)  # MULTI ... EXEC: one round trip
    pipe.set(key, 0, ex=max(1, math.ceil(expires_at - time.time())), nx=True)
    pipe.incr(key)
    _, count = pipe.execute()
    return int(count)


def _generic_counter(backend, key: str, *, expires_at: float | None) -> int:
    if expires_at is None:
        return int(backend.get(key, 0))
    timeout = max(1, math.ceil(expires_at - time.time()))
    backend.add(key, 0, timeout)
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.set(key, 1, timeout)
        return 1


def counter_get(*, key: str, expires_at: float | None = None) -> int:
    """The count under ``key`` in the default cache; with ``expires_at`` (epoch seconds) one
    is added first, and the counter is created to expire then."""
    backend = caches["default"]
    try:
        if isinstance(backend, DatabaseCache):
            return _db_counter(backend, backend.make_and_validate_key(key), expires_at=expires_at)
        if isinstance(backend, RedisCache):
            return _redis_counter(
                backend, backend.make_and_validate_key(key), expires_at=expires_at
            )
    except Exception as exc:
        # Redis out of reach: requests go on unlimited rather than evidence being refused.
        # A database cache that fails fails the request as the database would anyway.
        if isinstance(backend, RedisCache) and isinstance(exc, _redis_errors()):
            logger.warning("rate limits not applied: the cache is unreachable: %s", exc)
            return 0
        raise
    return _generic_counter(backend, key, expires_at=expires_at)


# --- throttles ------------------------------------------------------------------------------


class WindowRateThrottle(SimpleRateThrottle):
    """A rate (``N/s``, ``N/min``, ``N/hour``, ``N/day``) counted per fixed window."""

    scope = "window"

    def get_ident(self, request) -> str:
        return client_address(request)

    def window(self, ident: str | None) -> tuple[str, float]:
        """The cache key of ``ident``'s counter for the current window, and the window's end."""
        now = self.timer()
        number = int(now // self.duration)
        key = f"rate:{self.scope}:{self.duration}:{_ident_safe(ident)}:{number}"
        return key, (number + 1) * self.duration

    def refuse(self, ends: float) -> None:
        raise exceptions.Throttled(wait=max(ends - self.timer(), 1))


class ApiKeyRateThrottle(WindowRateThrottle):
    """Requests per API key; the rate comes from ``AGENTOPS_API_RATE`` (e.g. ``6000/min``)."""

    scope = "api_key"

    def get_rate(self):
        return settings.AGENTOPS_API_RATE or None

    def get_cache_key(self, request, view):
        if request.auth is None:
            return self.get_ident(request)
        return request.auth.prefix

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key, self.ends = self.window(self.get_cache_key(request, view))
        return counter_get(key=key, expires_at=self.ends) <= self.num_requests

    def wait(self):
        return max(self.ends - self.timer(), 1)


class AuthFailureThrottle(WindowRateThrottle):
    """Failed authentications per client address (``AGENTOPS_AUTH_FAILURE_RATE``)."""

    scope = "auth_failure"

    def get_rate(self):
        return settings.AGENTOPS_AUTH_FAILURE_RATE or None


def auth_failures_check(*, request) -> None:
    """Throttled (429) when the client address has used up its failed authentications."""
    throttle = AuthFailureThrottle()
    if throttle.rate is None:
        return
    key, ends = throttle.window(throttle.get_ident(request))
    if counter_get(key=key) >= throttle.num_requests:
        throttle.refuse(ends)


def auth_failure_record(*, request) -> None:
    """Count one failed authentication of the client address; Throttled once over the rate."""
    throttle = AuthFailureThrottle()
    if throttle.rate is None:
        return
    key, ends = throttle.window(throttle.get_ident(request))
    if counter_get(key=key, expires_at=ends) > throttle.num_requests:
        throttle.refuse(ends)
