"""One file, one verdict: ``POST /api/v1/verify`` and ``agentops-verify`` read evidence alike.

Each file of ``sdk/tests/corpus`` is uploaded to the service (``.jsonl`` as
``application/x-ndjson``, ``.json`` as ``application/json``) and verified by the command-line
verifier in this process. Both must give the verdict listed here: the status, evidence class
and violation codes of the report, or the same refusal reason (``agentops_sdk.reading``).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk import chain, reading
from agentops_sdk.verify import LogFormatError, main, verify_file, verify_session
from django.test import Client

from ingestion import services
from ingestion.errors import IngestionError
from ingestion.tests.factories import proposal_build, session_create

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).resolve().parents[1] / "sdk" / "tests" / "corpus"
#: The line limit while the corpus is read, so that ``huge_line.jsonl`` stays small.
LINE_LIMIT = 16 * 1024
LOCAL = {"chain_authority": chain.AUTHORITY_SDK, "authority_id": "sdk-test"}

PASSED = ("PASS", "NON_AUTHORITATIVE_EVIDENCE", ())
EXPECTED: dict[str, tuple[Any, ...]] = {
    "valid.jsonl": PASSED,
    "valid_compact_crlf.jsonl": PASSED,
    "blank_lines.jsonl": PASSED,
    "empty.jsonl": ("FAIL", None, ("EMPTY_LOG",)),
    "blank_only.jsonl": ("FAIL", None, ("EMPTY_LOG",)),
    "tampered_payload.jsonl": ("FAIL", None, ("PAYLOAD_HASH_MISMATCH",)),
    "byte_order_mark.jsonl": ("refused", reading.BYTE_ORDER_MARK),
    "lone_cr.jsonl": ("refused", reading.LONE_CR),
    "nan.jsonl": ("refused", reading.NON_FINITE_NUMBER),
    "infinity.jsonl": ("refused", reading.NON_FINITE_NUMBER),
    "duplicate_key.jsonl": ("refused", reading.DUPLICATE_KEY),
    "duplicate_key_nested.jsonl": ("refused", reading.DUPLICATE_KEY),
    "invalid_utf8.jsonl": ("refused", reading.INVALID_UTF8),
    "encoded_surrogate.jsonl": ("refused", reading.INVALID_UTF8),
    "trailing_garbage.jsonl": ("refused", reading.TRAILING_DATA),
    "two_values_on_a_line.jsonl": ("refused", reading.TRAILING_DATA),
    "not_an_object.jsonl": ("refused", reading.NOT_AN_OBJECT),
    "huge_line.jsonl": ("refused", reading.TOO_LARGE),
    "export_duplicate_key.json": ("refused", reading.DUPLICATE_KEY),
    "export_nan.json": ("refused", reading.NON_FINITE_NUMBER),
    "export_byte_order_mark.json": ("refused", reading.BYTE_ORDER_MARK),
}


def _verdict(report: dict[str, Any]) -> tuple[Any, ...]:
    codes = tuple(sorted({violation["type"] for violation in report["violations"]}))
    return (report["status"], report["evidence_class"], codes)


def _service_verdict(client: Client, key: str, path: Path) -> tuple[Any, ...]:
    media = "application/json" if path.suffix == ".json" else "application/x-ndjson"
    # CONTENT_TYPE also in the environ: the test client leaves it out when the body is empty.
    response = client.post(
        "/api/v1/verify",
        path.read_bytes(),
        content_type=media,
        CONTENT_TYPE=media,
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    if response.status_code == 200:
        return _verdict(response.json())
    error = response.json()["error"]
    return ("refused", error["details"].get("reason"))


def _command_verdict(path: Path) -> tuple[Any, ...]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(path), "--format", "json"])
    if status in (0, 1):
        return _verdict(json.loads(out.getvalue()))
    assert status == 2, err.getvalue()
    # Why the command refused it: the error it printed, with its reason.
    with pytest.raises(LogFormatError) as refused:
        verify_file(path)
    assert str(refused.value) in err.getvalue()
    return ("refused", refused.value.reason)


def test_the_corpus_is_listed_whole() -> None:
    assert sorted(path.name for path in CORPUS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_service_and_the_command_give_the_same_verdict(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "MAX_LINE_BYTES", LINE_LIMIT)
    _, key = services.api_key_create(project_name="acme", name="corpus")
    path = CORPUS / name
    service = _service_verdict(Client(), key, path)
    command = _command_verdict(path)
    assert (service, command) == (EXPECTED[name], EXPECTED[name])


# --- the ordering rules: the service refuses what the verifier reports, in the same words ----


@pytest.mark.parametrize(
    "types",
    [
        ["SESSION_START", "SESSION_END", "TOOL_CALL"],
        ["SESSION_START", "SESSION_END", "SESSION_START"],
        ["SESSION_START", "TOOL_CALL", "SESSION_START"],
    ],
)
def test_an_event_out_of_order_is_worded_alike(types: list[str]) -> None:
    session = session_create()
    proposals = [proposal_build(session.pk, seq, kind) for seq, kind in enumerate(types)]
    with pytest.raises(IngestionError) as refused:
        services.events_append(session=session, proposals=proposals)
    assert refused.value.code == "ORDERING_VIOLATION"

    events, prev = [], None
    for proposal in proposals:
        events.append(chain.chain_event(proposal, prev_event_hash=prev, **LOCAL))
        prev = events[-1]["event_hash"]
    (violation,) = verify_session(events)["violations"]
    assert violation["type"] == "ORDERING_VIOLATION"
    assert refused.value.message == f"event {len(types) - 1}: {violation['message']}"
