"""The log as stored: leaves from seals, roots and proofs from stored subtrees that verify
with the SDK's verifier (by property), append-only tables, signed tree heads."""

from __future__ import annotations

import importlib
import json

import pytest
from agentops_sdk import merkle
from django.db import IntegrityError, connection, transaction
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import keys, selectors, services
from ingestion.errors import AppendOnlyError, IngestionError
from ingestion.models import LogLeaf, LogNode, TreeHead
from ingestion.tests.factories import session_create, session_with_events
from ingestion.transparency import services as log

pytestmark = pytest.mark.django_db


def _sealed(n: int = 2):
    session = session_with_events(n, end=True)
    return services.session_seal(session=session)


def _synthetic_leaves(count: int) -> None:
    """Leaves appended as a seal appends them, without the cost of whole seals."""
    for _ in range(count):
        session = session_create()
        with transaction.atomic():
            log.log_leaf_append(
                session_id=str(session.pk),
                seal_payload={"session_digest": "sha256:" + "0" * 64, "event_count": 1},
            )


def _all_leaf_hashes() -> list[bytes]:
    rows = LogLeaf.objects.order_by("leaf_index").values_list("leaf", "leaf_hash")
    hashes = [merkle.leaf_hash(leaf.encode()) for leaf, _ in rows]
    assert [h.hex() for h in hashes] == [stored for _, stored in rows]
    return hashes


def test_each_seal_appends_its_leaf():
    first, second = _sealed(), _sealed(3)
    leaves = list(LogLeaf.objects.order_by("leaf_index"))
    assert [x.leaf_index for x in leaves] == [0, 1]
    for row, result in zip(leaves, (first, second), strict=True):
        payload = result.seal["payload"]
        assert str(row.session_id) == result.seal["session_id"]
        assert row.leaf.encode() == merkle.seal_leaf(
            session_id=result.seal["session_id"], seal_payload=payload
        )
        stated = json.loads(row.leaf)
        assert stated["signature"] == payload["signature"]["value"]
        assert stated["session_digest"] == payload["session_digest"]
        assert "payload" not in stated and "project" not in stated


def test_a_repeated_seal_appends_nothing():
    session = session_with_events(2, end=True)
    services.session_seal(session=session)
    services.session_seal(session=session)
    assert LogLeaf.objects.count() == 1


def test_an_empty_session_refused_at_seal_appends_nothing():
    session = session_create()
    with pytest.raises(IngestionError):
        services.session_seal(session=session)
    assert LogLeaf.objects.count() == 0


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(count=st.integers(min_value=1, max_value=40), data=st.data())
def test_every_stored_proof_verifies_offline_and_alterations_fail(count, data):
    with transaction.atomic():  # each example starts from an empty log
        _proofs_check(count, data)
        transaction.set_rollback(True)


def _proofs_check(count, data):
    _synthetic_leaves(count)
    hashes = _all_leaf_hashes()
    size = data.draw(st.integers(min_value=1, max_value=count))
    root = log.log_root(tree_size=size)
    assert root == merkle.root_from_leaf_hashes(hashes[:size])
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    path = log.log_inclusion_proof(leaf_index=index, tree_size=size)
    merkle.verify_inclusion(leaf_hash_=hashes[index], index=index, size=size, path=path, root=root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(
            leaf_hash_=merkle.leaf_hash(b"another"), index=index, size=size, path=path, root=root
        )
    if path:
        altered = list(path)
        altered[data.draw(st.integers(0, len(path) - 1))] = b"\x00" * 32
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(
                leaf_hash_=hashes[index], index=index, size=size, path=altered, root=root
            )
    first = data.draw(st.integers(min_value=1, max_value=size))
    second = data.draw(st.integers(min_value=first, max_value=count))
    proof = log.log_consistency_proof(first=first, second=second)
    first_root, second_root = log.log_root(tree_size=first), log.log_root(tree_size=second)
    merkle.verify_consistency(
        first=first, second=second, first_root=first_root, second_root=second_root, proof=proof
    )
    if first < second:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(
                first=first,
                second=second,
                first_root=first_root,
                second_root=merkle.node_hash(second_root, second_root),
                proof=proof,
            )
        altered = list(proof)
        altered[data.draw(st.integers(0, len(proof) - 1))] = b"\x00" * 32
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(
                first=first,
                second=second,
                first_root=first_root,
                second_root=second_root,
                proof=altered,
            )


def test_the_stored_subtrees_are_the_complete_ones():
    _synthetic_leaves(7)
    stored = set(LogNode.objects.values_list("level", "position"))
    # 7 leaves: seven leaf nodes, pairs 0..2, the quad 0; nothing for the incomplete right edge.
    assert stored == {(0, i) for i in range(7)} | {(1, 0), (1, 1), (1, 2), (2, 0)}


def test_reading_a_root_or_a_proof_costs_a_few_queries():
    _synthetic_leaves(37)
    with CaptureQueriesContext(connection) as queries:
        log.log_inclusion_proof(leaf_index=5, tree_size=37)
    assert len(queries) <= 2  # the size, then every subtree in one query
    with CaptureQueriesContext(connection) as queries:
        log.log_consistency_proof(first=13, second=37)
    assert len(queries) <= 2


@pytest.mark.parametrize(
    ("first", "second", "tree_size"), [(0, 1, None), (2, 1, None), (1, 5, None)]
)
def test_impossible_sizes_are_refused(first, second, tree_size):
    _synthetic_leaves(3)
    with pytest.raises(IngestionError) as caught:
        log.log_consistency_proof(first=first, second=second)
    assert caught.value.code == "LOG_SIZE_INVALID" and caught.value.status == 400


def test_an_inclusion_beyond_the_tree_is_refused():
    _synthetic_leaves(3)
    for index, size in ((3, 3), (0, 4), (-1, 2)):
        with pytest.raises(IngestionError):
            log.log_inclusion_proof(leaf_index=index, tree_size=size)


# --- signed tree heads ----------------------------------------------------------------------


def test_a_signed_tree_head_verifies_with_the_published_key():
    _sealed()
    _synthetic_leaves(2)
    head = log.tree_head_json(log.tree_head_sign())
    assert head["tree_size"] == 3
    assert head["root_hash"] == merkle.root_from_leaf_hashes(_all_leaf_hashes()).hex()
    public = keys.trusted_public_keys()[0]
    assert merkle.tree_head_signature_valid(public, head)
    assert not merkle.tree_head_signature_valid(public, {**head, "tree_size": 2})


def test_seals_sign_a_head_when_the_latest_is_older_than_the_interval(settings):
    settings.AGENTOPS_LOG_STH_INTERVAL = 3600
    with TestCase.captureOnCommitCallbacks(execute=True):
        _sealed()
    assert list(TreeHead.objects.values_list("tree_size", flat=True)) == [1]
    with TestCase.captureOnCommitCallbacks(execute=True):
        _sealed()  # the head of size 1 is recent: no new one
    assert list(TreeHead.objects.values_list("tree_size", flat=True)) == [1]
    settings.AGENTOPS_LOG_STH_INTERVAL = 0
    with TestCase.captureOnCommitCallbacks(execute=True):
        _sealed()
    assert list(TreeHead.objects.order_by("id").values_list("tree_size", flat=True)) == [1, 3]


def test_the_inclusion_of_a_session_is_proven_against_a_signed_head():
    _synthetic_leaves(4)
    result = _sealed()
    _synthetic_leaves(2)
    session = selectors.session_uuid(result.seal["session_id"])
    proof = log.session_inclusion(session_id=str(session))
    assert proof is not None and proof["leaf_index"] == 4
    head = proof["tree_head"]
    assert head["tree_size"] == 7
    merkle.verify_inclusion(
        leaf_hash_=merkle.leaf_hash(proof["leaf"].encode()),
        index=4,
        size=7,
        path=[bytes.fromhex(p) for p in proof["audit_path"]],
        root=bytes.fromhex(head["root_hash"]),
    )
    assert log.session_inclusion(session_id=str(session_create().pk)) is None


# --- append-only, in the database itself ----------------------------------------------------


def _execute(sql: str, params: list | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


TABLES = [
    ("ingestion_logleaf", "log leaves", "leaf = 'x'"),
    ("ingestion_lognode", "log nodes", "hash = 'x'"),
    ("ingestion_treehead", "tree heads", "root_hash = 'x'"),
]


@pytest.mark.parametrize(("table", "what", "assignment"), TABLES)
def test_log_rows_cannot_be_updated_or_deleted(table, what, assignment):
    _synthetic_leaves(2)
    log.tree_head_sign()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        before = cursor.fetchone()[0]
    with pytest.raises(IntegrityError, match=f"append-only: {what} cannot be updated"):
        _execute(f"UPDATE {table} SET {assignment}")
    with pytest.raises(IntegrityError, match=f"append-only: {what} cannot be deleted"):
        _execute(f"DELETE FROM {table}")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        assert cursor.fetchone()[0] == before


@pytest.mark.postgres
@pytest.mark.parametrize(("table", "what", "assignment"), TABLES)
def test_log_tables_cannot_be_truncated(table, what, assignment):
    _synthetic_leaves(1)
    log.tree_head_sign()
    _execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(IntegrityError, match=f"append-only: {what} cannot be truncated"):
        _execute(f"TRUNCATE {table} CASCADE")


def test_the_models_refuse_changes():
    _synthetic_leaves(1)
    leaf = LogLeaf.objects.get()
    with pytest.raises(AppendOnlyError):
        leaf.save()
    with pytest.raises(AppendOnlyError):
        leaf.delete()


log_migration = importlib.import_module("ingestion.migrations.0010_transparency_log")


class _Editor:
    """What the migration's functions use of a schema editor."""

    connection = connection

    def execute(self, sql, params=None):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def test_the_log_triggers_reverse_and_reapply_cleanly():
    _synthetic_leaves(1)
    log.tree_head_sign()
    log_migration.drop_triggers(None, _Editor())
    _execute("UPDATE ingestion_logleaf SET leaf = 'changed'")
    log_migration.create_triggers(None, _Editor())
    for table, what, _ in TABLES:
        with pytest.raises(IntegrityError, match=f"append-only: {what} cannot be deleted"):
            _execute(f"DELETE FROM {table}")
    assert LogLeaf.objects.get().leaf == "changed"


@pytest.mark.postgres
def test_the_log_trigger_function_runs_with_a_fixed_search_path():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proconfig, n.nspname = current_schema() FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE p.proname = 'ingestion_log_refuse'"
        )
        [(config, in_schema)] = cursor.fetchall()
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
    assert in_schema
    assert config == [f"search_path={schema}, pg_temp"]
