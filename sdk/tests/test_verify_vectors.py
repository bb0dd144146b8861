"""Every spec vector, through the library and through the real ``agentops-verify`` command."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk import seal
from agentops_sdk.verify import verify_file, verify_session

from .conftest import vector_cases

CASES = vector_cases()


def case_id(case: dict[str, Any]) -> str:
    return case["file"].removesuffix(".jsonl")


def trusted(case: dict[str, Any]) -> list[Any]:
    return [seal.public_key_from_b64(case["trusted_key"])] if case["trusted_key"] else []


def assert_matches(report: dict[str, Any], case: dict[str, Any]) -> None:
    assert report["status"] == case["status"]
    assert report["evidence_class"] == case["evidence_class"]
    assert report["partial_reasons"] == case["partial_reasons"]
    assert report["redacted_events"] == case["redacted_events"]
    codes = {violation["type"] for violation in report["violations"]}
    assert set(case["violations"]) <= codes


def test_every_vector_file_has_an_expected_verdict(vectors: Path) -> None:
    assert {path.name for path in vectors.glob("*.jsonl")} == {case["file"] for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_library_verdict(case: dict[str, Any], vectors: Path) -> None:
    assert_matches(verify_file(vectors / case["file"], trusted_keys=trusted(case)), case)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_library_reports_each_defect_once(case: dict[str, Any], vectors: Path) -> None:
    # Stricter than the vectors demand: no knock-on codes, so a report points at the cause.
    report = verify_file(vectors / case["file"], trusted_keys=trusted(case))
    assert {violation["type"] for violation in report["violations"]} == set(case["violations"])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_library_verdict_from_parsed_events(case: dict[str, Any], vectors: Path) -> None:
    lines = (vectors / case["file"]).read_text(encoding="utf-8").splitlines()
    events = (json.loads(line) for line in lines if line.strip())
    assert_matches(verify_session(events, trusted_keys=trusted(case)), case)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_command_verdict(case: dict[str, Any], python: str, vectors: Path) -> None:
    command = [python, "-m", "agentops_sdk.verify", str(vectors / case["file"]), "--format", "json"]
    if case["trusted_key"]:
        command += ["--trusted-key", case["trusted_key"]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == (0 if case["status"] == "PASS" else 1), result.stderr
    assert result.stderr == ""
    assert_matches(json.loads(result.stdout), case)
