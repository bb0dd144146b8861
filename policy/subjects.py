"""Keyed fingerprints of data subjects: finding a person's events without keeping their data.

A person is identified by an e-mail address, phone number, SSN, card number or IBAN, the PII
kinds the detectors know. What is stored is ``HMAC-SHA-256(key, kind + ":" + normalized)``:

- e-mail: trimmed and lowercased (the whole address; providers differ on local-part rules);
- phone: E.164 (``+14155552671``), parsed by ``phonenumbers`` in the detector's region;
- SSN and card: digits only;
- IBAN: ``stdnum.iban.compact`` (upper case, no spaces: the country letters are part of it).

The key is the setting ``AGENTOPS_SUBJECT_KEY``. Unset, it is derived from ``SECRET_KEY``
(HMAC of a fixed label); the ``policy.subjects`` logger warns once per process and
``erase_personal_data`` says so, since rotating SECRET_KEY would then orphan every stored
fingerprint. Not a system check: a deployment that has not set it yet must still start.
Changing the key makes the stored fingerprints useless until
``manage.py subject_fingerprints_record`` has recorded them again.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import phonenumbers
from django.conf import settings
from stdnum import iban as stdnum_iban

from policy.pii import PiiMatch, PiiScanner, payload_matches, region_configured, scanner_build

logger = logging.getLogger(__name__)

#: The kinds that identify a person, and so can be searched for.
SUBJECT_KINDS = ("email", "phone", "ssn", "card", "iban")
_DERIVATION_LABEL = b"agentops-subject-fingerprint-key-v1"


def subject_key_derived() -> bool:
    """Whether the key is derived from SECRET_KEY (AGENTOPS_SUBJECT_KEY is not set)."""
    return not (getattr(settings, "AGENTOPS_SUBJECT_KEY", "") or "")


@functools.cache
def _derivation_warn() -> None:
    logger.warning(
        "AGENTOPS_SUBJECT_KEY is not set: subject fingerprints use a key derived from "
        "SECRET_KEY, so rotating SECRET_KEY orphans them (run manage.py "
        "subject_fingerprints_record after setting or changing the key)"
    )


def subject_key() -> bytes:
    """The fingerprint key: AGENTOPS_SUBJECT_KEY, or one derived from SECRET_KEY."""
    if not subject_key_derived():
        return str(settings.AGENTOPS_SUBJECT_KEY).encode()
    _derivation_warn()
    return hmac.new(settings.SECRET_KEY.encode(), _DERIVATION_LABEL, hashlib.sha256).digest()


def value_normalize(*, kind: str, value: str, region: str | None = None) -> str | None:
    """The normalized form of ``value`` as ``kind``, or None if it is not one."""
    value = value.strip()
    if kind == "email":
        return value.lower() if "@" in value else None
    if kind == "phone":
        try:
            number = phonenumbers.parse(value, (region or region_configured()).upper())
        except phonenumbers.NumberParseException:
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if kind in ("ssn", "card"):
        digits = "".join(ch for ch in value if ch.isdigit())
        return digits or None
    if kind == "iban":
        return stdnum_iban.compact(value) or None
    return None


def fingerprint_compute(*, kind: str, normalized: str, key: bytes | None = None) -> str:
    message = f"{kind}:{normalized}".encode()
    return hmac.new(key or subject_key(), message, hashlib.sha256).hexdigest()


def subject_fingerprint(*, kind: str, value: str, region: str | None = None) -> str | None:
    """The fingerprint of ``value`` as ``kind`` (None if it does not normalize)."""
    normalized = value_normalize(kind=kind, value=value, region=region)
    return None if normalized is None else fingerprint_compute(kind=kind, normalized=normalized)


def subject_fingerprints(*, value: str, region: str | None = None) -> list[tuple[str, str]]:
    """(kind, fingerprint) of ``value`` for every subject kind it can be: what a search by a
    value given on the command line (an e-mail address, a phone number...) looks up."""
    kinds = [k for k in SUBJECT_KINDS if k != "email"] if "@" not in value else ["email"]
    found = []
    for kind in kinds:
        fingerprint = subject_fingerprint(kind=kind, value=value, region=region)
        if fingerprint is not None:
            found.append((kind, fingerprint))
    return found


def matches_fingerprints(
    *,
    scanner: PiiScanner,
    event: Mapping[str, Any],
    matches: Iterable[tuple[str, str, PiiMatch]],
    key: bytes,
) -> Iterator[tuple[int, str, str]]:
    """(sequence number, kind, fingerprint) of each subject value among the matches
    ``pii.payload_matches`` found in the event's payload."""
    sequence = event.get("sequence_number")
    if event.get("payload") is None or not isinstance(sequence, int):
        return
    for _, text, match in matches:
        if match.kind not in SUBJECT_KINDS:
            continue
        normalized = value_normalize(
            kind=match.kind, value=text[match.start : match.end], region=scanner.region
        )
        if normalized is not None:
            yield (
                sequence,
                match.kind,
                fingerprint_compute(kind=match.kind, normalized=normalized, key=key),
            )


def event_fingerprints(
    *, scanner: PiiScanner, event: Mapping[str, Any], key: bytes
) -> Iterator[tuple[int, str, str]]:
    """(sequence number, kind, fingerprint) of each subject value in an event's payload."""
    if event.get("payload") is None or not isinstance(event.get("sequence_number"), int):
        return iter(())
    matches = payload_matches(scanner=scanner, payload=event.get("payload"))
    return matches_fingerprints(scanner=scanner, event=event, matches=matches, key=key)


def events_fingerprints(
    *, scanner: PiiScanner | None, events: Iterable[Mapping[str, Any]]
) -> set[tuple[int, str, str]]:
    key = subject_key()
    scanner = scanner or scanner_build()
    found: set[tuple[int, str, str]] = set()
    for event in events:
        found.update(event_fingerprints(scanner=scanner, event=event, key=key))
    return found


def fingerprints_collector(
    *, scanner: PiiScanner, into: set[tuple[int, str, str]]
) -> Callable[[Mapping[str, Any], list[tuple[str, str, PiiMatch]]], None]:
    """An ``on_matches`` for ``policy_evaluate``: adds the fingerprints of each event's matches
    to ``into``, so that the evaluation's single scan of a session also yields them."""
    key = subject_key()

    def collect(event: Mapping[str, Any], matches: list[tuple[str, str, PiiMatch]]) -> None:
        into.update(matches_fingerprints(scanner=scanner, event=event, matches=matches, key=key))

    return collect


def session_fingerprints_record(
    *, session: Any, fingerprints: Iterable[tuple[int, str, str]]
) -> int:
    """Store the fingerprints of one session's events (those already stored are skipped)."""
    from policy.models import SubjectFingerprint

    rows = [
        SubjectFingerprint(session=session, sequence_number=seq, kind=kind, fingerprint=fp)
        for seq, kind, fp in sorted(fingerprints)
    ]
    SubjectFingerprint.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)
