"""Tenants and their keys: a project sees, changes and proves only its own sessions.

The session-scoped endpoints are discovered from the URLconf, so an endpoint added later
(an export, say) is covered here without anyone remembering to add it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from ingestion import services
from ingestion.models import ApiKey

from .support import error_of, proposal, stored_state

pytestmark = pytest.mark.django_db

SESSION_PARAM = re.compile(r"<(?:\w+:)?session_id>")
UNKNOWN_SESSION = "00000000-0000-4000-8000-000000000000"
# Methods every view answers itself (405 or metadata): they never reach a session.
GENERIC_METHODS = {"options", "head", "trace"}


def _routes(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def session_endpoints() -> list[tuple[str, str]]:
    """(method, route) of every URL that takes a ``session_id``, for each method it serves."""
    found = []
    for route, callback in _routes(get_resolver().url_patterns):
        if not SESSION_PARAM.search(route):
            continue
        view_class = getattr(callback, "view_class", None)
        assert view_class is not None, f"{route}: cannot tell which methods it serves"
        for method in view_class.http_method_names:
            if method not in GENERIC_METHODS and hasattr(view_class, method):
                found.append((method.upper(), "/" + route))
    return sorted(found)


ENDPOINTS = session_endpoints()


def _request(client: Client, method: str, route: str, session_id: str):
    """The request a legitimate caller would make, aimed at ``session_id``."""
    path = SESSION_PARAM.sub(session_id, route)
    query = {"format": "json"} if path.endswith("/export") else {}
    if path.endswith("/events") and method == "POST":
        # A valid continuation of the two-event chain: it would be stored if the key were
        # allowed in, so the refusal below can only come from the tenant check.
        data = json.dumps({"events": [proposal(session_id, 2)]})
    else:
        data = json.dumps({}) if method in {"POST", "PUT", "PATCH"} else ""
    return client.generic(method, path, data, content_type="application/json", query_params=query)


def test_discovery_finds_every_known_session_endpoint():
    assert {
        ("GET", "/api/v1/sessions/<str:session_id>"),
        ("GET", "/api/v1/sessions/<str:session_id>/events"),
        ("POST", "/api/v1/sessions/<str:session_id>/events"),
        ("POST", "/api/v1/sessions/<str:session_id>/seal"),
    } <= set(ENDPOINTS)


@pytest.mark.parametrize(("method", "route"), ENDPOINTS, ids=[f"{m} {r}" for m, r in ENDPOINTS])
def test_another_projects_session_is_indistinguishable_from_none(world, method, route):
    intruder = world.client(world.other_key)
    before = stored_state()

    refused = _request(intruder, method, route, world.own)
    unknown = _request(intruder, method, route, UNKNOWN_SESSION)

    assert refused.status_code == 404, refused.content[:300]
    assert error_of(refused)["code"] == "SESSION_NOT_FOUND"
    # Byte for byte the answer for a session that does not exist: nothing to probe with.
    assert refused.content == unknown.content
    assert stored_state() == before
    # The same request from the owner reaches the session: the 404 above was the tenant wall.
    owner = _request(world.client(world.own_key), method, route, world.own)
    assert owner.status_code != 404, owner.content[:300]


def test_verify_refuses_another_projects_session(world):
    intruder = world.client(world.other_key)
    response = intruder.post(
        "/api/v1/verify", {"session_id": world.own}, content_type="application/json"
    )
    assert response.status_code == 404
    assert error_of(response)["code"] == "SESSION_NOT_FOUND"
    owner = world.client(world.own_key)
    assert (
        owner.post(
            "/api/v1/verify", {"session_id": world.own}, content_type="application/json"
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "query",
    [{}, {"agent_id": "support-bot"}, {"sealed": "false"}, {"limit": "500"}],
    ids=["all", "agent", "open", "big page"],
)
def test_listing_shows_only_the_callers_sessions(world, query):
    page = world.client(world.other_key).get("/api/v1/sessions", query).json()
    listed = {item["session_id"] for item in page["results"]}
    assert listed == {world.other}
    assert page["count"] == 1


def test_starting_another_projects_session_id_is_refused(world):
    before = stored_state()
    response = world.client(world.other_key).post(
        "/api/v1/sessions",
        {"agent_id": "intruder", "session_id": world.own},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert error_of(response)["code"] == "SESSION_CONFLICT"
    assert stored_state() == before


# --- keys --------------------------------------------------------------------------------------


def test_a_revoked_key_is_refused_at_once(world):
    client = world.client(world.own_key)
    assert client.get("/api/v1/sessions").status_code == 200

    services.api_key_revoke(prefix=world.own_key.split(".")[0])

    response = client.get("/api/v1/sessions")
    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHENTICATED"
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_key_revoked_by_the_command_is_refused_at_once(world):
    client = world.client(world.own_key)
    path = f"/api/v1/sessions/{world.own}/events"
    assert client.get(path).status_code == 200

    call_command("revoke_api_key", world.own_key.split(".")[0], stdout=StringIO())

    assert client.get(path).status_code == 401
    assert client.post(f"/api/v1/sessions/{world.own}/seal").status_code == 401


def test_an_expired_key_is_refused(world):
    ApiKey.objects.filter(prefix=world.own_key.split(".")[0]).update(
        expiry_date=timezone.now() - timedelta(seconds=1)
    )
    response = world.client(world.own_key).get("/api/v1/sessions")
    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHENTICATED"


def test_a_key_with_a_forged_secret_is_refused(world):
    prefix, secret = world.own_key.split(".")
    forged = f"{prefix}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    response = world.client(forged).get("/api/v1/sessions")
    assert response.status_code == 401


def test_keys_are_stored_only_hashed(world):
    prefix, secret = world.own_key.split(".")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM ingestion_apikey WHERE prefix = %s", [prefix])
        columns = [column[0] for column in cursor.description]
        row = dict(zip(columns, cursor.fetchone(), strict=True))
    stored = " ".join(str(value) for value in row.values())
    assert secret not in stored
    assert world.own_key not in stored
    # A one-way digest of the whole key, nothing that gives it back.
    assert row["hashed_key"] == "sha512$$" + hashlib.sha512(world.own_key.encode()).hexdigest()
