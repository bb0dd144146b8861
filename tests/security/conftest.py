"""Fixtures of the security suite: two projects, their keys and sessions."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from ingestion import keys, services

from .support import World, session_with_two_events


@pytest.fixture(autouse=True)
def _service_identity(settings, tmp_path):
    """A sealing key of the test's own, and a rate limit that no test here reaches."""
    settings.AGENTOPS_INGESTION_SERVICE_ID = "test-ingest"
    settings.AGENTOPS_SEAL_KEY_FILE = ""
    settings.AGENTOPS_DEV_SEAL_KEY_FILE = str(tmp_path / "dev-seal-key.pem")
    settings.AGENTOPS_REQUIRE_SEAL_KEY = False
    settings.AGENTOPS_RETIRED_PUBLIC_KEYS = []
    settings.AGENTOPS_API_RATE = "1000000/min"
    keys.cache_clear()
    cache.clear()
    yield
    keys.cache_clear()
    cache.clear()


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
