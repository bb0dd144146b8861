"""Reading logs: JSONL (streamed) and compliance exports."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .. import reading, seal
from .codes import EXPORT_FORMAT, FORMAT_EXPORT, FORMAT_JSONL, VerifyPolicy
from .events import _event_checks
from .export_signature import export_signature_check
from .session import _SessionCheck
from .transparency import log_inclusion_check
from .workers import _PARALLEL_MIN_BYTES, _check_jsonl_in_workers, _usable_cpus

LogFormatError = reading.LogFormatError
parse_event_line = reading.parse_line


def parse_jsonl(lines: Iterable[bytes | str], first_line: int = 1) -> Iterator[dict[str, Any]]:
    """Yield the events of JSONL text given line by line; blank lines are skipped."""
    return reading.iter_lines(lines, first_line)


def iter_jsonl_events(
    path: str | Path, *, max_line_bytes: int | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the events of a JSONL file one at a time, holding one line in memory."""
    return reading.iter_file(path, max_line_bytes=max_line_bytes)


@dataclass(frozen=True)
class SessionFile:
    """A session read from a file: its format, its events and any key embedded in it; for a
    compliance export also the whole document, whose export signature covers all of it."""

    format: str
    events: Iterable[dict[str, Any]]
    embedded_key: Ed25519PublicKey | None = None
    document: Mapping[str, Any] | None = None


def compliance_export_session(document: Any) -> SessionFile:
    """The events and embedded public key of a parsed compliance export (spec §8)."""
    if not isinstance(document, dict) or document.get("export_format") != EXPORT_FORMAT:
        raise LogFormatError(f"not a compliance export (export_format is not {EXPORT_FORMAT!r})")
    events = document.get("events")
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        raise LogFormatError("the export's events must be a list of JSON objects")
    custody = document.get("chain_of_custody")
    encoded = custody.get("public_key") if isinstance(custody, dict) else None
    key = None
    if encoded is not None:
        if not isinstance(encoded, str):
            raise LogFormatError("chain_of_custody.public_key must be a base64 string")
        try:
            key = seal.public_key_from_b64(encoded)
        except (seal.KeyLoadError, ValueError) as exc:
            raise LogFormatError(f"chain_of_custody.public_key: {exc}") from None
    return SessionFile(FORMAT_EXPORT, events, key, document)


def read_compliance_export(path: str | Path) -> SessionFile:
    """Read a compliance JSON export file (one JSON document, usually JCS on one line)."""
    return compliance_export_session(reading.load_file(path))


def _session_from(
    handle: IO[bytes], jsonl: Callable[[], Iterator[dict[str, Any]]], limit: int
) -> SessionFile:
    """Detect the format of the binary stream ``handle``; ``jsonl`` reads its events anew.

    A compliance export is one JSON object with ``export_format``, on one line or several,
    of any length; anything whose first line is another JSON object is JSONL, whose lines
    are limited to ``limit`` bytes. An input without a line that is not blank is a JSONL log
    without events.
    """
    number = 0
    first = b""
    for number, first in enumerate(iter(handle.readline, b""), start=1):
        if not reading.is_blank(first, number):
            break
    else:
        return SessionFile(FORMAT_JSONL, iter(()))
    try:
        head = reading.parse_line(first, number)
    except LogFormatError as line_error:
        if line_error.reason != reading.LONE_CR and first.rstrip(b" \t\r\n").endswith(b"}"):
            raise  # a complete line that is broken: JSONL
        # Perhaps a pretty-printed export, which spans many lines.
        try:
            document = reading.loads(first + handle.read(), where="the file")
        except LogFormatError:
            raise line_error from None
        if isinstance(document, dict) and "export_format" in document:
            return compliance_export_session(document)
        if not isinstance(document, dict):
            raise line_error from None
        raise LogFormatError(
            "the file is one JSON document but not a compliance export "
            "(no export_format), nor a JSONL event log"
        ) from None
    if "export_format" in head:
        if handle.read().strip(b" \t\r\n"):
            raise LogFormatError("a compliance export must be a single JSON document")
        return compliance_export_session(head)
    reading.check_line_size(first, number, limit)
    return SessionFile(FORMAT_JSONL, jsonl())


def open_session_file(path: str | Path, *, max_line_bytes: int | None = None) -> SessionFile:
    """Detect the format of ``path`` and return its session; JSONL events are streamed.

    JSONL lines longer than ``max_line_bytes`` (default ``reading.MAX_LINE_BYTES``) are refused.
    """
    limit = reading.MAX_LINE_BYTES if max_line_bytes is None else max_line_bytes
    with open(path, "rb") as handle:
        return _session_from(handle, lambda: reading.iter_file(path, max_line_bytes=limit), limit)


def session_from_bytes(data: bytes, *, max_line_bytes: int | None = None) -> SessionFile:
    """``open_session_file`` for a file held in memory, such as an upload."""
    limit = reading.MAX_LINE_BYTES if max_line_bytes is None else max_line_bytes
    return _session_from(
        io.BytesIO(data),
        lambda: reading.iter_lines(io.BytesIO(data), max_line_bytes=limit),
        limit,
    )


def verify_file(
    path: str | Path,
    *,
    trusted_keys: Iterable[Ed25519PublicKey] = (),
    trusted_key_ids: Iterable[str] = (),
    policy: VerifyPolicy | Mapping[str, Any] | None = None,
    workers: int | None = 1,
    max_line_bytes: int | None = None,
    tsa_certificate: bytes | None = None,
) -> dict[str, Any]:
    """Verify a JSONL log or a compliance export; raises ``LogFormatError`` or ``OSError``.

    An export's ``transparency`` section is checked with the trusted keys (and the RFC 3161
    token of its tree head against ``tsa_certificate``, PEM or DER, when given): the report's
    ``log_inclusion`` (verify/transparency.py).

    The file is read by ``agentops_sdk.reading``; a JSONL line longer than ``max_line_bytes``
    (default ``reading.MAX_LINE_BYTES``) is refused.

    With ``workers`` above 1 (``None``: one per usable CPU for JSONL files from 32 MB on),
    the checks of each event on its own (parsing, both hashes, field rules) run in that many
    worker processes while the chain checks stay here and see the events in order, so the
    report is the same. Where workers cannot be forked safely they start as fresh
    interpreters that import the caller's main module, which must therefore keep its work
    under ``if __name__ == "__main__":``.
    """
    if max_line_bytes is None:
        max_line_bytes = reading.MAX_LINE_BYTES
    source = open_session_file(path, max_line_bytes=max_line_bytes)
    keys = list(trusted_keys)
    key_ids = list(trusted_key_ids)
    rules = VerifyPolicy.from_value(policy)

    def session_check(embedded_key: Ed25519PublicKey | None) -> _SessionCheck:
        return _SessionCheck(
            trusted_keys=keys, embedded_key=embedded_key, trusted_key_ids=key_ids, policy=rules
        )

    if workers is None:
        large = source.format == FORMAT_JSONL and os.path.getsize(path) >= _PARALLEL_MIN_BYTES
        workers = _usable_cpus() if large else 1
    if source.format == FORMAT_JSONL and workers > 1:
        check = session_check(source.embedded_key)
        try:
            _check_jsonl_in_workers(Path(path), check, workers, max_line_bytes)
            return check.report()
        except BrokenProcessPool:
            pass  # workers could not start or died: verify here instead, from the start
        source = open_session_file(path, max_line_bytes=max_line_bytes)
    check = session_check(source.embedded_key)
    add = check.add
    for event in source.events:
        add(_event_checks(event))
    if source.document is not None:
        check.export = export_signature_check(
            source.document,
            trusted_keys=keys,
            trusted_key_ids=key_ids,
        )
        check.log = log_inclusion_check(
            source.document, trusted=check.trusted, tsa_certificate=tsa_certificate
        )
    return check.report()


def verify_export(
    document: Any,
    *,
    trusted_keys: Iterable[Ed25519PublicKey] = (),
    trusted_key_ids: Iterable[str] = (),
    policy: VerifyPolicy | Mapping[str, Any] | None = None,
    tsa_certificate: bytes | None = None,
) -> dict[str, Any]:
    """Verify a parsed compliance export: its events (chain and seal) and its export
    signature, which covers the rest of the document. Raises ``LogFormatError`` when it is
    not a compliance export. The report is ``verify_file``'s for the same file."""
    source = compliance_export_session(document)
    trusted_keys = list(trusted_keys)
    trusted_key_ids = list(trusted_key_ids)
    check = _SessionCheck(
        trusted_keys=trusted_keys,
        embedded_key=source.embedded_key,
        trusted_key_ids=trusted_key_ids,
        policy=VerifyPolicy.from_value(policy),
    )
    add = check.add
    for event in source.events:
        add(_event_checks(event))
    check.export = export_signature_check(
        document, trusted_keys=trusted_keys, trusted_key_ids=trusted_key_ids
    )
    check.log = log_inclusion_check(
        document, trusted=check.trusted, tsa_certificate=tsa_certificate
    )
    return check.report()
