"""The demo of ``make demo-otel`` (examples/otel_demo/run_demo.py), run as its own process:
an agent instrumented only with OpenTelemetry, exporting OTLP/HTTP to the live service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk.verify import verify_file

from ingestion import keys
from ingestion.models import Session

from .test_demo import REPO, printed, run_demo

pytestmark = pytest.mark.django_db(transaction=True)

DEMO = REPO / "examples" / "otel_demo" / "run_demo.py"


def test_the_opentelemetry_demo_ends_with_authoritative_evidence(
    live_server: Any, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    monkeypatch.setattr("tests.integration.test_demo.DEMO", DEMO)
    # The PDF is an export job: here it runs as it is queued, inside the live server (make
    # demo-otel starts an export worker; a worker process cannot reach this test's database).
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default", "exports"],
        }
    }
    out = tmp_path / "out"
    result = run_demo(
        "--server", live_server.url, "--api-key", api_key, "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert printed(result.stdout, "evidence class:") == "AUTHORITATIVE_EVIDENCE"
    json_path = Path(printed(result.stdout, "compliance export (JSON):"))
    report = verify_file(json_path, trusted_keys=keys.trusted_public_keys())
    custody = json.loads(json_path.read_bytes())["chain_of_custody"]["statement"]
    assert custody.startswith("The agent's OpenTelemetry exporter sent its traces"), custody
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE", report
    session = Session.objects.get()
    assert session.agent_id == "support-bot" and session.metadata["source"] == "otlp"
    types = list(session.events.order_by("sequence_number").values_list("event_type", flat=True))
    assert types.count("TOOL_CALL") == 3 and types[-2:] == ["SESSION_END", "CHAIN_SEAL"]
