"""After an erasure, a dump of the whole database holds the erased value nowhere: the real
``pg_dump`` and ``sqlite3 .dump`` are searched for it (and found it before the erasure)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from django.db import connection

from compliance import erasure
from compliance.tests.factories import export_bytes
from ingestion import services
from ingestion.services import Caller
from ingestion.tests.factories import project_create, proposal_build, session_create
from policy.services import session_findings_evaluate

pytestmark = pytest.mark.usefixtures("evidence_transactional_db")

EMAIL = "Zelda.Quux-dump@example.org"
MARKER = "parcel-7f3a-for-zelda"


def _dump(tmp_path) -> str:
    if connection.vendor == "postgresql":
        params = connection.settings_dict
        command = ["pg_dump", "-h", params["HOST"] or "127.0.0.1", "-U", params["USER"]]
        command += ["-p", str(params["PORT"] or 5432), params["NAME"]]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout
    copy = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}.sqlite3"
    with connection.cursor() as cursor:
        cursor.execute("VACUUM INTO %s", [str(copy)])
    return subprocess.run(
        ["sqlite3", str(copy), ".dump"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(
    shutil.which("pg_dump") is None or shutil.which("sqlite3") is None,
    reason="pg_dump and sqlite3 are needed",
)
def test_no_dump_holds_the_erased_value(tmp_path):
    project = project_create("acme")
    session = session_create(project)
    services.events_append(
        session=session,
        proposals=[
            proposal_build(session.id, 0),
            proposal_build(
                session.id,
                1,
                "TOOL_CALL",
                {"tool_name": "mail", "args": {"to": EMAIL, "body": f"{MARKER} shipped"}},
            ),
            proposal_build(session.id, 2, "SESSION_END", {"status": "success", "duration_ms": 1}),
        ],
    )
    services.session_seal(session=session)
    session_findings_evaluate(session=session)
    export_bytes(session, "pdf")  # the export ledger and verification history get rows too
    before = _dump(tmp_path).lower()
    assert EMAIL.lower() in before and MARKER in before

    plan = erasure.erasure_plan(project=project, subject=EMAIL)
    erasure.erasure_execute(
        plan=plan,
        request_ref="DSR-DUMP",
        reason="Art. 17",
        caller=Caller.for_command("dump test", operator="tester"),
    )
    export_bytes(session, "json")
    after = _dump(tmp_path).lower()
    assert EMAIL.lower() not in after
    assert MARKER not in after
    assert "zelda" not in after  # not even the masked preview's readable part
