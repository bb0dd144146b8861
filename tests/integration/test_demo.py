"""The demo of ``make demo`` (examples/langchain_demo/run_demo.py), run as its own process."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk.verify import verify_file

from compliance.models import ExportRecord
from ingestion import keys

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "langchain_demo" / "run_demo.py"


def run_demo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AGENTOPS_")}
    return subprocess.run(
        [sys.executable, str(DEMO), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=environment,
        check=False,
    )


def printed(stdout: str, label: str) -> str:
    """The value the demo printed after ``label``."""
    (line,) = [line for line in stdout.splitlines() if line.startswith(label)]
    return line[len(label) :].strip()


def test_against_the_service_the_demo_ends_with_authoritative_evidence(
    live_server: Any, api_key: str, tmp_path: Path, settings: Any
) -> None:
    # The PDF is an export job: here it runs as it is queued, inside the live server (make
    # demo starts an export worker; a worker process cannot reach this test's database).
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
    pdf_path = Path(printed(result.stdout, "compliance report (PDF):"))
    assert json_path.parent == out and pdf_path.parent == out
    assert pdf_path.read_bytes().startswith(b"%PDF-")

    # The JSON in out/ is the one the PDF carries and cites, byte for byte.
    digest = hashlib.sha256(json_path.read_bytes()).hexdigest()
    assert printed(result.stdout, "PDF and JSON pair:").endswith(f"(SHA-256 {digest})")
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["pdfdetach", "-saveall", "-o", folder, str(pdf_path)], check=True)
        (attached,) = Path(folder).iterdir()
        assert attached.read_bytes() == json_path.read_bytes()
    pdf_text = subprocess.run(
        ["pdftotext", str(pdf_path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert digest in "".join(pdf_text.split())
    cited = ExportRecord.objects.get(format="pdf").json_export
    assert (cited.sha256, cited.attached_to_pdf, cited.delivered) == (digest, True, True)

    # The export verifies with the service's key, here as in the demo...
    report = verify_file(json_path, trusted_keys=keys.trusted_public_keys())
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE", report
    assert report["export_signature"]["signature_valid"] is True
    assert report["complete"] is True and report["total_drops"] == 0

    # ...and the command line the demo prints does what it says.
    (command,) = [
        line.strip()
        for line in result.stdout.splitlines()
        if line.strip().startswith("agentops-verify ")
    ]
    argv = shlex.split(command)[1:]
    verified = subprocess.run(
        [sys.executable, "-m", "agentops_sdk.verify", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "AUTHORITATIVE EVIDENCE" in verified.stdout


def test_without_a_service_the_demo_verifies_its_local_log(tmp_path: Path) -> None:
    result = run_demo("--out", str(tmp_path / "out"), cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert printed(result.stdout, "evidence class:") == "NON_AUTHORITATIVE_EVIDENCE"
    log = Path(printed(result.stdout, "session log (JSONL):"))
    assert log.parent == tmp_path / "out" and log.suffix == ".jsonl"
    assert verify_file(log)["status"] == "PASS"
