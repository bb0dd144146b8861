"""The export's transparency section, the PDF's sentence about it, and agentops-verify's
``log_inclusion``."""

from __future__ import annotations

import copy
import json

import pytest
from agentops_sdk import merkle, seal
from agentops_sdk.verify import verify_export
from agentops_sdk.verify.transparency import log_inclusion_check

from ingestion import keys

from .factories import export_bytes, session_recorded, session_sealed
from .pdf_attachments import needs_poppler, pdf_words

pytestmark = pytest.mark.django_db


def _trusted():
    return keys.trusted_public_keys()[0]


def _export(session) -> dict:
    data, _ = export_bytes(session, "json")
    return json.loads(data)


def test_a_sealed_sessions_export_proves_its_entry_and_verifies():
    session_sealed()
    session = session_sealed()
    document = _export(session)
    section = document["transparency"]
    assert section["leaf_index"] == 1
    assert section["tree_head"]["tree_size"] == 2
    report = verify_export(document, trusted_keys=[_trusted()])
    assert report["status"] == "PASS", report["violations"]
    assert report["log_inclusion"] == "verified"
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"


def test_exporting_twice_states_the_same_head():
    session = session_sealed()
    assert _export(session)["transparency"] == _export(session)["transparency"]


def test_an_unsealed_sessions_export_has_no_entry():
    document = _export(session_recorded())
    assert document["transparency"] is None
    assert verify_export(document, trusted_keys=[_trusted()])["log_inclusion"] == "absent"


def test_a_head_signed_by_an_untrusted_key_is_not_checked():
    document = _export(session_sealed())
    report = verify_export(document)
    assert report["log_inclusion"] == "unchecked"


def _altered(document: dict, change) -> dict:
    changed = copy.deepcopy(document)
    change(changed["transparency"])
    return changed


CHANGES = {
    "audit path": lambda s: s["audit_path"].__setitem__(0, "00" * 32),
    "leaf index": lambda s: s.__setitem__("leaf_index", 0),
    "root": lambda s: s["tree_head"].__setitem__("root_hash", "11" * 32),
    "tree size": lambda s: s["tree_head"].__setitem__("tree_size", 5),
    "leaf": lambda s: s.__setitem__(
        "leaf", s["leaf"].replace('"complete":true', '"complete":false')
    ),
    "signature": lambda s: s["tree_head"]["signature"].__setitem__("value", "AAAA"),
    "shape": lambda s: s.__setitem__("audit_path", "nope"),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_an_altered_section_is_invalid(name):
    session_sealed()
    session_sealed()
    document = _export(session_sealed())
    trusted = [(_trusted(), seal.key_id(_trusted()))]
    assert log_inclusion_check(document, trusted=trusted) == ("verified", None)
    changed = _altered(document, CHANGES[name])
    status, problem = log_inclusion_check(changed, trusted=trusted)
    assert status == "invalid" and problem
    report = verify_export(changed, trusted_keys=[_trusted()])
    assert report["status"] == "FAIL"
    assert report["log_inclusion"] == "invalid"
    assert "LOG_INCLUSION_INVALID" in {v["type"] for v in report["violations"]}


def test_the_leaf_of_another_session_is_invalid():
    other = _export(session_sealed())
    document = _export(session_sealed())
    document["transparency"] = other["transparency"]
    trusted = [(_trusted(), seal.key_id(_trusted()))]
    assert log_inclusion_check(document, trusted=trusted)[0] == "invalid"
    # The proof itself is sound, only for another seal.
    proof = other["transparency"]
    merkle.verify_inclusion(
        leaf_hash_=merkle.leaf_hash(proof["leaf"].encode()),
        index=proof["leaf_index"],
        size=proof["tree_head"]["tree_size"],
        path=[bytes.fromhex(p) for p in proof["audit_path"]],
        root=bytes.fromhex(proof["tree_head"]["root_hash"]),
    )


@needs_poppler
def test_the_pdf_states_the_entry_in_plain_words(tmp_path):
    session_sealed()
    session = session_sealed()
    data, _ = export_bytes(session, "pdf")
    text = pdf_words(data, tmp_path)
    head = _export(session)["transparency"]["tree_head"]
    assert "this session is entry 1 of the service's public log" in text.lower()
    assert f"signed state of {head['timestamp'][:10]}" in text
