"""Fixtures for the SDK suite: sessions built with the chain rules, keys, the spec vectors."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk import chain, seal
from agentops_sdk.verify import EXPORT_SIGNATURE, export_document_sha256, export_signature_build
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import hypothesis_profiles

REPO = Path(__file__).resolve().parents[2]
SERVICE_ID = "test-ingest-01"


def pytest_configure(config: pytest.Config) -> None:
    hypothesis_profiles.install(config)  # for the SDK's suite run alone


def spec_dir() -> Path:
    """The shared spec directory: ``$AGENTOPS_SPEC_DIR``, else ``<repo>/../shared/spec``."""
    configured = os.environ.get("AGENTOPS_SPEC_DIR")
    return Path(configured) if configured else REPO.parent / "shared" / "spec"


def vectors_dir() -> Path:
    """The spec's test vectors: their files and ``expected.json``; the suite needs them."""
    folder = spec_dir() / "vectors"
    if not (folder / "expected.json").is_file():
        pytest.fail(f"spec vectors not found at {folder}; set AGENTOPS_SPEC_DIR", pytrace=False)
    return folder


@pytest.fixture(scope="session")
def vectors() -> Path:
    """The folder of the spec's test vectors (``vectors_dir``)."""
    return vectors_dir()


def vectors_expected() -> dict[str, Any]:
    """``vectors/expected.json``: the cases, the public key and key id that sign them."""
    return json.loads((vectors_dir() / "expected.json").read_text(encoding="utf-8"))


def vector_cases() -> list[dict[str, Any]]:
    """The cases of ``vectors/expected.json``, for parametrized tests."""
    return vectors_expected()["cases"]


def wall(index: int) -> str:
    return f"2026-01-25T10:{index // 60 % 60:02d}:{index % 60:02d}.{index % 1000:03d}000Z"


def payload_for(event_type: str, index: int) -> dict[str, Any]:
    """A small payload that meets the requirements of ``event_type`` (spec §4)."""
    return {
        "SESSION_START": {"agent_id": "support-bot", "environment": "dev", "tags": ["test"]},
        "SESSION_END": {"status": "success", "duration_ms": 1000 + index},
        "MODEL_REQUEST": {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": f"question {index}"}],
            "temperature": 0.2,
        },
        "MODEL_RESPONSE": {
            "model": "gpt-4o",
            "finish_reason": "stop",
            "content": f"answer {index}",
        },
        "TOOL_CALL": {"tool_name": "lookup_order", "args": {"order_id": 1000 + index}},
        "TOOL_RESULT": {
            "tool_name": "lookup_order",
            "status": "success",
            "result": {"state": "shipped", "amount": 12.5},
        },
        "LOG_DROP": {"dropped_count": 2, "cumulative_drops": 2, "drop_reason": "BUFFER_FULL"},
    }[event_type]


_LOOP = ("MODEL_REQUEST", "MODEL_RESPONSE", "TOOL_CALL", "TOOL_RESULT")


class SessionBuilder:
    """Builds chained sessions the way the ingestion service does, for tests to alter."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key

    def types(self, count: int, *, end: bool = True) -> list[str]:
        middle = count - 1 - (1 if end else 0)
        return (
            ["SESSION_START"]
            + [_LOOP[i % len(_LOOP)] for i in range(middle)]
            + (["SESSION_END"] if end else [])
        )

    def build(
        self,
        event_types: Iterable[str],
        *,
        authority: str = chain.AUTHORITY_SERVER,
        session_id: str | None = None,
        payloads: dict[int, dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Chained events of the given types, hashes computed by ``chain.chain_event``."""
        session_id = session_id or str(uuid.uuid4())
        authority_id = SERVICE_ID if authority == chain.AUTHORITY_SERVER else "sdk-test"
        events: list[dict[str, Any]] = []
        for index, event_type in enumerate(event_types):
            payload = (payloads or {}).get(index) or payload_for(event_type, index)
            events.append(
                chain.chain_event(
                    {
                        "event_id": str(uuid.uuid4()),
                        "session_id": session_id,
                        "sequence_number": index,
                        "timestamp_wall": wall(index),
                        "timestamp_monotonic": index * 10,
                        "event_type": event_type,
                        "source_sdk_ver": "agentops-sdk/0.1.0",
                        "schema_ver": chain.SPEC_VERSION,
                        "payload": payload,
                    },
                    prev_event_hash=events[-1]["event_hash"] if events else None,
                    chain_authority=authority,
                    authority_id=authority_id,
                )
            )
        return events

    def seal(
        self,
        events: list[dict[str, Any]],
        *,
        key: Ed25519PrivateKey | None | bool = True,
        **overrides: Any,
    ) -> dict[str, Any]:
        """The CHAIN_SEAL that closes ``events``; ``overrides`` change what the seal states.

        ``key=True`` signs with the builder's key, ``None`` leaves the seal unsigned.
        """
        last = events[-1]
        signer = self.key if key is True else key or None
        statement: dict[str, Any] = {
            "final_event_hash": last["event_hash"],
            "event_count": len(events),
            "complete": any(e["event_type"] == "SESSION_END" for e in events),
            "total_drops": sum(
                e["payload"]["dropped_count"] for e in events if e["event_type"] == "LOG_DROP"
            ),
        }
        statement.update(overrides)
        payload = seal.seal_payload_build(
            private_key=signer,
            session_id=last["session_id"],
            ingestion_service_id=SERVICE_ID,
            seal_timestamp="2026-01-25T11:00:00.000000Z",
            **statement,
        )
        return chain.chain_event(
            {
                "event_id": str(uuid.uuid4()),
                "session_id": last["session_id"],
                "sequence_number": last["sequence_number"] + 1,
                "timestamp_wall": "2026-01-25T11:00:00.000000Z",
                "timestamp_monotonic": last["timestamp_monotonic"] + 10,
                "event_type": chain.SEAL_EVENT_TYPE,
                "source_sdk_ver": "agentops-ingest/0.1.0",
                "schema_ver": chain.SPEC_VERSION,
                "payload": payload,
            },
            prev_event_hash=last["event_hash"],
            chain_authority=last["chain_authority"],
            authority_id=last["authority_id"],
        )

    def session(
        self,
        count: int = 10,
        *,
        authority: str = chain.AUTHORITY_SERVER,
        sealed: bool = True,
        end: bool = True,
    ) -> list[dict[str, Any]]:
        """``count`` events in all, the last one a signed seal when ``sealed``."""
        events = self.build(
            self.types(count - 1 if sealed else count, end=end), authority=authority
        )
        if sealed:
            unsigned = authority == chain.AUTHORITY_SDK
            events.append(self.seal(events, key=None if unsigned else True))
        return events


def rehash(events: list[dict[str, Any]], start: int = 0) -> None:
    """Recompute payload hashes, event hashes and links from ``start`` on, in place."""
    for index in range(start, len(events)):
        event = events[index]
        if event["payload"] is not None:
            event["payload_hash"] = chain.payload_hash(event["payload"])
        event["prev_event_hash"] = events[index - 1]["event_hash"] if index else None
        event["event_hash"] = chain.event_hash(event)


def jsonl_text(events: Iterable[Any]) -> str:
    return "".join(json.dumps(event, ensure_ascii=False) + "\n" for event in events)


def export_document(
    events: list[dict[str, Any]],
    public_key_b64: str | None,
    key_id: str | None = None,
    signer: Ed25519PrivateKey | None = None,
) -> bytes:
    """A compliance JSON export (spec §8) of ``events``, serialized with JCS; signed whole
    (``export_signature``) by ``signer`` when one is given, as the service signs exports."""
    document = {
        "export_format": "agentops-compliance-export",
        "export_version": "1",
        "exported_at": "2026-01-26T09:00:00Z",
        "session": {"session_id": events[0]["session_id"] if events else None},
        "verification": {},
        "evidence_class": None,
        "chain_of_custody": {
            "statement": "exported by the ingestion service",
            "ingestion_service_id": SERVICE_ID,
            "public_key": public_key_b64,
            "key_id": key_id,
            "canonicalization": "RFC 8785",
            "hash": "SHA-256",
        },
        "events": events,
        "findings": {},
        "disclaimer": "This report is not a certification and not legal advice.",
    }
    if signer is not None:
        digest = export_document_sha256(document)
        document[EXPORT_SIGNATURE] = export_signature_build(signer, digest)
    return chain.canonicalize(document)


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def builder(signing_key: Ed25519PrivateKey) -> SessionBuilder:
    return SessionBuilder(signing_key)


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    def write(events: Iterable[Any], name: str = "session.jsonl") -> Path:
        path = tmp_path / name
        path.write_text(jsonl_text(events), encoding="utf-8")
        return path

    return write


@pytest.fixture
def python() -> str:
    return sys.executable
