"""Matters and notes in a real browser (Debian's Chromium), at both console widths: a reviewer
opens a matter, puts sessions in it from both pages, writes notes, takes a session out, and
exports the matter; the zip's manifest lists the hashes of the files beside it."""

from __future__ import annotations

import hashlib
import importlib
import json
import zipfile
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse

from compliance.matter_models import Matter, MatterSession, Note
from compliance.models import ExportRecord

from .browser_support import ARTIFACTS, WIDTHS, browser, reviewers_group, signed_in
from .factories import session_sealed

__all__ = ["browser"]  # a fixture of browser_support, used by the tests below

USERNAME, PASSWORD = "rita", "a long pass phrase 42"
MATTER = "Acme v. Beta"

pytestmark = pytest.mark.usefixtures("evidence_transactional_db")

_grants = importlib.import_module("compliance.migrations.0011_matters_notes")


@pytest.fixture
def sessions() -> list:
    """A reviewer of the group as the migrations make it, and three sealed sessions."""
    group = reviewers_group()
    _grants.reviewers_matters_grant(django_apps, SimpleNamespace(connection=connection))
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.groups.add(group)
    return [
        session_sealed(agent_id="claims-assistant"),
        session_sealed(agent_id="refund-agent"),
        session_sealed(agent_id="triage-bot"),
    ]


def _shot(tab, name: str, width: int) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"matters-{name}-{width}.png"), full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_reviewer_works_a_matter_and_exports_it(browser, live_server, sessions, width, tmp_path):
    first, second, third = sessions
    tab = signed_in(browser, live_server, USERNAME, PASSWORD, width=width)
    try:
        # Open the matter from the list of matters.
        tab.goto(live_server.url + reverse("admin:compliance_matter_changelist"))
        tab.click("text=Add matter")
        tab.fill("#id_name", MATTER)
        tab.fill("#id_description", "Refund dispute, claim 2026-114.")
        tab.click("button:has-text('Open the matter')")
        tab.wait_for_selector("h1:has-text('Matter: Acme v. Beta')")

        # Two sessions from the matter page; a bad id is refused with its code.
        for session in (first, third):
            tab.fill("#id_session", str(session.pk))
            tab.click("#sessions button:has-text('Add')")
            tab.wait_for_selector(f"#sessions >> text={str(session.pk)[:8]}")
        tab.fill("#id_session", "not-a-session")
        tab.click("#sessions button:has-text('Add')")
        assert "not found (SESSION_NOT_FOUND)" in tab.inner_text(".messagelist")
        tab.fill("#id_matter_note", "Legal hold since 3 Dec.\nKeep every export.")
        tab.click("#notes button:has-text('Add note')")
        tab.wait_for_selector("#notes .ao-notes__text")

        # The third was a mistake: it is taken out, and the history keeps both facts.
        row = tab.locator("#sessions tbody tr", has_text=str(third.pk)[:8])
        row.locator("input[name=reason]").fill("wrong claim")
        row.locator("button:has-text('Take out')").click()
        tab.wait_for_selector("text=taken out of the matter")
        assert tab.locator("#sessions tbody tr").count() == 1
        history = tab.inner_text("#history")
        assert "Untagged" in history and "wrong claim" in history

        # A session page shows its matter; another session is added from its own page.
        tab.click(f"#sessions >> text={str(first.pk)[:8]}")
        tab.wait_for_selector("#matters")
        assert MATTER in tab.inner_text("#matters")
        assert "cannot be edited or deleted" in tab.inner_text("#matters")
        tab.fill("#id_session_note", "Refund approved by a human at 10:42.")
        tab.click("#matters button:has-text('Add note')")
        tab.wait_for_selector("#matters .ao-notes__text")
        tab.locator("#matters").scroll_into_view_if_needed()
        _shot(tab, "session-page", width)

        tab.goto(live_server.url + reverse("admin:ingestion_session_change", args=[second.pk]))
        tab.fill("#id_matter_name", "acme V. BETA")  # any case names the matter
        tab.click("#matters button:has-text('Add')")
        tab.wait_for_selector("text=Session added to the matter")
        tab.fill("#id_matter_name", "No such matter")
        tab.click("#matters button:has-text('Add')")
        assert "MATTER_NOT_FOUND" in tab.inner_text(".messagelist")
        tab.click(f"#matters >> text={MATTER}")

        tab.wait_for_selector("h1:has-text('Matter: Acme v. Beta')")
        assert tab.locator("#sessions tbody tr").count() == 2
        _shot(tab, "matter-page", width)
        with tab.expect_download() as download:
            tab.click("button:has-text('Export matter')")
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)

        tab.goto(live_server.url + reverse("admin:compliance_matter_changelist"))
        assert MATTER in tab.inner_text("#result_list")
        _shot(tab, "matter-list", width)
    finally:
        tab.context.close()

    with zipfile.ZipFile(saved) as zipped:
        manifest = json.loads(zipped.read("manifest.json"))
        for entry in (f for s in manifest["sessions"] for f in s["files"]):
            assert hashlib.sha256(zipped.read(entry["path"])).hexdigest() == entry["sha256"]
    assert manifest["matter"]["name"] == MATTER
    assert {s["session_id"] for s in manifest["sessions"]} == {str(first.pk), str(second.pk)}
    assert {n["author"] for n in manifest["matter"]["notes"]} == {USERNAME}
    assert ExportRecord.objects.filter(user__username=USERNAME).count() == 2
    assert MatterSession.objects.count() == 4  # three tags and one untag, all kept
    assert Note.objects.count() == 2
    assert Matter.objects.get().created_by_name == USERNAME
