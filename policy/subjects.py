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
from agentops_sdk.chain import SEAL_EVENT_TYPE
from django.conf import settings
from stdnum import iban as stdnum_iban

from policy.pii import PiiScanner, event_scan, region_configured, scanner_build

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


def values_fingerprints(
    *, sequence: int, values: Iterable[tuple[str, str]], region: str, key: bytes
) -> Iterator[tuple[int, str, str]]:
    """(sequence number, kind, fingerprint) of each subject value among the (kind, value)
    pairs the scanner found in one event."""
    for kind, value in values:
        if kind not in SUBJECT_KINDS:
            continue
        normalized = value_normalize(kind=kind, value=value, region=region)
        if normalized is not None:
            yield sequence, kind, fingerprint_compute(kind=kind, normalized=normalized, key=key)


def event_fingerprints(
    *, scanner: PiiScanner, event: Mapping[str, Any], key: bytes
) -> Iterator[tuple[int, str, str]]:
    """(sequence number, kind, fingerprint) of each subject value in an event's payload.

    The service's CHAIN_SEAL holds no personal data and is never erased: it is not scanned,
    as the policy evaluation does not scan it.
    """
    sequence = event.get("sequence_number")
    if not isinstance(sequence, int) or event.get("event_type") == SEAL_EVENT_TYPE:
        return
    values: list[tuple[str, str]] = []
    event_scan(scanner=scanner, event=event, values=values)
    yield from values_fingerprints(sequence=sequence, values=values, region=scanner.region, key=key)


def fingerprints_collector(
    *, scanner: PiiScanner, into: set[tuple[int, str, str]]
) -> Callable[[Mapping[str, Any], list[tuple[str, str]]], None]:
    """An ``on_values`` callback for ``policy_evaluate``: the fingerprints of what the
    evaluation's own scan found go into ``into``, so a session is scanned once for both."""
    key = subject_key()

    def collect(event: Mapping[str, Any], values: list[tuple[str, str]]) -> None:
        sequence = event.get("sequence_number")
        if isinstance(sequence, int):
            into.update(
                values_fingerprints(
                    sequence=sequence, values=values, region=scanner.region, key=key
                )
            )

    return collect


def events_fingerprints(
    *, scanner: PiiScanner | None, events: Iterable[Mapping[str, Any]]
) -> set[tuple[int, str, str]]:
    key = subject_key()
    scanner = scanner or scanner_build()
    found: set[tuple[int, str, str]] = set()
    for event in events:
        found.update(event_fingerprints(scanner=scanner, event=event, key=key))
    return found


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
