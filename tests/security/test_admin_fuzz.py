"""Property-based tests of every list of the admin against hostile query strings.

For each registered ModelAdmin's changelist, signed in as a compliance reviewer and as a
superuser, Hypothesis builds query strings from the list's own filter parameters, its date
drill-down, search (``q``), ordering (``o``), page (``p``), lookups on its model's fields and
keys it has never heard of, with values holding NUL characters, huge integers, unicode, lone
surrogates (percent-encoded, as a browser would send their UTF-8 bytes) and very long text.
The list must answer a page, a redirect or a 400, never a server error, and change nothing.

``make test`` runs a small, derandomized set of examples per list; ``make fuzz`` sets
``AGENTOPS_FUZZ_EXAMPLES`` to explore far more under a random seed it prints first, which
``AGENTOPS_FUZZ_SEED`` replays.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

from compliance.models import ExportRecord
from compliance.reviewers import GROUP_NAME
from compliance.tests.factories import session_recorded, session_sealed
from ingestion import services
from policy.services import session_findings_evaluate

MAX_EXAMPLES = int(os.environ.get("AGENTOPS_FUZZ_EXAMPLES", "15"))
SEED = os.environ.get("AGENTOPS_FUZZ_SEED")
FUZZING = "AGENTOPS_FUZZ_EXAMPLES" in os.environ or SEED is not None

pytestmark = pytest.mark.django_db

MODELS = sorted(model._meta.label for model in admin.site._registry)
# Tables whose rows no list may add to, change or remove.
WATCHED = [
    model
    for model in apps.get_models()
    if model._meta.app_label in ("ingestion", "policy", "compliance", "admin", "auth")
    # The access ledger records searches and refusals: it is meant to grow here.
    and model._meta.label != "compliance.AccessRecord"
]

HOSTILE_VALUES = [
    "",
    "\x00",
    "agent\x00",
    "0",
    "-1",
    "1.5",
    "9" * 40,
    "-" + "9" * 40,
    "99999999999",
    "1e309",
    "NaN",
    "True",
    "none",
    "null",
    "2026",
    "13",
    "0000-00-00",
    "2026-02-30",
    "99999-01-01T00:00:00Z",
    "(",
    "[",
    "%",
    "_",
    "'; DROP TABLE ingestion_event; --",
    "jane.doe@example.com",
    "+1 415-555-2671",
    "ü漢字🙂",
    "\ud800",
    "a\udfffb",
    "x" * 5000,
]
LOOKUPS = ["", "__gt", "__lt", "__in", "__isnull", "__exact", "__iexact", "__contains"]
LOOKUPS += ["__regex", "__year", "__month", "__range", "__startswith", "__date", "__has_key"]
SPECIAL_KEYS = ["q", "o", "p", "e", "all", "_facets", "_popup", "_to_field", "page"]


def _encoded(text: str) -> str:
    # Lone surrogates as the UTF-8 bytes a client would send for them.
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _values() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE_VALUES),
        st.integers().map(str),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.text(max_size=30),
        st.text(st.characters(codec=None, categories=["Cs", "Cc", "Lo"]), max_size=5),
        st.integers(min_value=1, max_value=20000).map(lambda n: "é" * n),
    )


def _keys(known: list[str], fields: list[str], date_field: str | None) -> st.SearchStrategy:
    drill = [f"{date_field}__{part}" for part in ("year", "month", "day")] if date_field else []
    lookups = st.builds(
        lambda f, lookup: f + lookup, st.sampled_from(fields), st.sampled_from(LOOKUPS)
    )
    return st.one_of(
        st.sampled_from(known or SPECIAL_KEYS),
        st.sampled_from(SPECIAL_KEYS + drill),
        lookups,
        st.text(max_size=12),
    )


def _query_strings(known: list[str], choices: list[str], fields: list[str], date_field):
    pairs = st.lists(st.tuples(_keys(known, fields, date_field), _values()), max_size=6)
    return st.builds(
        lambda base, extra: "&".join(
            [base, *(f"{_encoded(key)}={_encoded(value)}" for key, value in extra)]
        ).strip("&"),
        st.sampled_from(choices or [""]),
        pairs,
    )


def _known_breakers(known: list[str], date_field: str | None) -> list[str]:
    queries = ["q=%00", "o=99999999999999999999", "p=99999999999"]
    queries += [f"{_encoded(key)}=%00" for key in known]
    queries += [f"{_encoded(key)}={'9' * 30}" for key in known]
    if date_field:
        queries += [f"{date_field}__year={year}" for year in ("99999999999", "9999", "0")]
        queries.append(f"{date_field}__year=2026&{date_field}__month=2&{date_field}__day=30")
    return queries


@pytest.fixture
def evidence():
    """A row in every table the lists show, so that filters have choices to offer."""
    sealed = session_sealed(agent_id="claims-bot jane.doe@example.com")
    session_findings_evaluate(session=sealed)
    session_recorded(end=False)
    services.api_key_create(project_name="acme", name="fuzz")
    ExportRecord.objects.create(
        session=sealed,
        format="json",
        file_name="x.json",
        sha256="0" * 64,
        size_bytes=1,
        exported_at=sealed.created_at,
        channel="api",
        actor="test",
        sealed=True,
        verification_status="PASS",
    )


@pytest.fixture(params=["reviewer", "superuser"])
def user_client(request, django_user_model, admin_user):
    if request.param == "superuser":
        user = admin_user
    else:
        user = django_user_model.objects.create_user(
            "rita", password="a long pass phrase 42", is_staff=True
        )
        user.groups.add(Group.objects.get(name=GROUP_NAME))
    client = Client()
    client.force_login(user)
    return client


def _list_parameters(url: str, admin_user) -> tuple[list[str], list[str]]:
    """The parameters the list's own filters take, and the query strings of their choices."""
    client = Client()
    client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 200
    changelist = response.context["cl"]
    known, choices = [], []
    for spec in changelist.filter_specs:
        known += spec.expected_parameters()
        choices += [choice["query_string"].lstrip("?") for choice in spec.choices(changelist)]
    return known, choices


def _rows() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in WATCHED}


@pytest.mark.parametrize("label", MODELS)
def test_no_query_string_makes_a_list_fail(label, evidence, user_client, admin_user):
    model = apps.get_model(label)
    model_admin = admin.site._registry[model]
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    known, choices = _list_parameters(url, admin_user)
    fields = [field.name for field in model._meta.get_fields() if field.concrete]
    fields += [f"{field}__{other}" for field in ("project", "session") for other in ("pk", "name")]
    before = _rows()

    @given(query=_query_strings(known, choices, fields, model_admin.date_hierarchy))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=not FUZZING,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    def probe(query: str) -> None:
        response = user_client.get(f"{url}?{query}")
        assert response.status_code in (200, 302, 400, 403), (query, response.status_code)
        if response.status_code == 302:
            # Redirects stay inside the admin (a masked query string, a login page).
            assert response.url.startswith("/admin/"), response.url

    # Every run tries, besides what Hypothesis draws, the values known to have broken lists.
    for query in _known_breakers(known, model_admin.date_hierarchy):
        probe = example(query=query)(probe)
    if SEED is not None:
        probe = seed(int(SEED))(probe)
    probe()
    assert _rows() == before


def test_every_list_is_covered_by_the_common_checks():
    """A list added later without the checks would hand its query strings to the database."""
    from ingestion.admin import ListParamsChecked

    unchecked = [
        label
        for label in MODELS
        if not isinstance(admin.site._registry[apps.get_model(label)], ListParamsChecked)
    ]
    assert unchecked == []


def test_choices_of_the_filters_are_valid_query_strings(evidence, admin_user):
    """The fuzzer starts from each filter's own links: they must be lists, not errors."""
    client = Client()
    client.force_login(admin_user)
    for label in MODELS:
        model = apps.get_model(label)
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for query in _list_parameters(url, admin_user)[1]:
            assert client.get(f"{url}?{query}").status_code == 200, (label, query)
