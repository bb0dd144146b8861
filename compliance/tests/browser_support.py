"""What every browser test of the console shares: Debian's Chromium through Playwright, the
reviewers' group, and a signed-in tab.

Import the fixtures into a test module (``from .browser_support import browser``) and sign in
with ``signed_in(browser, live_server, username, password, width=1280)``. Screenshots go to
``ARTIFACTS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.db import connection, connections
from django.urls import reverse

from compliance.reviewers import GROUP_NAME

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: The two screen widths every console flow is looked at in.
WIDTHS = (1280, 1920)


@pytest.fixture
def browser(monkeypatch) -> Iterator:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing ({CHROMIUM}): run `make test`, which installs the Debian "
            "package chromium (or: apt-get install chromium)",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: run `make test`, which installs it", pytrace=False)
    # Playwright's sync API keeps an event loop on this thread; Django would take every ORM
    # call of the test for one made from async code and refuse it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
            # Connections the test opened while Playwright's loop ran belong to that loop's
            # context; Django's clean-up would not see them, and they would keep the test
            # database open after the run.
            connections.close_all()


def reviewers_group() -> Group:
    """The group of migration 0003: the clean-up after a transactional test empties every
    table, data of migrations included, so the migration's own function makes it again."""
    migration = import_module("compliance.migrations.0003_compliance_reviewers")
    migration.reviewers_create(django_apps, SimpleNamespace(connection=connection))
    return Group.objects.get(name=GROUP_NAME)


def signed_in(browser, live_server, username: str, password: str, *, width: int = 1400):
    """A new tab of a new browser context, signed in to the console at ``width`` pixels.

    Close it with ``tab.context.close()``.
    """
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.goto(live_server.url + reverse("admin:index"))
    tab.fill("#id_username", username)
    tab.fill("#id_password", password)
    tab.click("input[type=submit]")
    tab.wait_for_selector("#site-name")
    return tab
