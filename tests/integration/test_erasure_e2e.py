"""Erasure end to end: the real SDK records to the live service on a loopback port, the
operator erases a data subject with manage.py, the session is exported over HTTP, and
``agentops-verify`` checks the export offline: PASS, AUTHORITATIVE_EVIDENCE, exactly the
erased event under ``redacted_events``. Every door gives the same verdict."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk import seal
from agentops_sdk.client import Client
from django.core.management import call_command

from ingestion import keys
from ingestion.erasure_models import Erasure
from ingestion.models import Verification

from .support import FAST, stored_events

pytestmark = pytest.mark.django_db(transaction=True)

VERIFY = Path(sys.executable).with_name("agentops-verify")
EMAIL = "jane.doe@example.org"


def test_sdk_to_service_to_erasure_to_export_to_agentops_verify(
    live_server: Any, api_key: str, tmp_path: Path
) -> None:
    client = Client(live_server.url, api_key, **FAST)
    with client.session("support-bot") as session:
        session.tool_call("send_mail", {"to": EMAIL, "body": "your refund is on its way"})
        session.tool_call("lookup_order", {"order_id": 7})
    client.close(timeout=20)
    session_id = session.session_id
    events = stored_events(session_id)
    erased = [e["sequence_number"] for e in events if "send_mail" in json.dumps(e["payload"])]
    assert len(erased) == 1 and "nonce" in events[erased[0]]["payload"]

    out = StringIO()
    common = ["--project", "integration", "--subject", EMAIL.upper()]
    common += ["--request-ref", "DSR-2026-0042", "--reason", "GDPR Art. 17 request"]
    call_command("erase_personal_data", *common, stdout=out)
    assert "Would erase (dry run): 1 event(s)" in out.getvalue()
    report_path = tmp_path / "erasure-report.json"
    call_command("erase_personal_data", *common, "--execute", "--report", str(report_path))
    assert Erasure.objects.get().sequence_number == erased[0]
    assert EMAIL not in report_path.read_text()

    def http(path: str, body: dict | None = None) -> bytes:
        request = urllib.request.Request(
            live_server.url + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            return response.read()

    data = http(f"/api/v1/sessions/{session_id}/export?format=json")
    assert EMAIL.encode() not in data
    document = json.loads(data)
    assert [e["sequence_number"] for e in document["erasures"]] == erased
    path = tmp_path / "export.json"
    path.write_bytes(data)
    key = seal.public_key_b64(keys.signing_key().public_key())
    result = subprocess.run(
        [str(VERIFY), str(path), "--format", "json", "--trusted-key", key],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    offline = json.loads(result.stdout)
    offline = offline[0] if isinstance(offline, list) else offline
    offline = offline.get("report", offline)
    online = json.loads(http("/api/v1/verify", {"session_id": session_id}))
    online = online.get("report", online)
    command = StringIO()
    call_command("verify_sessions", "--session", session_id, stdout=command)
    assert "1 passed, 0 failed" in command.getvalue()
    by_command = Verification.objects.filter(session_id=session_id, trigger="command").get()
    for report in (offline, online, document["verification"], by_command.report):
        assert report["status"] == "PASS"
        assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
        assert report["redacted_events"] == erased
