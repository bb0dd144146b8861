"""Fixtures of the security suite: two projects, their keys and sessions."""

from __future__ import annotations

import pytest

from ingestion import services

from .support import World, session_with_two_events


@pytest.fixture
def world(db) -> World:
    _, own_key = services.api_key_create(project_name="acme", name="caller")
    _, other_key = services.api_key_create(project_name="globex", name="other tenant")
    revoked, revoked_key = services.api_key_create(project_name="acme", name="revoked")
    services.api_key_revoke(prefix=revoked.prefix)
    own = session_with_two_events("acme")
    other = session_with_two_events("globex")
    empty, _ = services.session_start(project=revoked.project, agent_id="idle-bot")
    return World(own_key, other_key, revoked_key, own, other, str(empty.pk))
