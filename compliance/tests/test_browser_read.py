"""A reviewer reads the console in a real browser (Debian's Chromium through Playwright), at
1280 and at 1920 pixels: the session list without clipped columns, the transcript of a
session, the findings and the two ledgers in words. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from compliance import erasure
from compliance.exports.context import Actor
from compliance.labels import DURATION_LABEL
from compliance.models import ExportRecord
from compliance.reviewers import reviewer_create
from compliance.tests.factories import export_bytes, session_recorded, session_sealed
from ingestion.erasure_models import Erasure
from ingestion.models import Event
from ingestion.tests.factories import project_create
from policy.models import Findings

from .browser_support import ARTIFACTS, WIDTHS, browser, reviewers_group, signed_in

__all__ = ["browser"]  # a fixture of browser_support, used by the tests below

USERNAME, PASSWORD = "rita", "a long pass phrase 42"
EMAIL = "jane.doe@example.com"  # in the model request of every factory session
ZONED = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{3})? UTC")

pytestmark = pytest.mark.usefixtures("evidence_transactional_db")


@pytest.fixture
def evidence():
    """Sessions of several kinds in a project with a long name, one exported and one with
    an erased payload, and a reviewer without the raw-payload permission."""
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.groups.add(reviewers_group())
    project = project_create("customer-support-production-eu-west")
    sealed = session_sealed(project=project, agent_id="claims-assistant-with-a-long-name-v2")
    for number in range(4):
        session_sealed(project=project, end=number % 2 == 0, agent_id=f"refund-agent-{number}")
    session_recorded(project=project, end=False, agent_id="triage-bot")
    export_bytes(sealed, "json")
    erased = session_sealed(project=project, agent_id="erased-subject-bot")
    plan = erasure.erasure_plan(project=project, subject=None, session=erased, sequence_numbers=[1])
    erasure.erasure_execute(
        plan=plan,
        request_ref="DSR-2026-017",
        reason="GDPR Art. 17 request",
        caller=Actor.for_command("erase", operator="dora"),
    )
    return {"sealed": sealed, "erased": erased}


def shot(tab, name: str, width: int) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"read-{name}-{width}.png"), full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_session_list_fits_the_screen_and_names_its_clocks(
    browser, live_server, evidence, width
):
    tab = signed_in(browser, live_server, USERNAME, PASSWORD, width=width)
    tab.goto(live_server.url + reverse("admin:ingestion_session_changelist"))
    tab.wait_for_selector("#result_list")
    shot(tab, "session-list", width)
    fits = tab.evaluate(
        """() => {
            const box = document.querySelector('#changelist .results');
            return {box: box.scrollWidth - box.clientWidth,
                    page: document.documentElement.scrollWidth - window.innerWidth};
        }"""
    )
    assert fits == {"box": 0, "page": 0}, f"clipped by {fits} px at {width} px"
    header = tab.inner_text("#result_list thead")
    assert DURATION_LABEL.upper() in header.upper()
    started = tab.locator("#result_list tbody td.field-started").first.inner_text()
    assert ZONED.fullmatch(started.strip()), started
    tab.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_reviewer_reads_the_transcript_of_a_session(browser, live_server, evidence, width):
    wanted = evidence["sealed"]
    tab = signed_in(browser, live_server, USERNAME, PASSWORD, width=width)
    tab.goto(live_server.url + reverse("admin:ingestion_session_change", args=[wanted.pk]))
    tab.wait_for_selector("ol.ao-timeline")
    assert DURATION_LABEL.upper() in tab.inner_text(".ao-facts").upper()
    shot(tab, "session-page", width)
    tab.click("text=Read the transcript")
    tab.wait_for_selector("ol.ao-transcript")
    turns = tab.locator("ol.ao-transcript > li")
    # One entry per stored event, but the tool's answer is read under its call.
    assert turns.count() == Event.objects.filter(session=wanted).count() - 1
    text = tab.inner_text("ol.ao-transcript")
    assert "User → model gpt-test" in text
    assert "Called the tool orders.lookup" in text
    call = tab.locator("li.ao-turn--tool")
    assert "The tool orders.lookup answered: Succeeded" in call.inner_text()
    assert "j***@example.com" in text  # masked, not dropped
    assert EMAIL not in tab.content()
    assert ZONED.search(text)
    wide = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide == 0
    shot(tab, "transcript", width)

    erased = evidence["erased"]
    tab.goto(live_server.url + reverse("admin:ingestion_session_transcript", args=[erased.pk]))
    note = tab.inner_text("#event-1")
    assert "Payload erased on" in note and "DSR-2026-017" in note
    shot(tab, "transcript-erased", width)
    tab.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_findings_and_ledgers_read_in_words(browser, live_server, evidence, width):
    findings = Findings.objects.filter(session=evidence["sealed"]).latest("evaluated_at")
    record = ExportRecord.objects.filter(session=evidence["sealed"]).first()
    row = Erasure.objects.get(session=evidence["erased"])
    pages = {
        "findings": reverse("admin:policy_findings_change", args=[findings.pk]),
        "findings-list": reverse("admin:policy_findings_changelist"),
        "ledger": reverse("admin:compliance_exportrecord_change", args=[record.pk]),
        "ledger-list": reverse("admin:compliance_exportrecord_changelist"),
    }
    # The erasure ledger is read by data protection officers.
    officer = {
        "erasure": reverse("admin:ingestion_erasure_change", args=[row.pk]),
        "erasure-list": reverse("admin:ingestion_erasure_changelist"),
    }
    reviewer_create(username="dora", password=PASSWORD, dpo=True)
    for user, url_of in ((USERNAME, pages), ("dora", officer)):
        tab = signed_in(browser, live_server, user, PASSWORD, width=width)
        read_in_words(tab, url_of, width)
        tab.context.close()
    tab = signed_in(browser, live_server, USERNAME, PASSWORD, width=width)
    tab.goto(live_server.url + pages["findings"])
    assert "Every rule met" in tab.inner_text("#content-main")
    assert "E-mail address: 1" in tab.inner_text("#content-main")
    tab.context.close()


def read_in_words(tab, url_of: dict[str, str], width: int) -> None:
    for name, url in url_of.items():
        tab.goto(tab.url.split("/admin/")[0] + url)
        tab.wait_for_selector("#content-main")
        main = tab.inner_text("#content-main")
        shot(tab, name, width)
        # Words, not JSON: no braces outside the collapsed technical detail.
        visible = tab.evaluate(
            """() => Array.from(document.querySelectorAll('#content-main *'))
                .filter(e => e.checkVisibility() && e.children.length === 0)
                .map(e => e.textContent).join(' ')"""
        )
        assert "{" not in visible, f"JSON shown on {name}"
        for raw_label in ("Pii count", "Rule results", "Sha256", "Verification status"):
            assert raw_label not in main, f"{raw_label!r} on {name}"
        assert ZONED.search(main), f"no time with its zone on {name}"
        wide = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide == 0, f"{name} is {wide} px too wide at {width}"
