"""A compliance reviewer uses the console in a real browser (Chromium through Playwright).

Debian's Chromium (``/usr/bin/chromium``, installed by ``make test``) drives pytest-django's
live server. Screenshots of the session list and the session page go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from compliance.models import ExportRecord
from ingestion import keys
from ingestion.models import Event, Session

from .browser_support import ARTIFACTS, browser, reviewers_group, signed_in
from .factories import session_recorded, session_sealed

__all__ = ["browser"]  # a fixture of browser_support, used by the tests below

VERIFY = Path(sys.executable).with_name("agentops-verify")
USERNAME, PASSWORD = "rita", "a long pass phrase 42"
EMAIL = "jane.doe@example.com"  # in the model request of every factory session

pytestmark = pytest.mark.usefixtures("evidence_transactional_db")


@pytest.fixture
def evidence() -> dict[str, Session]:
    """Sessions of three kinds; sealing runs the policy evaluation (committed here)."""
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.groups.add(reviewers_group())
    return {
        "authoritative": session_sealed(agent_id="claims-assistant"),
        "partial": session_sealed(end=False, agent_id="refund-agent"),
        "open": session_recorded(end=False, agent_id="triage-bot"),
    }


@pytest.fixture
def page(browser, live_server, evidence):
    """A reviewer signed in to the console."""
    tab = signed_in(browser, live_server, USERNAME, PASSWORD)
    yield tab
    tab.context.close()


def short(session: Session) -> str:
    return str(session.pk)[:8]


def open_authoritative_session(page, live_server) -> None:
    page.goto(live_server.url + reverse("admin:ingestion_session_changelist"))
    page.click("#changelist-filter >> text=Verified — authoritative evidence")
    page.wait_for_url("**evidence_class=AUTHORITATIVE_EVIDENCE**")


def test_a_reviewer_reads_an_authoritative_session_and_its_pdf(page, live_server, evidence):
    ARTIFACTS.mkdir(exist_ok=True)
    wanted = evidence["authoritative"]
    open_authoritative_session(page, live_server)
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert short(wanted) in rows.first.inner_text()
    assert "Authoritative" in rows.first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "admin-session-list.png"), full_page=True)

    page.click(f"#result_list >> text={short(wanted)}")
    page.wait_for_selector("ol.ao-timeline")
    assert "Verified — authoritative evidence" in page.inner_text(".ao-card")
    events = page.locator("ol.ao-timeline > li")
    assert events.count() == Event.objects.filter(session=wanted).count()
    assert "Session started" in events.nth(0).inner_text()
    assert "Sealed by the service" in events.last.inner_text()
    request = events.nth(1)
    request.locator("summary").click()
    payload = request.locator("pre.ao-payload")
    assert payload.is_visible()
    assert "j***@example.com" in payload.inner_text()  # a reviewer sees personal data masked
    assert EMAIL not in page.content()
    page.screenshot(path=str(ARTIFACTS / "admin-session-page.png"), full_page=True)

    with page.expect_response(lambda response: "/pdf/file/" in response.url) as shown:
        page.click("text=View PDF")
    pdf = shown.value
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    frame = page.locator("iframe.ao-pdf")
    assert frame.get_attribute("src").endswith(f"/{wanted.pk}/pdf/file/")
    page.wait_for_load_state("load")  # the frame's document included
    page.wait_for_timeout(1500)  # the PDF viewer paints after loading: for the screenshot only
    page.screenshot(path=str(ARTIFACTS / "admin-session-pdf.png"))


def test_the_downloaded_json_verifies_offline(page, live_server, evidence, tmp_path):
    wanted = evidence["authoritative"]
    open_authoritative_session(page, live_server)
    page.click(f"#result_list >> text={short(wanted)}")
    with page.expect_download() as download:
        page.click("button:has-text('Download JSON')")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)

    trusted = keys.public_keys()[0]["public_key"]
    result = subprocess.run(
        [str(VERIFY), str(saved), "--trusted-key", trusted, "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
    record = ExportRecord.objects.get(session=wanted, format="json")
    assert record.user.get_username() == USERNAME


def test_a_reviewer_finds_no_way_to_change_evidence(page, live_server, evidence):
    wanted = evidence["authoritative"]
    changelist = live_server.url + reverse("admin:ingestion_session_changelist")
    page.goto(changelist)
    assert page.locator("a.addlink").count() == 0
    assert page.locator("select[name=action] option[value=delete_selected]").count() == 0
    change_url = live_server.url + reverse("admin:ingestion_session_change", args=[wanted.pk])
    page.goto(change_url)
    for control in ("input[name=_save]", "a.deletelink", "input[type=submit][value=Save]"):
        assert page.locator(control).count() == 0

    # Straight to the change URL, with a valid CSRF token: the view itself refuses.
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    answer = page.request.post(
        change_url,
        form={"csrfmiddlewaretoken": token, "agent_id": "forged"},
        headers={"Referer": change_url},
    )
    assert answer.status == 403
    assert "CSRF" not in answer.text()
    wanted.refresh_from_db()
    assert wanted.agent_id == "claims-assistant"
