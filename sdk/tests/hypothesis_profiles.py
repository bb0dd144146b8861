"""Hypothesis profiles for the whole repository's suites, the SDK's alone included.

``HYPOTHESIS_PROFILE`` picks one (``.ci/run`` and ``make fuzz`` set ``ci``):

- ``ci``: the full counts: every property test runs the examples it asks for
  (``@settings(max_examples=N)``), the others Hypothesis's default of 100.
- ``dev`` (the default): a tenth of each count, never fewer than ``DEV_FLOOR``, so that a
  developer's ``make test`` gives quick answers; explicit ``@example`` cases always run.

A test's own ``@settings(max_examples=N)`` overrides a profile's ``max_examples`` (Hypothesis
composes them so), which is why the dev profile also scales those, once, when the tests are
collected. The root ``conftest.py`` and ``sdk/tests/conftest.py`` both call :func:`install`;
the first call does the work.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

PROFILE_VARIABLE = "HYPOTHESIS_PROFILE"
DEFAULT_PROFILE = "dev"
#: In the dev profile every count is divided by this.
DEV_SHARE = 10
#: ... but no property test runs fewer examples than this.
DEV_FLOOR = 10
PLUGIN_NAME = "agentops-hypothesis-profiles"

settings.register_profile("ci", print_blob=True)
settings.register_profile("dev", max_examples=DEV_FLOOR)


def dev_examples(count: int) -> int:
    """How many examples the dev profile runs of a test that asks for ``count``."""
    return min(count, max(DEV_FLOOR, count // DEV_SHARE))


def install(config: pytest.Config) -> None:
    """Load the profile ``HYPOTHESIS_PROFILE`` names and, for dev, scale explicit counts."""
    if config.pluginmanager.has_plugin(PLUGIN_NAME):
        return
    name = os.environ.get(PROFILE_VARIABLE) or DEFAULT_PROFILE
    settings.load_profile(name)  # an unknown name fails here, listing none of the tests
    config.pluginmanager.register(_DevCounts() if name == "dev" else object(), PLUGIN_NAME)


class _DevCounts:
    """Scales the counts that tests set themselves, which the profile cannot reach."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        scaled_once: set[int] = set()  # the items of a parametrized test share one function
        for item in items:
            test = getattr(item, "obj", None)
            test = getattr(test, "__func__", test)  # a test method: its function
            if not getattr(test, "is_hypothesis_test", False) or id(test) in scaled_once:
                continue
            scaled_once.add(id(test))
            # Where @given keeps the test's settings (Hypothesis reads them on every call);
            # should a release move them, tests keep their own counts.
            own = getattr(test, "_hypothesis_internal_use_settings", None)
            if own is None or own.max_examples <= DEV_FLOOR:
                continue
            scaled = settings(own, max_examples=dev_examples(own.max_examples))
            test._hypothesis_internal_use_settings = scaled
