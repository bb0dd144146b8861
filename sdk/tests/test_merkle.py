"""The transparency log's Merkle rules against RFC 9162 §2.1, by hand and by property."""

from __future__ import annotations

import hashlib

import pytest
from agentops_sdk import merkle
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# The leaves of the reference trees used by Certificate Transparency's implementations.
REFERENCE_LEAVES = [
    bytes.fromhex(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
REFERENCE_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def hashes_of(leaves):
    return [merkle.leaf_hash(x) for x in leaves]


def test_hashing_prefixes_per_rfc9162():
    assert merkle.leaf_hash(b"a") == h(b"\x00a")
    assert merkle.node_hash(b"L", b"R") == h(b"\x01LR")
    assert merkle.root_from_leaf_hashes([]) == h(b"")


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_roots(size):
    hashes = hashes_of(REFERENCE_LEAVES[:size])
    assert merkle.root_from_leaf_hashes(hashes).hex() == REFERENCE_ROOTS[size - 1]
    frontier = merkle.Frontier()
    for x in hashes:
        frontier.append(x)
    assert frontier.root().hex() == REFERENCE_ROOTS[size - 1]


def test_three_leaf_tree_by_hand():
    a, b, c = h(b"\x00a"), h(b"\x00b"), h(b"\x00c")
    ab = h(b"\x01" + a + b)
    root = h(b"\x01" + ab + c)  # split at 2, the largest power of two below 3
    hashes = hashes_of([b"a", b"b", b"c"])
    assert merkle.root_from_leaf_hashes(hashes) == root
    sub = merkle.list_subtree(hashes)
    assert merkle.inclusion_path(2, 3, sub) == [ab]
    assert merkle.inclusion_path(0, 3, sub) == [b, c]
    assert merkle.inclusion_path(1, 3, sub) == [a, c]
    assert merkle.consistency_path(2, 3, sub) == [c]
    assert merkle.consistency_path(1, 3, sub) == [b, c]
    merkle.verify_inclusion(leaf_hash_=c, index=2, size=3, path=[ab], root=root)
    merkle.verify_consistency(first=2, second=3, first_root=ab, second_root=root, proof=[c])
    merkle.verify_consistency(first=1, second=3, first_root=a, second_root=root, proof=[b, c])


def test_seven_leaf_tree_by_hand():
    # RFC 9162 §2.1.5's example tree of seven leaves d0..d6.
    leaves = [bytes([i]) for i in range(7)]
    L = hashes_of(leaves)
    g, h_, i = (h(b"\x01" + L[x] + L[x + 1]) for x in (0, 2, 4))  # j is the lone leaf L[6]
    k = h(b"\x01" + g + h_)
    ll = h(b"\x01" + i + L[6])
    root = h(b"\x01" + k + ll)
    sub = merkle.list_subtree(L)
    assert merkle.root_from_leaf_hashes(L) == root
    # The RFC: the audit path for d0 is [b, h, l]; for d3 [c, g, l]; for d4 [f, j, k].
    assert merkle.inclusion_path(0, 7, sub) == [L[1], h_, ll]
    assert merkle.inclusion_path(3, 7, sub) == [L[2], g, ll]
    assert merkle.inclusion_path(4, 7, sub) == [L[5], L[6], k]
    # The RFC: consistency 3 -> 7 is [c, d, g, l]; 4 -> 7 is [l]; 6 -> 7 is [i, j, k].
    assert merkle.consistency_path(3, 7, sub) == [L[2], L[3], g, ll]
    assert merkle.consistency_path(4, 7, sub) == [ll]
    assert merkle.consistency_path(6, 7, sub) == [i, L[6], k]


@st.composite
def tree_and_index(draw):
    size = draw(st.integers(min_value=1, max_value=70))
    return size, draw(st.integers(min_value=0, max_value=size - 1))


def leaves_for(size):
    return hashes_of([i.to_bytes(4, "big") for i in range(size)])


@given(tree_and_index())
def test_inclusion_proofs_verify_and_alterations_fail(case):
    size, index = case
    L = leaves_for(size)
    root = merkle.root_from_leaf_hashes(L)
    path = merkle.inclusion_path(index, size, merkle.list_subtree(L))
    merkle.verify_inclusion(leaf_hash_=L[index], index=index, size=size, path=path, root=root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(
            leaf_hash_=merkle.leaf_hash(b"other"), index=index, size=size, path=path, root=root
        )
    with pytest.raises(merkle.ProofError):
        bad_root = merkle.node_hash(root, root)
        merkle.verify_inclusion(
            leaf_hash_=L[index], index=index, size=size, path=path, root=bad_root
        )
    for position in range(len(path)):
        altered = list(path)
        altered[position] = merkle.leaf_hash(altered[position])
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(
                leaf_hash_=L[index], index=index, size=size, path=altered, root=root
            )
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(
            leaf_hash_=L[index], index=index, size=size, path=[*path, root], root=root
        )
    if path:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(
                leaf_hash_=L[index], index=index, size=size, path=path[:-1], root=root
            )


@st.composite
def two_sizes(draw):
    second = draw(st.integers(min_value=1, max_value=70))
    return draw(st.integers(min_value=1, max_value=second)), second


@given(two_sizes())
def test_consistency_proofs_verify_and_alterations_fail(case):
    first, second = case
    L = leaves_for(second)
    r1, r2 = merkle.root_from_leaf_hashes(L[:first]), merkle.root_from_leaf_hashes(L)
    proof = merkle.consistency_path(first, second, merkle.list_subtree(L))
    merkle.verify_consistency(
        first=first, second=second, first_root=r1, second_root=r2, proof=proof
    )
    if first == second:
        return
    for position in range(len(proof)):
        altered = list(proof)
        altered[position] = merkle.leaf_hash(altered[position])
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(
                first=first, second=second, first_root=r1, second_root=r2, proof=altered
            )
    forked = merkle.root_from_leaf_hashes([*L[: first - 1], merkle.leaf_hash(b"fork")])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(
            first=first, second=second, first_root=forked, second_root=r2, proof=proof
        )
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(
            first=first, second=second, first_root=r1, second_root=forked, proof=proof
        )


@given(st.integers(min_value=0, max_value=200))
def test_frontier_matches_definition(size):
    L = leaves_for(size)
    frontier = merkle.Frontier()
    for x in L:
        frontier.append(x)
    assert frontier.root() == merkle.root_from_leaf_hashes(L)
    again = merkle.Frontier.from_json(frontier.to_json())
    assert again.root() == frontier.root()
    assert len(again.hashes) == bin(size).count("1")


def test_tree_head_signature():
    key = Ed25519PrivateKey.generate()
    head = merkle.tree_head_sign(
        private_key=key, tree_size=3, root_hash=b"\x01" * 32, timestamp="2026-01-01T00:00:00Z"
    )
    assert merkle.tree_head_signature_valid(key.public_key(), head)
    assert not merkle.tree_head_signature_valid(key.public_key(), {**head, "tree_size": 4})
    assert not merkle.tree_head_signature_valid(Ed25519PrivateKey.generate().public_key(), head)


def test_seal_leaf_names_the_seal_without_payload():
    leaf = merkle.seal_leaf(
        session_id="s",
        seal_payload={
            "session_digest": "sha256:ab",
            "final_event_hash": "ab",
            "event_count": 2,
            "complete": True,
            "total_drops": 0,
            "seal_timestamp": "t",
            "ingestion_service_id": "svc",
            "signature": {"alg": "Ed25519", "key_id": "k", "value": "c2ln"},
        },
    )
    assert leaf == (
        b'{"complete":true,"event_count":2,"ingestion_service_id":"svc","key_id":"k",'
        b'"seal_timestamp":"t","session_digest":"sha256:ab","session_id":"s",'
        b'"signature":"c2ln","total_drops":0}'
    )
