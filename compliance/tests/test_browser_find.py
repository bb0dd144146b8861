"""A reviewer lands on the console and finds sessions, in a real browser (Debian's Chromium
through Playwright): the landing page, a date range, a person search, a saved filter and the
list as CSV, each looked at in 1280 and 1920 pixels wide (``test-artifacts/find-*.png``)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from compliance.find_models import SavedFilter
from ingestion.models import Session
from policy.services import session_findings_evaluate

from .browser_support import ARTIFACTS, WIDTHS, browser, reviewers_group, signed_in
from .factories import session_recorded, session_sealed

__all__ = ["browser"]  # a fixture of browser_support, used by the tests below

USERNAME, PASSWORD = "rita", "a long pass phrase 42"
EMAIL = "jane.doe@example.com"  # in the model request of every factory session

pytestmark = pytest.mark.usefixtures("evidence_transactional_db")


@pytest.fixture
def evidence() -> dict[str, Session]:
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    user.groups.add(reviewers_group())
    made = {
        "authoritative": session_sealed(agent_id="claims-assistant"),
        "partial": session_sealed(end=False, agent_id="refund-agent"),
        "open": session_recorded(end=False, agent_id="triage-bot"),
        "other": session_recorded(agent_id="quiet-bot"),
    }
    for name in ("authoritative", "partial"):
        session_findings_evaluate(session=made[name])
    long_ago = timezone.now() - timedelta(days=30)
    for name in ("open", "other"):
        Session.objects.filter(pk=made[name].pk).update(created_at=long_ago, last_event_at=long_ago)
    return made


@pytest.fixture(params=WIDTHS, ids=lambda width: f"{width}px")
def page(request, browser, live_server, evidence):
    tab = signed_in(browser, live_server, USERNAME, PASSWORD, width=request.param)
    tab.width = request.param
    yield tab
    tab.context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"find-{name}-{page.width}.png"), full_page=True)


def short(session: Session) -> str:
    return str(session.pk)[:8]


def listed_ids(page) -> set[str]:
    return {
        text.strip()
        for text in page.locator("#result_list tbody .field-short_id").all_inner_texts()
    }


def test_the_landing_page_says_what_needs_attention(page, live_server, evidence):
    page.goto(live_server.url + reverse("admin:index"))
    assert page.inner_text("h1") == "What needs your attention"
    nav = page.inner_text("nav.ao-nav")
    for label in ("Sessions", "Findings", "Exports"):
        assert label in nav
    for hidden in ("Events", "Projects", "API keys", "Users", "Groups"):
        assert hidden not in nav
    assert short(evidence["partial"]) in page.inner_text("#concern-partial")
    assert short(evidence["open"]) in page.inner_text("#concern-unsealed")
    assert "What a seal proves" in page.inner_text(".ao-glossary")
    assert short(evidence["authoritative"]) in page.inner_text(".ao-seals")
    shot(page, "landing")
    page.click("#concern-unsealed h3 a")
    page.wait_for_url("**sealed=long**")
    # Ended but never sealed is still open.
    assert listed_ids(page) == {short(evidence["open"]), short(evidence["other"])}


def test_a_date_range_narrows_the_list(page, live_server, evidence):
    page.goto(live_server.url + reverse("admin:ingestion_session_changelist"))
    day = (timezone.localdate() - timedelta(days=30)).isoformat()
    form = page.locator("details[data-filter-title='date started'] form")
    form.locator("input[name=created_from]").fill(day)
    form.locator("input[name=created_to]").fill(day)
    form.locator("button").click()
    page.wait_for_url("**created_to=**")
    assert listed_ids(page) == {short(evidence["open"]), short(evidence["other"])}
    shot(page, "date-range")
    # A "to" before the "from": said, and nothing listed as if filtered.
    page.goto(
        live_server.url
        + reverse("admin:ingestion_session_changelist")
        + "?created_from=2026-03-02&created_to=2026-03-01"
    )
    assert "“To” is before “From”" in page.inner_text(".messagelist")
    assert listed_ids(page) == set()


def test_a_person_is_found_without_the_value_in_the_address(page, live_server, evidence):
    page.goto(live_server.url + reverse("admin:ingestion_session_changelist"))
    page.fill("#ao-find-subject", "Jane.Doe@example.com")
    page.click(".ao-find-person button")
    page.wait_for_url("**person=**")
    assert "example.com" not in page.url and "jane" not in page.url.lower()
    # Every factory session holds the address; the two evaluated ones have fingerprints.
    assert listed_ids(page) == {short(evidence["authoritative"]), short(evidence["partial"])}
    assert "Sessions of the person you searched for (by e-mail address)" in page.inner_text(
        "#changelist-filter"
    )
    assert "jane.doe" not in page.content().lower()
    shot(page, "person")


def test_a_saved_filter_and_the_csv_of_the_list(page, live_server, evidence, tmp_path):
    page.goto(
        live_server.url + reverse("admin:ingestion_session_changelist") + "?tool=orders.lookup"
    )
    page.fill(".ao-find-save input[name=name]", "Order lookups")
    page.click(".ao-find-save button")
    page.wait_for_selector(".messagelist")
    assert "Saved as “Order lookups”" in page.inner_text(".messagelist")
    assert SavedFilter.objects.get(name="Order lookups").query == "tool=orders.lookup"

    page.goto(live_server.url + reverse("admin:ingestion_session_changelist"))
    page.click(".ao-saved >> text=Order lookups")
    page.wait_for_url("**tool=orders.lookup**")
    wanted = {short(evidence["authoritative"]), short(evidence["partial"])}
    assert listed_ids(page) == wanted
    shot(page, "saved-filter")

    with page.expect_download() as download:
        page.click(".ao-find-csv")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert {row["session_id"][:8] for row in rows} == wanted
    assert {row["agent"] for row in rows} == {"claims-assistant", "refund-agent"}
