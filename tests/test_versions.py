"""One release number: the CHANGELOG's latest release, reported by the SDK and the service."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import agentops_sdk
import pytest
from django.test import Client

import agentops

REPO = Path(__file__).resolve().parent.parent

#: A release heading: ``## 1.2.3 — 2026-12-05`` (``## Unreleased`` is not one).
RELEASE_HEADING = re.compile(r"^## (\d+\.\d+\.\d+) — \d{4}-\d{2}-\d{2}$", re.M)


def latest_release() -> str:
    found = RELEASE_HEADING.search((REPO / "CHANGELOG.md").read_text(encoding="utf-8"))
    assert found, "the CHANGELOG has no release heading (## X.Y.Z — YYYY-MM-DD)"
    return found.group(1)


def test_the_sdk_and_the_service_are_the_changelogs_latest_release() -> None:
    assert agentops_sdk.__version__ == latest_release()
    assert agentops.__version__ == latest_release()
    assert f"agentops-sdk/{latest_release()}" == agentops_sdk.SOURCE_SDK_VER


def test_the_sdk_package_takes_its_version_from_the_package() -> None:
    project = tomllib.loads((REPO / "sdk" / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "agentops_sdk.__version__"}
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["agentops_sdk"]
    assert (REPO / "sdk" / "agentops_sdk" / "py.typed").is_file()


def test_agentops_verify_reports_the_release() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentops_sdk.verify", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"agentops-verify {latest_release()}"


@pytest.mark.django_db
def test_healthz_and_the_api_schema_report_the_release() -> None:
    client = Client()
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["version"] == latest_release()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert schema.json()["info"]["version"] == latest_release()


def test_compliance_exports_name_the_release_of_their_verifier() -> None:
    from compliance.exports.document import VERIFIER_SOFTWARE

    assert VERIFIER_SOFTWARE.startswith(f"agentops-sdk/{latest_release()} ")
