from __future__ import annotations

import pytest

from ingestion import keys


@pytest.fixture(autouse=True)
def _service_identity(settings, tmp_path):
    """Every test seals with its own development key, never with var/dev-seal-key.pem."""
    settings.AGENTOPS_INGESTION_SERVICE_ID = "test-ingest"
    settings.AGENTOPS_SEAL_KEY_FILE = ""
    settings.AGENTOPS_DEV_SEAL_KEY_FILE = str(tmp_path / "dev-seal-key.pem")
    settings.AGENTOPS_REQUIRE_SEAL_KEY = False
    settings.AGENTOPS_RETIRED_PUBLIC_KEYS = []
    settings.AGENTOPS_API_RATE = "100000/min"
    keys.cache_clear()
    yield
    keys.cache_clear()
