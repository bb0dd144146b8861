"""The log's services: append a seal's leaf, compute roots and proofs, sign tree heads.

Storage: ``LogLeaf`` (the leaf bytes, by index) and ``LogNode`` (the hash of every complete
subtree, written once when its last leaf arrives). Appending reads the O(log n) left siblings
it completes; a root or a proof is made of O(log n) complete subtrees, fetched in one query.
The tree's rules are ``agentops_sdk.merkle``'s; this module only stores and fetches.

Order: the leaf is appended inside the seal's transaction under one service-wide lock
(PostgreSQL: a transaction-level advisory lock; SQLite: the database's write lock, which the
seal already holds), so leaves are numbered in the order seals commit, without gaps.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from agentops_sdk import chain, merkle
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from .. import keys
from ..errors import IngestionError
from .models import LogLeaf, LogNode, TreeHead

logger = logging.getLogger(__name__)

#: pg_advisory_xact_lock key of the log ("AOLOG" in ASCII); no privilege is needed to take it.
LOCK_KEY = 0x414F4C4F47


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def log_size() -> int:
    """The number of leaves committed (an index lookup: the largest leaf index)."""
    last = LogLeaf.objects.aggregate(last=Max("leaf_index"))["last"]
    return 0 if last is None else last + 1


def log_leaf_append(*, session_id: str, seal_payload: Mapping[str, Any]) -> LogLeaf:
    """Append the seal's leaf; call inside the seal's transaction, after its writes."""
    if not transaction.get_connection().in_atomic_block:
        raise AssertionError("a leaf is appended inside the seal's transaction")
    _lock()
    index = log_size()
    leaf = merkle.seal_leaf(session_id=session_id, seal_payload=seal_payload)
    digest = merkle.leaf_hash(leaf)
    row = LogLeaf(
        leaf_index=index,
        session_id=session_id,
        leaf=leaf.decode("utf-8"),
        leaf_hash=digest.hex(),
    )
    row.save(force_insert=True)
    # The complete subtrees this leaf closes: while the position is odd, its left sibling
    # (complete already) and the new node make their parent.
    level, position, carry = 0, index, digest
    siblings = _nodes_fetch((lvl, (index >> lvl) - 1) for lvl in range(64) if (index >> lvl) & 1)
    nodes = [LogNode(level=0, position=index, hash=digest.hex())]
    while position & 1:
        carry = merkle.node_hash(siblings[(level, position - 1)], carry)
        level, position = level + 1, position >> 1
        nodes.append(LogNode(level=level, position=position, hash=carry.hex()))
    LogNode.objects.bulk_create(nodes)
    _tree_head_schedule()
    return row


def _nodes_fetch(wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes of the given complete subtrees, in one query."""
    keys_ = sorted(set(wanted))
    if not keys_:
        return {}
    condition = Q()
    for level, position in keys_:
        condition |= Q(level=level, position=position)
    found = {
        (level, position): bytes.fromhex(value)
        for level, position, value in LogNode.objects.filter(condition).values_list(
            "level", "position", "hash"
        )
    }
    missing = [k for k in keys_ if k not in found]
    if missing:
        raise AssertionError(f"the log is missing complete subtrees {missing[:5]}")
    return found


def _stored(compute) -> Any:
    """Run ``compute(subtree)`` twice: once to learn which subtrees it reads, then on them."""
    wanted: set[tuple[int, int]] = set()

    def record(start: int, end: int) -> bytes:
        wanted.update(merkle.perfect_pieces(start, end))
        return b""

    compute(record)
    found = _nodes_fetch(wanted)

    def subtree(start: int, end: int) -> bytes:
        return merkle.subtree_hash_from_pieces(start, end, lambda lv, pos: found[(lv, pos)])

    return compute(subtree)


def _size_check(size: int, *, name: str, current: int | None = None) -> int:
    current = log_size() if current is None else current
    if not 0 <= size <= current:
        raise IngestionError(
            "LOG_SIZE_INVALID",
            f"{name} must be between 0 and the log's size",
            status=400,
            details={name: size, "log_size": current},
        )
    return size


def log_root(*, tree_size: int) -> bytes:
    """The root of the log's first ``tree_size`` leaves."""
    _size_check(tree_size, name="tree_size")
    if tree_size == 0:
        return merkle.EMPTY_ROOT
    return _stored(lambda subtree: subtree(0, tree_size))


def log_inclusion_proof(*, leaf_index: int, tree_size: int) -> list[bytes]:
    _size_check(tree_size, name="tree_size")
    if not 0 <= leaf_index < tree_size:
        raise IngestionError(
            "LOG_SIZE_INVALID",
            "the tree does not hold this leaf yet",
            status=400,
            details={"leaf_index": leaf_index, "tree_size": tree_size},
        )
    return _stored(lambda subtree: merkle.inclusion_path(leaf_index, tree_size, subtree))


def log_consistency_proof(*, first: int, second: int) -> list[bytes]:
    current = log_size()
    _size_check(second, name="second", current=current)
    if not 0 < first <= second:
        raise IngestionError(
            "LOG_SIZE_INVALID",
            "a consistency proof needs 0 < first <= second",
            status=400,
            details={"first": first, "second": second},
        )
    return _stored(lambda subtree: merkle.consistency_path(first, second, subtree))


def log_leaves(*, start: int, end: int) -> list[LogLeaf]:
    return list(LogLeaf.objects.filter(leaf_index__gte=start, leaf_index__lt=end).order_by("pk"))


def tree_head_sign(*, now: datetime | None = None) -> TreeHead:
    """Sign the log's current size and root, store the head (and its TSA token) and return it.

    Needs no lock: a committed size's subtrees are committed with it and never change.
    """
    size = log_size()
    root = log_root(tree_size=size)
    stamp = (now or timezone.now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    head = merkle.tree_head_sign(
        private_key=keys.signing_key(), tree_size=size, root_hash=root, timestamp=stamp
    )
    token = b""
    if getattr(settings, "AGENTOPS_TSA_URL", ""):
        from .tsa import timestamp_request  # only when configured

        token = timestamp_request(url=settings.AGENTOPS_TSA_URL, data=chain.canonicalize(head))
    row = TreeHead(
        tree_size=size,
        root_hash=head["root_hash"],
        timestamp=stamp,
        key_id=head["key_id"],
        signature=head["signature"]["value"],
        tsa_token=base64.b64encode(token).decode("ascii"),
    )
    row.save(force_insert=True)
    return row


def _tree_head_schedule() -> None:
    """Sign a head after this seal commits when the latest one is older than the interval."""
    interval = getattr(settings, "AGENTOPS_LOG_STH_INTERVAL", 60)
    latest = TreeHead.objects.order_by("-id").values_list("created_at", flat=True).first()
    if latest is not None and latest > timezone.now() - timedelta(seconds=interval):
        return

    def sign() -> None:
        tree_head_sign()

    transaction.on_commit(sign, robust=True)


def tree_head_get(*, tree_size: int | None = None) -> TreeHead:
    """The latest signed head, or the latest of the given size; TREE_HEAD_NOT_FOUND if none."""
    heads = TreeHead.objects.order_by("-id")
    if tree_size is not None:
        heads = heads.filter(tree_size=tree_size)
    head = heads.first()
    if head is None:
        raise IngestionError(
            "TREE_HEAD_NOT_FOUND",
            "no signed tree head of that size" if tree_size is not None else "no tree head yet",
            status=404,
            details={} if tree_size is None else {"tree_size": tree_size},
        )
    return head


def tree_head_exists() -> bool:
    return TreeHead.objects.exists()


def tree_head_covering(*, leaf_index: int) -> TreeHead:
    """The first signed head that holds the leaf; one is signed now if none does yet.

    The first, not the latest: the answer never changes once given, so an export written
    twice (once to hash it, once to sign it) states the same head both times.
    """
    head = TreeHead.objects.filter(tree_size__gt=leaf_index).order_by("id").first()
    return head if head is not None else tree_head_sign()


def tree_head_json(head: TreeHead) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash,
        "timestamp": head.timestamp,
        "key_id": head.key_id,
        "signature": {"alg": "Ed25519", "value": head.signature},
    }
    if head.tsa_token:
        data["tsa_token"] = head.tsa_token
    return data


def session_inclusion(*, session_id: str, tree_size: int | None = None) -> dict[str, Any] | None:
    """The session's entry, the signed head it is proven against and its audit path; None
    when the session has no leaf (not sealed, or sealed before the log existed)."""
    leaf = LogLeaf.objects.filter(session_id=session_id).first()
    if leaf is None:
        return None
    if tree_size is None:
        head = tree_head_covering(leaf_index=leaf.leaf_index)
    else:
        head = tree_head_get(tree_size=tree_size)
    path = log_inclusion_proof(leaf_index=leaf.leaf_index, tree_size=head.tree_size)
    return {
        "leaf_index": leaf.leaf_index,
        "leaf": leaf.leaf,
        "leaf_hash": leaf.leaf_hash,
        "tree_head": tree_head_json(head),
        "audit_path": [p.hex() for p in path],
    }
