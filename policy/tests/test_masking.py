"""Masking (``policy.masking``): free text, payload values by the paths of stored findings,
payload keys."""

from __future__ import annotations

import copy

from agentops_sdk.jsonpath import child_path

from policy.masking import HIDDEN, Reader, payload_keys_shown, payload_masked, text_shown
from policy.pii import payload_scan, scanner_build

EMAIL = "jane.doe@example.com"
PHONE = "+1 415-555-2671"
TOOL = f"notify {EMAIL} {PHONE}"


def masked_by_findings(payload):
    """``payload`` masked by the paths of a scan of it, as the console masks it."""
    scanner = scanner_build()
    found = [(f.path, f.preview) for f in payload_scan(scanner=scanner, payload=payload)]
    return found, payload_masked(copy.deepcopy(payload), findings=found, scanner=scanner)


def test_text_shown_masks_for_readers_without_the_permission_only():
    scanner = scanner_build()
    masked = text_shown(TOOL, raw_allowed=False, scanner=scanner)
    assert EMAIL not in masked and PHONE not in masked
    assert masked.startswith("notify j***@example.com ")
    assert text_shown(TOOL, raw_allowed=True, scanner=scanner) == TOOL
    assert text_shown(None, raw_allowed=False) == ""


def test_payload_keys_are_masked_and_kept_apart():
    scanner = scanner_build()
    payload = {EMAIL: 1, "jill.doe@example.com": 2, "nested": [{PHONE: {"ok": True}}]}
    shown = payload_keys_shown(payload, raw_allowed=False, scanner=scanner)
    assert shown == {
        "j***@example.com": 1,
        "j***@example.com (2)": 2,
        "nested": [{"+* ***-***-2671": {"ok": True}}],
    }
    assert payload_keys_shown(payload, raw_allowed=True, scanner=scanner) is payload


def test_a_value_under_any_key_is_masked_in_place_by_its_path():
    # Keys that are identifiers only outside ASCII, or not identifiers at all.
    payload = {"a·b": {"it's": f"write to {EMAIL}"}, "℘": [f"call {PHONE}"], "note": "keep me"}
    found, (masked, count) = masked_by_findings(payload)
    assert {path for path, _ in found} == {
        child_path(child_path("$", "a·b"), "it's"),
        child_path(child_path("$", "℘"), 0),
    }
    assert count == 2
    assert masked["note"] == "keep me"
    assert masked["a·b"]["it's"] == "write to j***@example.com"
    assert PHONE not in masked["℘"][0] and masked["℘"][0].startswith("call ")


def test_a_stale_path_makes_the_payload_be_scanned_again():
    scanner = scanner_build()
    payload = {"now": {"here": EMAIL}, "note": "keep me"}
    masked, _ = payload_masked(
        copy.deepcopy(payload), findings=[("$.gone[3]", "j***@example.com")], scanner=scanner
    )
    assert masked == {"now": {"here": "j***@example.com"}, "note": "keep me"}


def test_a_payload_no_path_fits_and_no_scan_explains_is_hidden_whole():
    scanner = scanner_build()
    masked, count = payload_masked(
        {"note": "nothing personal"}, findings=[("$.gone", "j***@example.com")], scanner=scanner
    )
    assert (masked, count) == (HIDDEN, 1)


def test_a_reader_keeps_one_scanner_per_project_and_shows_raw_text_when_allowed():
    reader = Reader(raw_allowed=False)
    assert reader.scanner() is reader.scanner()
    assert EMAIL not in reader.text(TOOL)
    assert Reader(raw_allowed=True).text(TOOL) == TOOL
