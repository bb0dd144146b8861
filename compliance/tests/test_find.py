"""The console's landing page and the session list's find tools: dates, tools, rules, a
person by e-mail or phone (never stored), saved filters, the list as CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session as SignedInSession
from django.urls import reverse
from django.utils import timezone

from compliance import find, landing
from compliance.find_models import SavedFilter
from compliance.reviewers import GROUP_NAME
from ingestion import services
from ingestion.models import Session
from ingestion.tests.factories import proposal_build, session_create
from policy.services import session_findings_evaluate

from .factories import RUN, session_recorded, session_sealed

pytestmark = pytest.mark.django_db

PASSWORD = "a long pass phrase 42"
EMAIL = "jane.doe@example.com"  # in the model request of every factory session
PHONE = "+1 415 555 2671"
PHONE_TYPED = "(415) 555-2671"  # the same number as a US reviewer types it
LIST = reverse("admin:ingestion_session_changelist")
PERSON = reverse("admin:ingestion_session_find_person")
SAVE = reverse("admin:ingestion_session_find_save")
FORGET = reverse("admin:ingestion_session_find_forget")
CSV = reverse("admin:ingestion_session_find_csv")


@pytest.fixture
def reviewer(django_user_model):
    user = django_user_model.objects.create_user("rita", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=GROUP_NAME))
    return user


@pytest.fixture
def client_of(client):
    def signed_in(user):
        client.force_login(user)
        return client

    return signed_in


def phone_session() -> Session:
    """A sealed session whose only personal data is a phone number, no e-mail address."""
    session = session_create(None, agent_id="callback-bot")
    payloads = [
        ("SESSION_START", {**RUN[0][1], "agent_id": "callback-bot"}),
        ("TOOL_CALL", {"tool_name": "crm.callback", "args": {"phone": PHONE}}),
        ("TOOL_RESULT", {"tool_name": "crm.callback", "status": "success", "result": "ok"}),
        RUN[-1],
    ]
    services.events_append(
        session=session,
        proposals=[proposal_build(session.id, n, t, p) for n, (t, p) in enumerate(payloads)],
    )
    services.session_seal(session=session)
    return session


@pytest.fixture
def sessions():
    """Sessions of several kinds, each evaluated (findings and fingerprints stored)."""
    made = {
        "email": session_sealed(agent_id="claims-assistant"),
        "phone": phone_session(),
        "no_end": session_sealed(end=False, agent_id="refund-agent"),
        "open": session_recorded(end=False, agent_id="triage-bot"),
    }
    for name in ("email", "phone", "no_end"):
        session_findings_evaluate(session=made[name])
    old = timezone.now() - timedelta(days=40)
    Session.objects.filter(pk=made["open"].pk).update(created_at=old, last_event_at=old)
    return made


def listed(response) -> set:
    assert response.status_code == 200, response.content[:500]
    return {row.pk for row in response.context["cl"].result_list}


# --- dates -------------------------------------------------------------------------------


def test_a_date_range_lists_the_sessions_started_on_those_days(reviewer, client_of, sessions):
    client = client_of(reviewer)
    today = timezone.localdate()
    old = (today - timedelta(days=40)).isoformat()
    assert listed(client.get(LIST, {"created_from": old, "created_to": old})) == {
        sessions["open"].pk
    }
    recent = listed(client.get(LIST, {"created_from": (today - timedelta(days=1)).isoformat()}))
    assert recent == {sessions["email"].pk, sessions["phone"].pk, sessions["no_end"].pk}


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"created_from": "2026-02-30"}, "“From” is not a date"),
        ({"created_to": "yesterday"}, "“To” is not a date"),
        ({"created_from": "0001-01-01"}, "outside the years"),
        ({"created_from": "2026-03-02", "created_to": "2026-03-01"}, "“To” is before “From”"),
    ],
)
def test_an_unusable_date_says_so_and_lists_nothing(reviewer, client_of, sessions, params, said):
    response = client_of(reviewer).get(LIST, params)
    assert listed(response) == set()
    assert said in response.content.decode()


def test_an_unusable_date_is_refused_for_the_csv(reviewer, client_of, sessions):
    response = client_of(reviewer).get(CSV, {"created_from": "2026-13-01"})
    assert response.status_code == 400
    assert response.content.decode().startswith("FIND_DATE_INVALID")


# --- tools and rules ---------------------------------------------------------------------


def test_the_tool_filter_lists_the_sessions_that_called_it(reviewer, client_of, sessions):
    client = client_of(reviewer)
    assert listed(client.get(LIST, {"tool": "crm.callback"})) == {sessions["phone"].pk}
    assert listed(client.get(LIST, {"tool": "orders.lookup"})) == {
        sessions["email"].pk,
        sessions["no_end"].pk,
    }
    assert listed(client.get(LIST, {"tool": "orders"})) == set()  # exact names only


def test_the_rule_filter_lists_the_sessions_that_broke_it(reviewer, client_of, sessions):
    client = client_of(reviewer)
    assert listed(client.get(LIST, {"rule": "require_session_end"})) == {sessions["no_end"].pk}
    assert listed(client.get(LIST, {"rule": "max_payload_bytes"})) == set()  # met everywhere


# --- a person ----------------------------------------------------------------------------


def person_search(client, subject: str, query: str = ""):
    response = client.post(PERSON, {"subject": subject, "query": query})
    assert response.status_code == 302
    return response


@pytest.mark.parametrize(
    ("typed", "wanted"),
    [
        (EMAIL, "email"),
        ("  Jane.Doe@EXAMPLE.com ", "email"),
        (PHONE, "phone"),
        (PHONE_TYPED, "phone"),
    ],
)
def test_a_person_is_found_by_e_mail_or_phone(reviewer, client_of, sessions, typed, wanted):
    client = client_of(reviewer)
    response = person_search(client, typed)
    assert typed.strip() not in response.url and "@" not in response.url
    expected = (
        {sessions["phone"].pk}
        if wanted == "phone"
        else {
            sessions["email"].pk,
            sessions["no_end"].pk,
        }
    )
    assert listed(client.get(response.url)) == expected


def test_a_person_search_keeps_the_other_filters(reviewer, client_of, sessions):
    client = client_of(reviewer)
    response = person_search(client, EMAIL, query="rule=require_session_end")
    assert listed(client.get(response.url)) == {sessions["no_end"].pk}


def test_the_value_searched_for_is_stored_nowhere(reviewer, client_of, sessions):
    client = client_of(reviewer)
    response = person_search(client, PHONE)
    page = client.get(response.url).content.decode()
    for text in (PHONE, "4155552671", "+14155552671"):
        assert text not in page
        assert text not in response.url
        for stored in SignedInSession.objects.all():
            assert text not in str(stored.get_decoded())
    client.post(SAVE, {"name": "callbacks", "query": response.url.split("?", 1)[1]})
    assert "person" not in SavedFilter.objects.get(name="callbacks").query


def test_a_person_token_of_another_sign_in_finds_nothing(
    reviewer, client_of, sessions, django_user_model
):
    client = client_of(reviewer)
    url = person_search(client, EMAIL).url
    other = django_user_model.objects.create_user("omar", password=PASSWORD, is_staff=True)
    other.groups.add(Group.objects.get(name=GROUP_NAME))
    client.force_login(other)
    response = client.get(url)
    assert listed(response) == set()
    assert "no longer known" in response.content.decode()


def test_something_that_is_no_person_is_refused_with_a_message(reviewer, client_of, sessions):
    client = client_of(reviewer)
    response = client.post(PERSON, {"subject": "jane", "query": ""}, follow=True)
    assert "Type an e-mail address or a phone number" in response.content.decode()
    assert "person=" not in response.redirect_chain[-1][0]


def test_the_person_search_answers_only_posts(reviewer, client_of):
    assert client_of(reviewer).get(PERSON, {"subject": EMAIL}).status_code == 405


def test_erasure_finds_the_same_sessions_through_the_same_lookup(sessions):
    from compliance.erasure import subject_events_find

    project = sessions["email"].project
    _, found = subject_events_find(project=project, subject=EMAIL)
    by_find = find.sessions_of_person(
        Session.objects.all(),
        person=find.Person(
            "t", ("email",), tuple(fp for _, fp in find.subject_fingerprints(value=EMAIL))
        ),
    )
    assert set(found) == set(by_find.filter(project=project).values_list("pk", flat=True))


# --- saved filters -----------------------------------------------------------------------


def test_a_saved_filter_is_the_reviewers_own(reviewer, client_of, sessions, django_user_model):
    client = client_of(reviewer)
    response = client.post(
        SAVE, {"name": "Broken, no end", "query": "rule=require_session_end&p=2"}
    )
    assert response.status_code == 302
    saved = SavedFilter.objects.get(user=reviewer)
    assert (saved.name, saved.query) == ("Broken, no end", "rule=require_session_end")
    page = client.get(LIST).content.decode()
    assert "Broken, no end" in page

    other = django_user_model.objects.create_user("omar", password=PASSWORD, is_staff=True)
    other.groups.add(Group.objects.get(name=GROUP_NAME))
    client.force_login(other)
    assert "Broken, no end" not in client.get(LIST).content.decode()
    client.post(FORGET, {"id": saved.pk})
    assert SavedFilter.objects.filter(pk=saved.pk).exists()  # not theirs to delete

    client.force_login(reviewer)
    client.post(FORGET, {"id": saved.pk})
    assert not SavedFilter.objects.filter(pk=saved.pk).exists()


def test_a_search_term_holding_personal_data_is_not_saved(reviewer, client_of, sessions):
    client = client_of(reviewer)
    response = client.post(
        SAVE, {"name": "jane", "query": f"q={EMAIL}&tool=orders.lookup"}, follow=True
    )
    assert SavedFilter.objects.get(name="jane").query == "tool=orders.lookup"
    assert "never keeps them" in response.content.decode()


def test_a_saved_filter_needs_a_name(reviewer, client_of, sessions):
    response = client_of(reviewer).post(SAVE, {"name": "  ", "query": "tool=x"}, follow=True)
    assert not SavedFilter.objects.exists()
    assert "Give the filter a name" in response.content.decode()


# --- CSV -----------------------------------------------------------------------------------


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_holds_every_session_of_the_filtered_list(reviewer, client_of, sessions):
    client = client_of(reviewer)
    rows = csv_rows(client.get(CSV, {"tool": "orders.lookup"}))
    assert {row["session_id"] for row in rows} == {
        str(sessions["email"].pk),
        str(sessions["no_end"].pk),
    }
    by_id = {row["session_id"]: row for row in rows}
    no_end = by_id[str(sessions["no_end"].pk)]
    assert no_end["agent"] == "refund-agent"
    assert no_end["policy_rules_broken"] == "1"
    assert no_end["evidence"] == "Verified — partial evidence"
    assert list(rows[0]) == list(find.CSV_HEADER)


def test_the_csv_of_a_person_search(reviewer, client_of, sessions):
    client = client_of(reviewer)
    url = person_search(client, PHONE).url
    rows = csv_rows(client.get(CSV + "?" + url.split("?", 1)[1]))
    assert [row["session_id"] for row in rows] == [str(sessions["phone"].pk)]


def test_the_csv_spans_every_page(reviewer, client_of):
    for _ in range(3):
        session_recorded()
    client = client_of(reviewer)
    from compliance.admin import SessionAdmin

    per_page = SessionAdmin.list_per_page
    SessionAdmin.list_per_page = 2
    try:
        assert len(csv_rows(client.get(CSV))) == 3
    finally:
        SessionAdmin.list_per_page = per_page


def test_the_csv_needs_the_right_to_view_sessions(client_of, django_user_model):
    nobody = django_user_model.objects.create_user("nadia", password=PASSWORD, is_staff=True)
    assert client_of(nobody).get(CSV).status_code == 403


# --- the landing page ----------------------------------------------------------------------


def test_a_reviewer_lands_on_what_needs_attention(reviewer, client_of, sessions):
    response = client_of(reviewer).get(reverse("admin:index"))
    assert response.status_code == 200
    page = response.content.decode()
    attention = {c["key"]: c for c in response.context["attention"]}
    assert attention["partial"]["count"] == 1  # the session without its end
    assert attention["breaches"]["count"] == 1
    assert attention["personal"]["count"] == 3
    assert attention["unsealed"]["count"] == 1  # open, nothing for 40 days
    assert attention["failed"]["count"] == 0
    assert str(sessions["open"].pk)[:8] in page
    assert response.context["recent_seals"][0].session_id in {
        sessions["email"].pk,
        sessions["phone"].pk,
        sessions["no_end"].pk,
    }


def test_each_concern_links_to_a_list_of_the_same_sessions(reviewer, client_of, sessions):
    client = client_of(reviewer)
    for concern in client.get(reverse("admin:index")).context["attention"]:
        assert len(listed(client.get(concern["url"]))) == concern["count"], concern["key"]


def test_the_glossary_speaks_the_verifiers_words(reviewer, client_of):
    from agentops_sdk import wording

    from compliance import statements

    page = unescape(client_of(reviewer).get(reverse("admin:index")).content.decode())
    assert wording.sentence(wording.evidence_meaning("AUTHORITATIVE_EVIDENCE")) in page
    assert wording.sentence(wording.FAILED_MEANING) in page
    assert statements.SEAL_PROVES[0] in page
    assert statements.SEAL_DOES_NOT_PROVE[0] in page


def test_unsealed_for_long_follows_the_setting(settings, sessions):
    settings.AGENTOPS_CONSOLE_UNSEALED_HOURS = 24 * 50
    assert not landing.sessions_unsealed_long(Session.objects.all()).exists()
    settings.AGENTOPS_CONSOLE_UNSEALED_HOURS = 24
    assert list(landing.sessions_unsealed_long(Session.objects.all())) == [sessions["open"]]


# --- navigation ----------------------------------------------------------------------------


def test_reviewers_navigate_by_the_job_and_see_no_engineering_models(reviewer, client_of):
    response = client_of(reviewer).get(reverse("admin:index"))
    labels = [s["label"] for s in response.context["console_sections"]]
    assert labels == ["Sessions", "Matters", "Findings", "Exports", "Access log"]
    assert response.context["engineering"] == []
    models = {
        f"{app['app_label']}.{m['object_name'].lower()}"
        for app in response.context["available_apps"]
        for m in app["models"]
    }
    assert not models & landing.ENGINEERING
    assert "ingestion.session" in models


def test_superusers_also_see_the_engineering_models(client_of, django_user_model):
    admin = django_user_model.objects.create_superuser("ada", password=PASSWORD)
    response = client_of(admin).get(reverse("admin:index"))
    shown = {
        f"{app['app_label']}.{m['object_name'].lower()}"
        for app in response.context["engineering"]
        for m in app["models"]
    }
    assert shown >= landing.ENGINEERING


def test_a_section_whose_model_is_not_installed_is_left_out(reviewer, monkeypatch):
    from django.contrib import admin

    monkeypatch.setattr(
        landing,
        "SECTIONS",
        (
            landing.Section("Not here", "compliance.NoSuchRecord", "a model of another release"),
            *landing.SECTIONS,
        ),
    )
    labels = [s["label"] for s in landing.navigation(user=reviewer, registry=admin.site._registry)]
    assert labels[0] == "Sessions"
    assert "Not here" not in labels


def test_the_list_offers_its_own_query_to_save_and_to_download(reviewer, client_of, sessions):
    response = client_of(reviewer).get(LIST, {"tool": "orders.lookup", "rule": "x", "p": "1"})
    found = response.context["find"]
    assert found["query"] == "tool=orders.lookup&rule=x"
    assert found["csv_url"] == f"{CSV}?tool=orders.lookup&rule=x"


def test_a_session_found_altered_after_its_seal_needs_attention(reviewer, client_of, sessions):
    from ingestion.models import VerificationTrigger

    from .factories import event_tamper

    altered = sessions["email"]
    event_tamper(altered, 3, payload_jcs='{"args":{"order_id":"ORD-9999"},"tool_name":"x"}')
    services.session_verify(session=altered, trigger=VerificationTrigger.CONSOLE)
    response = client_of(reviewer).get(reverse("admin:index"))
    failed = next(c for c in response.context["attention"] if c["key"] == "failed")
    assert failed["count"] == 1
    assert failed["rows"][0].session_id == altered.pk


def test_common_concerns_are_counted_alike_by_walking_the_sessions(
    reviewer, client_of, sessions, monkeypatch
):
    client = client_of(reviewer)
    by_ids = {c["key"]: c["count"] for c in client.get(reverse("admin:index")).context["attention"]}
    monkeypatch.setattr(landing, "CANDIDATES_LISTED", 0)  # every concern is "common"
    walked = {c["key"]: c["count"] for c in client.get(reverse("admin:index")).context["attention"]}
    assert walked == by_ids
    assert by_ids["personal"] == 3


def test_a_person_search_and_the_csv_are_in_the_access_ledger_without_the_value(
    reviewer, client_of, sessions
):
    from compliance.models import AccessAction, AccessRecord

    client = client_of(reviewer)
    response = person_search(client, EMAIL)
    client.get(response.url)
    (search,) = AccessRecord.objects.filter(user=reviewer, action=AccessAction.SEARCH)
    assert search.detail.startswith("person=")
    csv_response = client.get(CSV, {"rule": "require_session_end"})
    b"".join(csv_response.streaming_content)
    (export,) = AccessRecord.objects.filter(user=reviewer, action=AccessAction.EXPORT_CSV)
    assert "require_session_end" in export.detail
    for record in AccessRecord.objects.all():
        assert "jane" not in (record.detail + record.path).lower()
