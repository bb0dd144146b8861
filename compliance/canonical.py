"""RFC 8785 (JCS) output written piece by piece, for documents too large to hold in memory.

The reference serializer needs the whole value in memory. A compliance export of a long
session is mostly its events array, so the writer below emits the document's canonical bytes
in order: object keys sorted the RFC 8785 way, small values through ``chain.canonicalize``,
and values marked ``Canonical`` copied from a stream of bytes that are already canonical
(the events, each canonicalized on its own). The result is byte for byte what
``rfc8785.dumps`` would produce for the whole document; compliance/tests prove it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agentops_sdk import chain


@dataclass(frozen=True)
class Canonical:
    """A value whose canonical JSON bytes are supplied as chunks (e.g. ``[``, events, ``]``).

    The chunks must concatenate to exactly one canonical JSON value; the writer copies them.
    """

    chunks: Iterable[bytes]


def _sort_key(key: str) -> bytes:
    # RFC 8785 orders keys by their UTF-16 code units; big-endian UTF-16 bytes compare the
    # same way (and "surrogatepass" keeps even a lone surrogate comparable).
    return key.encode("utf-16-be", "surrogatepass")


def _streams_inside(value: Any) -> bool:
    if isinstance(value, Canonical):
        return True
    if isinstance(value, Mapping):
        return any(_streams_inside(child) for child in value.values())
    return False


def canonical_write(value: Any, write: Callable[[bytes], Any]) -> None:
    """Write the RFC 8785 bytes of ``value`` through ``write``.

    ``value`` is any JSON value; objects (at any depth along a path of objects) may hold
    ``Canonical`` values, which are copied as they come. Everything else is serialized by
    ``chain.canonicalize``, so a value RFC 8785 cannot represent raises
    ``chain.NonCanonicalValueError`` as it would anywhere else.
    """
    if isinstance(value, Canonical):
        for chunk in value.chunks:
            write(chunk)
        return
    if not (isinstance(value, Mapping) and _streams_inside(value)):
        write(chain.canonicalize(value))
        return
    for key in value:
        if not isinstance(key, str):
            raise chain.NonCanonicalValueError("$", f"object key {key!r} is not a string")
    write(b"{")
    for index, key in enumerate(sorted(value, key=_sort_key)):
        if index:
            write(b",")
        write(chain.canonicalize(key))
        write(b":")
        canonical_write(value[key], write)
    write(b"}")


def canonical_array(items: Iterable[bytes]) -> Canonical:
    """A JSON array of items given as canonical bytes each, written one at a time."""

    def chunks() -> Iterable[bytes]:
        yield b"["
        for index, item in enumerate(items):
            if index:
                yield b","
            yield item
        yield b"]"

    return Canonical(chunks())


_PAYLOAD_HASH_MEMBER = b',"payload_hash":'


def envelope_canonical(envelope: Mapping[str, Any], payload_jcs: str | None) -> bytes:
    """``chain.canonicalize(envelope)``, reusing the payload's stored canonical text.

    The service stores each payload as its RFC 8785 text and hashes exactly those bytes,
    so a stored text whose SHA-256 is the event's ``payload_hash`` is the payload's
    canonical form; the one way it could be anything else is that the text and the hash
    were altered together, which the verifier reports as PAYLOAD_HASH_MISMATCH (exports
    then re-canonicalize the events whole; see ``compliance.services``). Re-serializing
    every payload would double the cost of a long export for nothing.

    The payload goes right before ``"payload_hash"``, its place in RFC 8785 key order. The
    search cannot hit a string value: inside a canonical string every ``"`` is escaped.
    """
    if payload_jcs is not None:
        try:
            payload = payload_jcs.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: canonicalize names the problem
            return chain.canonicalize(envelope)
        if hashlib.sha256(payload).hexdigest() == envelope.get("payload_hash"):
            rest = chain.canonicalize({k: v for k, v in envelope.items() if k != "payload"})
            cut = rest.find(_PAYLOAD_HASH_MEMBER)
            if cut > 0:
                return b"".join((rest[:cut], b',"payload":', payload, rest[cut:]))
    return chain.canonicalize(envelope)
