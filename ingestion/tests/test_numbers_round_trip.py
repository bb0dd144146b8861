"""Every payload the API accepts verifies: stored, sealed, exported, then checked offline.

Numbers are where JSON texts and values part ways (``1e16`` is stored as the canonical text
``10000000000000000``, an integer beyond ±(2^53-1)). The rule is ``chain.number_problem``;
here it is checked end to end through the API, the database, the compliance export and the
real ``agentops-verify``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from agentops_sdk import chain
from agentops_sdk.verify import main as verify_main
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingestion import services
from ingestion.models import Event

from .test_api import Api, assert_error, proposal, start

pytestmark = pytest.mark.django_db

SAFE = chain.MAX_SAFE_INTEGER
TWO_53 = 2.0**53

numbers = st.one_of(
    st.integers(-(2**64), 2**64),
    st.sampled_from([SAFE, -SAFE, SAFE + 1, -SAFE - 1, 10**400]),
    st.floats(),
    st.floats(min_value=2.0**52, max_value=1e22),
    st.floats(-(TWO_53 - 1), TWO_53 - 1),
    st.sampled_from(
        [TWO_53, TWO_53 - 1, -0.0, 1e16, math.nextafter(1e21, 0.0), 1e21, 5e-324, 1e300]
    ),
)
payload_values = st.recursive(
    st.none() | st.booleans() | st.text(max_size=4) | numbers,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)


@pytest.fixture
def api() -> Api:
    _, plaintext = services.api_key_create(project_name="acme", name="numbers")
    return Api(plaintext)


def _batch(session_id: str, value: Any) -> list[dict[str, Any]]:
    return [
        proposal(session_id, 0, "SESSION_START"),
        proposal(session_id, 1, "TOOL_CALL", payload={"tool_name": "t", "args": {"v": value}}),
        proposal(session_id, 2, "AGENT_STATE_SNAPSHOT", payload={"state": value}),
        proposal(session_id, 3, "SESSION_END"),
    ]


def _agentops_verify(path: Path, trusted_key: str) -> tuple[int, dict[str, Any]]:
    """The command-line verifier, run in this process on ``path``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = verify_main([str(path), "--format", "json", "--trusted-key", trusted_key])
    return code, json.loads(out.getvalue())


def _send(api: Api, session_id: str, value: Any) -> Any:
    # json.dumps writes floats as Python does (1e+16) and NaN as a bare literal, as a
    # producer other than the SDK could.
    body = json.dumps({"events": _batch(session_id, value)}).encode()
    return api.post(f"/api/v1/sessions/{session_id}/events", raw=body)


def _check_round_trip(api: Api, value: Any, directory: Path) -> None:
    session_id = start(api)
    response = _send(api, session_id, value)
    try:
        chain.canonicalize({"tool_name": "t", "args": {"v": value}})
    except chain.NonCanonicalValueError as refused:
        error = assert_error(response, 422, "NON_CANONICAL_VALUE")
        assert error["details"]["index"] == 1
        assert error["details"]["path"] == refused.path
        assert Event.objects.filter(session_id=session_id).count() == 0
        return
    assert response.status_code == 200, response.content

    sealed = api.post(f"/api/v1/sessions/{session_id}/seal")
    assert sealed.status_code == 200, sealed.content
    assert sealed.json()["verification"]["status"] == "PASS"
    export = api.get(f"/api/v1/sessions/{session_id}/export", format="json")
    assert export.status_code == 200
    path = directory / f"{session_id}.json"
    path.write_bytes(b"".join(export.streaming_content))

    keys = api.get("/api/v1/keys").json()["keys"]
    current = next(key["public_key"] for key in keys if key["status"] == "current")
    code, report = _agentops_verify(path, current)
    assert (code, report["status"]) == (0, "PASS"), report["violations"]
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE", report["partial_reasons"]


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=payload_values)
@example(value=1e16)
@example(value=[TWO_53 - 1, -(TWO_53 - 1), -0.0, 1e21, -1e21, 5e-324, 1e300, SAFE, -SAFE])
@example(value={"n": [0.5, TWO_53]})
@example(value={"deep": [[math.nextafter(1e21, 0.0)]]})
@example(value=math.nan)
@example(value=10**400)
def test_accepted_payloads_verify_after_export_and_refused_ones_store_nothing(
    api: Api, tmp_path: Path, value: Any
) -> None:
    _check_round_trip(api, value, tmp_path)


def test_amount_1e16_is_refused_by_path_and_nothing_is_stored(api: Api) -> None:
    session_id = start(api)
    batch = [
        proposal(session_id, 0, "SESSION_START"),
        proposal(session_id, 1, "AGENT_STATE_SNAPSHOT", payload={"amount": 1e16}),
    ]
    error = assert_error(
        api.post(f"/api/v1/sessions/{session_id}/events", {"events": batch}),
        422,
        "NON_CANONICAL_VALUE",
    )
    assert error["details"]["path"] == "$.amount"
    assert error["details"]["index"] == 1
    assert Event.objects.filter(session_id=session_id).count() == 0
