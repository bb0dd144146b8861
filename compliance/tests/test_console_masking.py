"""The console masks personal data wherever a reader without the raw-payload permission looks.

A session hides an e-mail address and a phone number in every text a producer chooses: the
agent id, a payload key, a tool name, the SDK version. No page a reviewer reaches shows them;
a user holding ``compliance.view_raw_payload`` sees them as recorded.
"""

from __future__ import annotations

from urllib.parse import quote, quote_plus, urlencode

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from compliance.models import ExportRecord
from compliance.reviewers import GROUP_NAME
from ingestion import services
from ingestion.models import Session
from ingestion.tests.factories import proposal_build, session_create
from policy.masking import text_shown
from policy.models import Findings
from policy.pii import scanner_build
from policy.services import session_findings_evaluate

pytestmark = pytest.mark.django_db

EMAIL = "jane.doe@example.com"
PHONE = "+1 415-555-2671"
RAW = (EMAIL, PHONE)
AGENT = f"bot {EMAIL} {PHONE}"
TOOL = f"notify {EMAIL} {PHONE}"
SDK = f"agentops-sdk/0.1.0 {EMAIL} {PHONE}"


def exposed_session() -> Session:
    session = session_create(agent_id=AGENT)
    steps = [
        ("SESSION_START", {"agent_id": AGENT}),
        ("MODEL_REQUEST", {"model": "gpt-test", "messages": [{EMAIL: "hi", PHONE: 1}]}),
        ("TOOL_CALL", {"tool_name": TOOL, "args": {EMAIL: "order 7", "to": PHONE}}),
        ("TOOL_RESULT", {"tool_name": TOOL, "status": "success", "result": {PHONE: "sent"}}),
        ("SESSION_END", {"status": "success", "duration_ms": 10}),
    ]
    services.events_append(
        session=session,
        proposals=[
            proposal_build(session.pk, seq, kind, payload, source_sdk_ver=SDK)
            for seq, (kind, payload) in enumerate(steps)
        ],
    )
    services.session_seal(session=session)
    session_findings_evaluate(session=session)
    ExportRecord.objects.create(
        session=session,
        format="json",
        file_name="x.json",
        sha256="0" * 64,
        size_bytes=1,
        exported_at=session.created_at,
        channel="api",
        actor=f"api key for {EMAIL}",
        sealed=True,
        verification_status="PASS",
    )
    return session


def reviewer_of(django_user_model, *, raw: bool):
    user = django_user_model.objects.create_user(
        "raw" if raw else "rita", password="a long pass phrase 42", is_staff=True
    )
    user.groups.add(Group.objects.get(name=GROUP_NAME))
    if raw:
        user.user_permissions.add(
            Permission.objects.get(
                content_type__app_label="compliance", codename="view_raw_payload"
            )
        )
    return user


def pages(session: Session) -> dict[str, str]:
    """Every console page that shows something of the session, by a name for messages."""
    findings = Findings.objects.get(session=session)
    record = ExportRecord.objects.get(session=session)
    sessions = reverse("admin:ingestion_session_changelist")
    page = reverse("admin:ingestion_session_change", args=[session.pk])
    return {
        "list": sessions,
        "search by agent": f"{sessions}?q=bot",
        "search results": f"{sessions}?q={quote(str(session.pk)[:8])}",
        "search echo": f"{sessions}?q={quote(EMAIL)}",
        "session page": page,
        "timeline page 1": f"{page}?page=1",
        "session history": reverse("admin:ingestion_session_history", args=[session.pk]),
        "events": reverse("admin:ingestion_event_changelist"),
        "findings": reverse("admin:policy_findings_changelist"),
        "findings page": reverse("admin:policy_findings_change", args=[findings.pk]),
        "findings history": reverse("admin:policy_findings_history", args=[findings.pk]),
        "ledger": reverse("admin:compliance_exportrecord_changelist"),
        "ledger row": reverse("admin:compliance_exportrecord_change", args=[record.pk]),
    }


def test_a_reviewer_sees_no_raw_personal_data_on_any_page(client, django_user_model):
    session = exposed_session()
    client.force_login(reviewer_of(django_user_model, raw=False))
    for name, url in pages(session).items():
        response = client.get(url, follow=True)
        assert response.status_code == 200, name
        html = response.content.decode()
        for raw in RAW:
            assert raw not in html, f"{raw!r} shown on {name}"
            for encoded in (quote(raw), quote_plus(raw)):
                assert encoded not in html, f"{raw!r} in a link on {name}"
    html = client.get(pages(session)["session page"]).content.decode()
    assert "j***@example.com" in html  # masked, not dropped: the reader sees what is there


def test_a_user_with_the_permission_sees_everything(client, django_user_model):
    session = exposed_session()
    client.force_login(reviewer_of(django_user_model, raw=True))
    shown = pages(session)
    page = client.get(shown["session page"]).content.decode()
    for text in (AGENT, TOOL, SDK, EMAIL):
        assert text in page
    assert AGENT in client.get(shown["list"]).content.decode()
    assert EMAIL in client.get(shown["ledger"]).content.decode()


def test_the_agent_filter_and_search_work_on_masked_agent_ids(client, django_user_model):
    session = exposed_session()
    other = session_create(agent_id="claims-bot")
    client.force_login(reviewer_of(django_user_model, raw=False))
    url = reverse("admin:ingestion_session_changelist")
    masked = text_shown(AGENT, raw_allowed=False, scanner=scanner_build())
    listed = client.get(url, {"agent_id": masked}).context["cl"].result_list
    assert [s.pk for s in listed] == [session.pk]
    # A raw id in the query string is masked first, so it finds what its masked form finds
    # (any address of that shape would); a guessed fragment of the hidden text finds nothing.
    response = client.get(url, {"agent_id": AGENT})
    assert response.status_code == 302
    assert response.url == f"{url}?{urlencode({'agent_id': masked})}"
    assert not client.get(url, {"q": "jane.doe"}).context["cl"].result_list
    assert [s.pk for s in client.get(url, {"q": "j***@"}).context["cl"].result_list] == [session.pk]
    assert [s.pk for s in client.get(url, {"q": "claims"}).context["cl"].result_list] == [other.pk]
