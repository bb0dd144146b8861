"""The ``agentops-verify`` command, run as a real process: verdicts, exit codes, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk import seal
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .conftest import SessionBuilder, export_document, jsonl_text, vectors_expected

VECTOR_KEY = vectors_expected()["public_key"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentops_sdk.verify", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stderr == ""
    return json.loads(result.stdout)


def assert_unusable(result: subprocess.CompletedProcess[str], reason: str) -> None:
    """Exit 2 with one line on stderr saying why; nothing on stdout, never a traceback."""
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert reason in result.stderr


# -- text output ---------------------------------------------------------------------------


def test_verified_text_puts_the_verdict_first_then_the_details(vectors: Path) -> None:
    result = run(str(vectors / "server_sealed_complete.jsonl"), "--trusted-key", VECTOR_KEY)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("VERIFIED — AUTHORITATIVE EVIDENCE: every event is intact")
    details = result.stdout.index("Technical details")
    assert result.stdout.index("sha256:46373c46a220") > details
    assert "293556a5e0efa676" in result.stdout[details:]


def test_partial_text_explains_each_reason(vectors: Path) -> None:
    result = run(str(vectors / "server_log_drop.jsonl"))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("VERIFIED — PARTIAL AUTHORITATIVE EVIDENCE")
    assert "no public key was supplied" in lines[1]
    assert "3 lost event(s)" in lines[2]


def test_failed_text_lists_each_problem_with_its_location(vectors: Path) -> None:
    result = run(str(vectors / "tampered_payload.jsonl"), "--trusted-key", VECTOR_KEY)
    assert result.returncode == 1
    text = result.stdout
    assert text.startswith("VERIFICATION FAILED — 1 problem found")
    problem = next(line for line in text.splitlines() if "[PAYLOAD_HASH_MISMATCH]" in line)
    assert "Event #3 (id 1738f7d9-3d9c-4724-91e2-0b8f6b0d549b)" in problem
    assert text.index(problem) < text.index("Technical details")


def test_console_script_is_installed(vectors: Path) -> None:
    script = shutil.which("agentops-verify") or str(
        Path(sys.executable).with_name("agentops-verify")
    )
    # make test installs the SDK (editable) with its console script; missing is a defect.
    assert Path(script).exists(), "agentops-verify is not installed: run make test"
    result = subprocess.run(
        [script, str(vectors / "sdk_local.jsonl")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("VERIFIED — NON-AUTHORITATIVE EVIDENCE")


# -- unusable input ------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert_unusable(run(str(tmp_path / "nope.jsonl")), "No such file")


def test_directory(tmp_path: Path) -> None:
    assert_unusable(run(str(tmp_path)), "cannot read")


def test_empty_file_fails_as_an_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    result = run(str(path), "--format", "json")
    assert result.returncode == 1
    assert [v["type"] for v in report_of(result)["violations"]] == ["EMPTY_LOG"]


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda text: text[: len(text) - 40], "line 10 is not valid JSON"),
        (lambda text: text.replace("\n", "\n[1, 2]\n", 1), "line 2 is not a JSON object"),
        (lambda text: text.replace('{"event_id"', '{"event_id": "x", "event_id"', 1), "duplicate"),
        (
            lambda text: text.replace('"timestamp_monotonic": 0', '"timestamp_monotonic": NaN'),
            "NaN",
        ),
        (lambda text: "this is not json\n", "line 1"),
    ],
    ids=["truncated-last-line", "not-an-object", "duplicate-key", "nan", "not-json"],
)
def test_damaged_jsonl_is_unusable(
    write_jsonl: Callable[..., Path],
    builder: SessionBuilder,
    mangle: Callable[[str], str],
    reason: str,
) -> None:
    path = write_jsonl(builder.session(10, sealed=False))
    path.write_text(mangle(path.read_text()))
    assert_unusable(run(str(path)), reason)


def test_binary_garbage_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    assert_unusable(run(str(path)), "UTF-8")


def test_a_50_mb_line_is_verified_and_fails_on_its_altered_payload(
    write_jsonl: Callable[..., Path], builder: SessionBuilder
) -> None:
    events = builder.session(6, sealed=False)
    events[3]["payload"]["args"]["blob"] = "x" * 50_000_000
    result = run(str(write_jsonl(events)), "--format", "json")
    assert result.returncode == 1
    violations = report_of(result)["violations"]
    assert [(v["type"], v["sequence_number"]) for v in violations] == [("PAYLOAD_HASH_MISMATCH", 3)]


def test_a_50_mb_line_nested_beyond_reason_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text('{"payload": ' + "[" * 50_000_000 + "\n")
    assert_unusable(run(str(path)), "line 1 is nested too deeply")


# -- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--trusted-key", "bm90IGEga2V5", "--trusted-key"),
        ("--trusted-key", "/no/such/key.pem", "--trusted-key"),
        ("--trusted-key-id", "xyz", "16 hexadecimal"),
    ],
)
def test_unusable_keys(option: str, value: str, reason: str, vectors: Path) -> None:
    assert_unusable(run(str(vectors / "server_sealed_complete.jsonl"), option, value), reason)


def test_trusted_key_from_a_pem_file(tmp_path: Path, vectors: Path) -> None:
    public = seal.public_key_from_b64(VECTOR_KEY)
    pem = tmp_path / "service.pem"
    pem.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    result = run(str(vectors / "server_sealed_complete.jsonl"), "--trusted-key", str(pem))
    assert result.returncode == 0
    assert "AUTHORITATIVE EVIDENCE" in result.stdout.splitlines()[0]


# -- compliance exports --------------------------------------------------------------------


@pytest.fixture
def export(
    tmp_path: Path, builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> Callable[..., Path]:
    """Write an export of a sealed session, signed by ``signer``, embedding ``embedded``."""

    def write(
        signer: Ed25519PrivateKey | None = None, embedded: Ed25519PrivateKey | None = None
    ) -> Path:
        signer = signer or signing_key
        embedded = embedded or signer
        events = builder.session(9, sealed=False)
        events.append(builder.seal(events, key=signer))
        public = embedded.public_key()
        path = tmp_path / "export.json"
        path.write_bytes(
            export_document(events, seal.public_key_b64(public), seal.key_id(public), signer)
        )
        return path

    return write


def verdict(result: subprocess.CompletedProcess[str]) -> tuple[str, list[str]]:
    report = report_of(result)
    return report["evidence_class"], report["partial_reasons"]


def test_export_with_its_embedded_key_alone_is_partial(export: Callable[..., Path]) -> None:
    result = run(str(export()), "--format", "json")
    assert result.returncode == 0
    assert verdict(result) == ("PARTIAL_AUTHORITATIVE_EVIDENCE", ["KEY_NOT_TRUSTED"])


def test_export_with_matching_trusted_key_id_is_authoritative(
    export: Callable[..., Path], signing_key: Ed25519PrivateKey
) -> None:
    key_id = seal.key_id(signing_key.public_key())
    result = run(str(export()), "--format", "json", "--trusted-key-id", key_id.upper())
    assert verdict(result) == ("AUTHORITATIVE_EVIDENCE", [])


def test_export_with_trusted_key_is_authoritative(
    export: Callable[..., Path], signing_key: Ed25519PrivateKey
) -> None:
    public = seal.public_key_b64(signing_key.public_key())
    result = run(str(export()), "--format", "json", "--trusted-key", public)
    assert verdict(result) == ("AUTHORITATIVE_EVIDENCE", [])


def test_export_resigned_by_an_attacker_is_never_authoritative(
    export: Callable[..., Path], signing_key: Ed25519PrivateKey
) -> None:
    attacker = Ed25519PrivateKey.generate()
    path = export(signer=attacker)
    real_key = seal.public_key_b64(signing_key.public_key())
    real_key_id = seal.key_id(signing_key.public_key())

    alone = run(str(path), "--format", "json")
    assert verdict(alone) == ("PARTIAL_AUTHORITATIVE_EVIDENCE", ["KEY_NOT_TRUSTED"])
    named = run(str(path), "--format", "json", "--trusted-key-id", real_key_id)
    assert verdict(named) == ("PARTIAL_AUTHORITATIVE_EVIDENCE", ["KEY_NOT_TRUSTED"])
    checked = run(str(path), "--format", "json", "--trusted-key", real_key)
    assert checked.returncode == 1
    assert [v["type"] for v in report_of(checked)["violations"]] == [
        "SEAL_SIGNATURE_INVALID",
        "EXPORT_SIGNATURE_INVALID",
    ]


def test_export_with_a_foreign_embedded_key_fails_its_signature(
    export: Callable[..., Path],
) -> None:
    path = export(embedded=Ed25519PrivateKey.generate())
    result = run(str(path), "--format", "json")
    assert result.returncode == 1
    assert [v["type"] for v in report_of(result)["violations"]] == ["SEAL_SIGNATURE_INVALID"]


def test_jsonl_export_of_the_same_events_is_equivalent(
    tmp_path: Path, builder: SessionBuilder, signing_key: Ed25519PrivateKey
) -> None:
    events = builder.session(7)
    path = tmp_path / "s.jsonl"
    path.write_text(jsonl_text(events))
    public = seal.public_key_b64(signing_key.public_key())
    assert verdict(run(str(path), "--format", "json", "--trusted-key", public)) == (
        "AUTHORITATIVE_EVIDENCE",
        [],
    )


# -- policy --------------------------------------------------------------------------------


def test_reject_local_authority_fails_a_local_session(vectors: Path) -> None:
    result = run(str(vectors / "sdk_local.jsonl"), "--reject-local-authority")
    assert result.returncode == 1
    assert "[POLICY_VIOLATION]" in result.stdout


def test_require_authoritative_fails_a_partial_session(vectors: Path) -> None:
    result = run(
        str(vectors / "server_unsealed.jsonl"),
        "--trusted-key",
        VECTOR_KEY,
        "--require-authoritative",
    )
    assert result.returncode == 1
    assert "[POLICY_VIOLATION]" in result.stdout
