"""GET /api/v1/log/*: tree heads, inclusion (with the project's key), consistency, leaves."""

from __future__ import annotations

import pytest
from agentops_sdk import merkle
from django.test import Client

from ingestion import keys, services
from ingestion.models import TreeHead
from ingestion.tests.factories import api_key_create, project_create, session_with_events
from ingestion.transparency import services as log

pytestmark = pytest.mark.django_db


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


def _sealed(project):
    session = session_with_events(2, end=True, project=project)
    services.session_seal(session=session)
    return session


@pytest.fixture
def tenant():
    project = project_create()
    _, key = api_key_create(project)
    return project, Client(headers={"Authorization": f"Bearer {key}"})


def test_tree_head_is_public_signed_and_made_on_demand(tenant):
    project, _ = tenant
    for _ in range(3):
        _sealed(project)
    head = Client().get("/api/v1/log/tree-head").json()
    assert head["tree_size"] == 3
    assert merkle.tree_head_signature_valid(keys.trusted_public_keys()[0], head)
    published = Client().get("/api/v1/keys").json()["keys"]
    assert head["key_id"] in {k["key_id"] for k in published}
    assert Client().get("/api/v1/log/tree-head", {"tree_size": 3}).json() == head
    _error(Client().get("/api/v1/log/tree-head", {"tree_size": 2}), 404, "TREE_HEAD_NOT_FOUND")
    _error(Client().get("/api/v1/log/tree-head", {"tree_size": "x"}), 400, "VALIDATION_ERROR")


def test_inclusion_needs_the_sessions_project_key_and_verifies(tenant):
    project, client = tenant
    sessions = [_sealed(project) for _ in range(5)]
    response = client.get("/api/v1/log/inclusion", {"session_id": str(sessions[2].pk)})
    assert response.status_code == 200, response.content
    proof = response.json()
    head = proof["tree_head"]
    assert proof["leaf_index"] == 2 and head["tree_size"] == 5
    assert merkle.tree_head_signature_valid(keys.trusted_public_keys()[0], head)
    merkle.verify_inclusion(
        leaf_hash_=merkle.leaf_hash(proof["leaf"].encode()),
        index=2,
        size=5,
        path=[bytes.fromhex(p) for p in proof["audit_path"]],
        root=bytes.fromhex(head["root_hash"]),
    )
    _error(
        Client().get("/api/v1/log/inclusion", {"session_id": str(sessions[2].pk)}),
        401,
        "UNAUTHENTICATED",
    )
    _, other_key = api_key_create(project_create())
    other = Client(headers={"Authorization": f"Bearer {other_key}"})
    _error(
        other.get("/api/v1/log/inclusion", {"session_id": str(sessions[2].pk)}),
        404,
        "SESSION_NOT_FOUND",
    )
    open_session = session_with_events(1, project=project)
    _error(
        client.get("/api/v1/log/inclusion", {"session_id": str(open_session.pk)}),
        404,
        "LOG_ENTRY_NOT_FOUND",
    )
    _error(
        client.get("/api/v1/log/inclusion", {"session_id": str(sessions[0].pk), "tree_size": 4}),
        404,
        "TREE_HEAD_NOT_FOUND",
    )


def test_consistency_between_two_heads_verifies(tenant):
    project, _ = tenant
    _sealed(project)
    _sealed(project)
    first = log.tree_head_json(log.tree_head_sign())
    for _ in range(3):
        _sealed(project)
    second = log.tree_head_json(log.tree_head_sign())
    body = Client().get("/api/v1/log/consistency", {"first": 2, "second": 5}).json()
    merkle.verify_consistency(
        first=2,
        second=5,
        first_root=bytes.fromhex(first["root_hash"]),
        second_root=bytes.fromhex(second["root_hash"]),
        proof=[bytes.fromhex(p) for p in body["consistency_path"]],
    )


@pytest.mark.parametrize(
    "query",
    [{"first": 3, "second": 2}, {"first": 1, "second": 9}, {"first": 0, "second": 1}],
)
def test_impossible_consistency_sizes_are_4xx(tenant, query):
    project, _ = tenant
    _sealed(project)
    _sealed(project)
    response = Client().get("/api/v1/log/consistency", query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"LOG_SIZE_INVALID", "VALIDATION_ERROR"}


def test_leaves_are_public_and_hold_no_tenant_data(tenant):
    project, _ = tenant
    sessions = [_sealed(project) for _ in range(3)]
    body = Client().get("/api/v1/log/leaves", {"start": 1, "end": 3}).json()
    assert [x["leaf_index"] for x in body["leaves"]] == [1, 2]
    assert all(project.name not in x["leaf"] for x in body["leaves"])
    assert str(sessions[1].pk) in body["leaves"][0]["leaf"]
    _error(Client().get("/api/v1/log/leaves", {"start": 2, "end": 4}), 400, "LOG_SIZE_INVALID")
    _error(Client().get("/api/v1/log/leaves", {"start": 2, "end": 2}), 400, "LOG_SIZE_INVALID")
    _error(Client().get("/api/v1/log/leaves", {"start": ""}), 400, "VALIDATION_ERROR")


def test_a_get_of_the_first_head_signs_it_once():
    assert Client().get("/api/v1/log/tree-head").json()["tree_size"] == 0
    Client().get("/api/v1/log/tree-head")
    assert TreeHead.objects.count() == 1
