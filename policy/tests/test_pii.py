from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from policy.pii import (
    _MACHINE_VALUE,
    PiiFinding,
    _key_tokens,
    event_scan,
    payload_scan,
    scanner_build,
    text_mask,
    text_scan,
    value_mask,
)

CORPUS = yaml.safe_load((Path(__file__).parent / "pii_corpus.yaml").read_text())["cases"]
HARD_NEGATIVES = [case for case in CORPUS if "hard" in case]
REQUIRED_HARD_CATEGORIES = {
    "uuid",
    "sha256",
    "iso_timestamp",
    "epoch",
    "price",
    "order_id",
    "version",
    "date",
    "git_sha",
    "semver",
    "tracking",
}


@pytest.fixture(scope="module")
def scanner():
    return scanner_build(region="US")


def kinds_found(scanner, text, key=None):
    return Counter(match.kind for match in text_scan(scanner=scanner, text=text, key=key))


def test_corpus_is_large_and_covers_every_hard_negative_category():
    assert len(CORPUS) >= 200
    assert {case["hard"] for case in HARD_NEGATIVES} >= REQUIRED_HARD_CATEGORIES


def test_corpus_precision_and_recall(scanner):
    true_pos = false_pos = false_neg = 0
    for case in CORPUS:
        found = kinds_found(scanner, case["text"], case.get("key"))
        expected = Counter(case.get("expect", []))
        hits = sum((found & expected).values())
        true_pos += hits
        false_pos += sum(found.values()) - hits
        false_neg += sum(expected.values()) - hits
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    print(
        f"\nPII corpus: {len(CORPUS)} strings, {true_pos + false_neg} labelled values, "
        f"precision {precision:.3f}, recall {recall:.3f} (TP {true_pos}, FP {false_pos}, "
        f"FN {false_neg})"
    )
    assert precision >= 0.95
    assert recall >= 0.95


@pytest.mark.parametrize(
    "case", HARD_NEGATIVES, ids=[f"{c['hard']}-{i}" for i, c in enumerate(HARD_NEGATIVES)]
)
def test_hard_negative_yields_nothing(scanner, case):
    assert text_scan(scanner=scanner, text=case["text"]) == []


@pytest.mark.parametrize(
    ("kind", "value", "preview"),
    [
        ("email", "jane.doe@example.com", "j***@example.com"),
        ("ssn", "123-45-6789", "***-**-6789"),
        ("ssn", "123456789", "***-**-6789"),
        ("card", "4242 4242 4242 4242", "**** **** **** 4242"),
        ("card", "4242-4242-4242-4242", "**** **** **** 4242"),
        ("card", "378282246310005", "**** **** **** 0005"),
        ("iban", "DE89 3704 0044 0532 0130 00", "DE** **** **** **** **** 3000"),
        ("iban", "NL91ABNA0417164300", "NL** **** **** **** 4300"),
        ("phone", "(415) 555-2671", "(***) ***-2671"),
        ("phone", "+49 30 901820", "+** ** **1820"),
        ("phone", "555 0134", "*** **34"),
        ("ipv4", "203.0.113.42", "203.*.*.*"),
        ("ipv6", "2001:db8::1", "2001:****"),
        ("employee_id", "EMP-000123", "****"),
        ("api_token", "tok_live_abcdef123456", "****3456"),
    ],
)
def test_value_mask(kind, value, preview):
    assert value_mask(kind=kind, value=value) == preview


def test_preview_never_holds_the_raw_value(scanner):
    payload = {
        "args": {
            "email": "jane.doe@example.com",
            "note": "SSN 123-45-6789, card 4242 4242 4242 4242, IBAN DE89370400440532013000",
            "phone": "+1 415 555 2671",
            "ip": "203.0.113.42",
        }
    }
    findings = payload_scan(scanner=scanner, payload=payload, sequence_number=1, event_id="e")
    assert len(findings) == 6
    exported = repr([finding.as_dict() for finding in findings])
    for raw in ("jane.doe", "123-45", "4242 4242 4242", "370400440532", "415 555", "0.113.42"):
        assert raw not in exported


def test_payload_scan_records_json_paths_and_event(scanner):
    payload = {
        "args": {"email": "a.b@example.com", "to": ["x", "ops@example.com"]},
        "messages": [{"role": "user", "content": "call me at (415) 555-2671"}],
        "weird key": "c@example.com",
    }
    findings = payload_scan(scanner=scanner, payload=payload, sequence_number=7, event_id="ev")
    assert [(f.path, f.kind) for f in findings] == [
        ("$.args.email", "email"),
        ("$.args.to[1]", "email"),
        ("$.messages[0].content", "phone"),
        ("$['weird key']", "email"),
    ]
    assert findings[0] == PiiFinding(7, "ev", "$.args.email", "email", "a***@example.com")


def test_keys_are_not_scanned(scanner):
    assert payload_scan(scanner=scanner, payload={"jane@example.com": "ok"}) == []


def test_key_is_context_for_bare_numbers(scanner):
    assert kinds_found(scanner, "536904399") == Counter()
    assert kinds_found(scanner, "536904399", key="ssn") == Counter({"ssn": 1})
    assert kinds_found(scanner, "4155552671", key="mobilePhone") == Counter({"phone": 1})
    assert kinds_found(scanner, "4155552671", key="order_total") == Counter()


def test_integers_under_personal_keys_are_scanned(scanner):
    findings = payload_scan(scanner=scanner, payload={"ssn": 536904399, "count": 536904399})
    assert [(f.path, f.kind, f.preview) for f in findings] == [("$.ssn", "ssn", "***-**-4399")]


@pytest.mark.parametrize("ssn", ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567"])
def test_impossible_ssns_are_rejected(scanner, ssn):
    assert kinds_found(scanner, f"SSN {ssn}") == Counter()


def test_overlapping_detections_keep_the_specific_kind(scanner):
    # The card's digit groups also look like phone numbers to a phone matcher.
    assert kinds_found(scanner, "phone 4242 4242 4242 4242") == Counter({"card": 1})


def test_region_decides_national_phone_numbers():
    text = "Reach me on 020 7946 0958"
    assert kinds_found(scanner_build(region="US"), text) == Counter()
    assert kinds_found(scanner_build(region="GB"), text) == Counter({"phone": 1})


def test_region_defaults_to_the_setting(settings):
    settings.AGENTOPS_PII_DEFAULT_REGION = "GB"
    assert scanner_build().region == "GB"


def test_unknown_kind_or_region_is_refused():
    with pytest.raises(ValueError, match="passport"):
        scanner_build(kinds=["passport"])
    with pytest.raises(ValueError, match="region"):
        scanner_build(region="XX")


def test_only_requested_kinds_are_reported():
    scanner = scanner_build(kinds=["email"], region="US")
    assert kinds_found(scanner, "a@example.com 203.0.113.4 SSN 123-45-6789") == Counter(
        {"email": 1}
    )


def test_custom_patterns_report_under_their_name():
    scanner = scanner_build(kinds=[], custom_patterns={"employee_id": r"\bEMP-\d{6}\b"})
    matches = text_scan(scanner=scanner, text="badge EMP-004211 issued")
    assert [(m.kind, m.preview) for m in matches] == [("employee_id", "****")]


def test_text_mask_replaces_every_value(scanner):
    masked = text_mask(scanner=scanner, text="mail jane@example.com from 203.0.113.9 now")
    assert masked == "mail j***@example.com from 203.*.*.* now"


def test_withheld_payload_has_no_findings(scanner):
    event = {"sequence_number": 3, "event_id": "e", "payload": None}
    assert event_scan(scanner=scanner, event=event) == []


_HEX_ID = st.one_of(
    st.text(alphabet="0123456789abcdef", min_size=16, max_size=128),
    # digit runs that would be numbers but for the letters glued to them
    st.tuples(
        st.text(alphabet="0123456789", min_size=0, max_size=40),
        st.sampled_from("abcdef"),
        st.text(alphabet="0123456789", min_size=0, max_size=40),
    ).map("".join),
).filter(lambda t: 16 <= len(t) <= 128 and any(c in "abcdef" for c in t))


@hypothesis_settings(max_examples=300, deadline=None)
@given(text=_HEX_ID, key=st.sampled_from([None, "span_id", "phone", "ssn", "card_number"]))
def test_hex_ids_are_machine_values_no_detector_would_match(scanner, text, key):
    # A whole string of lowercase hex digits with a letter among them (a W3C span or trace
    # id, a digest) skips the detectors; run them anyway and none may find anything in it.
    assert _MACHINE_VALUE.match(text)
    found = [
        match
        for _, detect in scanner._detectors
        for match in detect(text, _key_tokens(key), scanner.region)
    ]
    assert found == []
    assert text_scan(scanner=scanner, text=text, key=key) == []


def test_a_card_number_of_sixteen_digits_is_not_a_machine_value(scanner):
    assert not _MACHINE_VALUE.match("4111111111111111")
    assert kinds_found(scanner, "4111111111111111") == Counter(card=1)
    assert kinds_found(scanner, "b1ef4c7a9d2e3f60") == Counter()
