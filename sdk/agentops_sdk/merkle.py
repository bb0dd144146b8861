"""The transparency log's Merkle tree, exactly as RFC 9162 §2.1 defines it.

Every seal the service makes is one leaf of a single service-wide, append-only log. This module
holds the one implementation of the tree's rules, used by the service (to store and prove) and
by ``agentops-verify`` (to check proofs, tree heads and the log itself):

- ``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``;
- the hash of a list of n > 1 leaves splits at k, the largest power of two smaller than n;
- inclusion proofs verified per §2.1.3.2, consistency proofs per §2.1.4.2;
- the leaf of a seal (``seal_leaf``), the signed tree head (``tree_head_message``,
  ``tree_head_sign``, ``tree_head_signature_valid``);
- ``Frontier``: the hashes of the complete subtrees of a tree of any size, enough to append
  leaves and compute the root without keeping every leaf (what a monitor remembers).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .chain import canonicalize
from .seal import SIGNATURE_ALG, key_id

#: Members of a seal's leaf, in the order the issue of the log lists them (JCS sorts them).
LEAF_FIELDS = (
    "session_id",
    "session_digest",
    "event_count",
    "complete",
    "total_drops",
    "seal_timestamp",
    "ingestion_service_id",
    "key_id",
    "signature",
)
#: Members of a signed tree head, signature excluded (what the signature covers).
TREE_HEAD_FIELDS = ("tree_size", "root_hash", "timestamp", "key_id")

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not verify, or that is malformed."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n > 1)."""
    if n < 2:
        raise ValueError("a split needs at least two leaves")
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH of the leaves whose hashes are given (RFC 9162 §2.1.1), by the definition."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = split_point(n)
    return node_hash(root_from_leaf_hashes(hashes[:k]), root_from_leaf_hashes(hashes[k:]))


def perfect_pieces(start: int, end: int) -> list[tuple[int, int]]:
    """The complete subtrees, as ``(level, position)``, that the tree over [start, end) is made of.

    Subtree (level, position) covers leaves [position * 2**level, (position + 1) * 2**level).
    The pieces of the range follow the binary decomposition of its size, largest first; the
    range's hash is ``node_hash(p1, node_hash(p2, ...))`` over them. ``start`` must be a
    multiple of the largest piece, as every subtree of an RFC 9162 tree is.
    """
    pieces = []
    while start < end:
        size = end - start
        level = size.bit_length() - 1
        pieces.append((level, start >> level))
        start += 1 << level
    return pieces


SubtreeHash = Callable[[int, int], bytes]


def subtree_hash_from_pieces(start: int, end: int, piece: Callable[[int, int], bytes]) -> bytes:
    """The hash of the tree over [start, end) from its complete subtrees' hashes."""
    hashes = [piece(level, position) for level, position in perfect_pieces(start, end)]
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_path(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1; ``subtree(start, end)`` hashes a range."""
    if not 0 <= index < size:
        raise ValueError("the leaf index must be smaller than the tree size")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_path(first: int, second: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(first, D[0:second]) of RFC 9162 §2.1.4.1."""
    if not 0 < first <= second:
        raise ValueError("a consistency proof needs 0 < first <= second")
    proof: list[bytes] = []
    start, end, whole = 0, second, True  # SUBPROOF(m, D[start:end], b)
    m = first
    while True:
        n = end - start
        if m == n:
            if not whole:
                proof.append(subtree(start, end))
            break
        k = split_point(n)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start += k
            m -= k
            whole = False
    proof.reverse()
    return proof


def list_subtree(hashes: Sequence[bytes]) -> SubtreeHash:
    """A ``subtree`` function over leaf hashes held in memory."""
    return lambda start, end: root_from_leaf_hashes(hashes[start:end])


def verify_inclusion(
    *, leaf_hash_: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2; raises ProofError unless the leaf is entry ``index`` of the tree."""
    if not 0 <= index < size:
        raise ProofError("the leaf index is not smaller than the tree size")
    fn, sn = index, size - 1
    r = leaf_hash_
    for p in path:
        if sn == 0:
            raise ProofError("the audit path is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the audit path is shorter than the tree needs")
    if r != root:
        raise ProofError("the audit path does not lead to the root")


def verify_consistency(
    *, first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; raises ProofError unless tree ``first`` is a prefix of ``second``."""
    if not 0 <= first <= second:
        raise ProofError("the first tree is larger than the second")
    if first == second:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if first_root != second_root:
            raise ProofError("two different roots for the same tree size")
        return
    if first == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree is itself a node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the trees allow")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the trees need")
    if fr != first_root:
        raise ProofError("the proof does not lead to the first root")
    if sr != second_root:
        raise ProofError("the proof does not lead to the second root")


class Frontier:
    """The complete subtrees' hashes of a tree of ``size`` leaves (largest first).

    Appending a leaf and computing the root cost O(log n) and no leaf has to be kept.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError("a frontier holds one hash per 1-bit of its size")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf_hash_: bytes) -> None:
        carry, size = leaf_hash_, self.size
        while size & 1:
            carry = node_hash(self.hashes.pop(), carry)
            size >>= 1
        self.hashes.append(carry)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        result = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            result = node_hash(left, result)
        return result

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "hashes": [h.hex() for h in self.hashes]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Frontier:
        return cls(int(data["size"]), [bytes.fromhex(h) for h in data["hashes"]])


def seal_leaf(*, session_id: str, seal_payload: Mapping[str, Any]) -> bytes:
    """The log's leaf for a seal: RFC 8785 of the seal's statement and signature, no payload.

    ``key_id`` and ``signature`` are the seal signature's key id and base64 value (null for an
    unsigned seal).
    """
    signature = seal_payload.get("signature")
    signed = signature if isinstance(signature, Mapping) else {}
    return canonicalize(
        {
            "session_id": session_id,
            "session_digest": seal_payload.get("session_digest"),
            "event_count": seal_payload.get("event_count"),
            "complete": seal_payload.get("complete"),
            "total_drops": seal_payload.get("total_drops"),
            "seal_timestamp": seal_payload.get("seal_timestamp"),
            "ingestion_service_id": seal_payload.get("ingestion_service_id"),
            "key_id": signed.get("key_id"),
            "signature": signed.get("value"),
        }
    )


def tree_head_message(head: Mapping[str, Any]) -> bytes:
    """The bytes a tree head's Ed25519 signature covers."""
    return canonicalize({name: head.get(name) for name in TREE_HEAD_FIELDS})


def tree_head_sign(
    *, private_key: Ed25519PrivateKey, tree_size: int, root_hash: bytes, timestamp: str
) -> dict[str, Any]:
    head: dict[str, Any] = {
        "tree_size": tree_size,
        "root_hash": root_hash.hex(),
        "timestamp": timestamp,
        "key_id": key_id(private_key.public_key()),
    }
    head["signature"] = {
        "alg": SIGNATURE_ALG,
        "value": base64.b64encode(private_key.sign(tree_head_message(head))).decode("ascii"),
    }
    return head


def tree_head_signature_valid(public_key: Ed25519PublicKey, head: Mapping[str, Any]) -> bool:
    """True when the head's signature verifies under ``public_key``; never raises."""
    signature = head.get("signature")
    if not isinstance(signature, Mapping) or signature.get("alg") != SIGNATURE_ALG:
        return False
    if head.get("key_id") != key_id(public_key):
        return False
    try:
        raw = base64.b64decode(str(signature.get("value")), validate=True)
        public_key.verify(raw, tree_head_message(head))
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


def hex_hash(value: Any) -> bytes:
    """A 32-byte hash from its hex form; ProofError for anything else."""
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ProofError(f"not a SHA-256 hash in hex: {str(value)[:80]!r}")
    return raw
