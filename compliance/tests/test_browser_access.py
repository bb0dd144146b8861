"""The access ledger in a real browser (Debian's Chromium through Playwright).

A reviewer reads a session, a timeline page and searches; a compliance administrator then
finds those rows in the ledger, by user and by session, and downloads them as CSV; the
reviewer sees their own rows only. Screenshots at each of ``WIDTHS`` go to ``ARTIFACTS``.
"""

from __future__ import annotations

import csv
import importlib
import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse

from compliance.models import AccessAction, AccessRecord
from compliance.reviewers import ADMINISTRATORS_GROUP_NAME

from .browser_support import ARTIFACTS, WIDTHS, browser, reviewers_group, signed_in
from .factories import session_sealed

__all__ = ["browser"]  # a fixture of browser_support, used by the tests below

REVIEWER, ADMINISTRATOR, PASSWORD = "rita", "ada", "a long pass phrase 42"
EMAIL = "jane.doe@example.com"  # in the model request of every factory session

pytestmark = pytest.mark.usefixtures("evidence_transactional_db")

_ledger_migration = importlib.import_module("compliance.migrations.0010_access_ledger")


@pytest.fixture
def people():
    """The reviewer and the administrator; groups made again by their migrations, since the
    clean-up after a transactional test empties every table."""
    reviewers = reviewers_group()
    _ledger_migration.groups_grant(django_apps, SimpleNamespace(connection=connection))
    administrators = Group.objects.get(name=ADMINISTRATORS_GROUP_NAME)
    User = get_user_model()
    rita = User.objects.create_user(REVIEWER, password=PASSWORD, is_staff=True)
    rita.groups.add(reviewers)
    ada = User.objects.create_user(ADMINISTRATOR, password=PASSWORD, is_staff=True)
    ada.groups.add(reviewers, administrators)
    return rita, ada


@pytest.fixture
def session(people):
    return session_sealed(extra=60, agent_id="claims-assistant")  # two timeline pages


def reviewer_reads(browser, live_server, session) -> None:
    tab = signed_in(browser, live_server, REVIEWER, PASSWORD)
    try:
        session_url = live_server.url + reverse("admin:ingestion_session_change", args=[session.pk])
        tab.goto(session_url)
        tab.wait_for_selector("ol.ao-timeline")
        tab.goto(session_url + "?page=2")
        tab.wait_for_selector("ol.ao-timeline")
        tab.goto(live_server.url + reverse("admin:ingestion_session_changelist"))
        tab.fill("#searchbar", EMAIL)
        tab.press("#searchbar", "Enter")
        tab.wait_for_url("**q=**")
    finally:
        tab.context.close()


def test_an_administrator_browses_and_exports_the_ledger(browser, live_server, people, session):
    ARTIFACTS.mkdir(exist_ok=True)
    reviewer_reads(browser, live_server, session)
    recorded = list(AccessRecord.objects.filter(username=REVIEWER).order_by("pk"))
    assert [r.action for r in recorded] == [
        AccessAction.VIEW_SESSION,
        AccessAction.VIEW_TIMELINE,
        AccessAction.SEARCH,
    ]
    assert "jane.doe" not in recorded[-1].detail  # the terms are kept masked

    for width in WIDTHS:
        tab = signed_in(browser, live_server, ADMINISTRATOR, PASSWORD, width=width)
        try:
            tab.goto(live_server.url + reverse("admin:compliance_accessrecord_changelist"))
            rows = tab.locator("#result_list tbody tr")
            # The reviewer's three rows, and this administrator's earlier CSV downloads.
            assert rows.count() == 3 + WIDTHS.index(width)
            assert "Search" in tab.inner_text("#result_list")
            tab.screenshot(path=str(ARTIFACTS / f"access-ledger-{width}.png"), full_page=True)

            # Per user: the name in a row leads to that user's rows.
            tab.click(f"#result_list >> text={REVIEWER}")
            tab.wait_for_url("**user__id__exact=**")
            assert tab.locator("#result_list tbody tr").count() == 3

            # Per session: the session's id leads to its rows only.
            tab.click(f"#result_list >> text={str(session.pk)[:8]} >> nth=0")
            tab.wait_for_url(f"**session={session.pk}**")
            assert tab.locator("#result_list tbody tr").count() == 2
            tab.screenshot(
                path=str(ARTIFACTS / f"access-ledger-session-{width}.png"), full_page=True
            )

            with tab.expect_download() as download:
                tab.click("text=Download as CSV")
            text = Path(download.value.path()).read_text(encoding="utf-8")
            rows_csv = list(csv.reader(io.StringIO(text)))
            assert [row[2] for row in rows_csv[1:]] == ["View timeline page", "View session page"]
        finally:
            tab.context.close()
    exports = AccessRecord.objects.filter(username=ADMINISTRATOR, action=AccessAction.EXPORT_CSV)
    assert exports.count() == len(WIDTHS)


def test_a_reviewer_sees_only_their_own_rows(browser, live_server, people, session):
    ARTIFACTS.mkdir(exist_ok=True)
    reviewer_reads(browser, live_server, session)
    tab = signed_in(browser, live_server, ADMINISTRATOR, PASSWORD)
    tab.goto(live_server.url + reverse("admin:ingestion_session_change", args=[session.pk]))
    tab.context.close()
    assert AccessRecord.objects.filter(username=ADMINISTRATOR).count() == 1

    for width in WIDTHS:
        tab = signed_in(browser, live_server, REVIEWER, PASSWORD, width=width)
        try:
            tab.goto(live_server.url + reverse("admin:compliance_accessrecord_changelist"))
            listed = tab.inner_text("#result_list")
            signed_in_as = tab.inner_text("#user-tools")
            assert REVIEWER in listed and ADMINISTRATOR not in listed, (signed_in_as, listed)
            assert tab.locator("text=Download as CSV").count() == 0
            tab.screenshot(
                path=str(ARTIFACTS / f"access-ledger-reviewer-{width}.png"), full_page=True
            )
        finally:
            tab.context.close()
