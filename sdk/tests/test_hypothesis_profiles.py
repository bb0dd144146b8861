"""The Hypothesis profiles: ci runs every count a test asks for, dev a tenth of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .hypothesis_profiles import DEV_FLOOR, dev_examples

PROFILES = Path(__file__).with_name("hypothesis_profiles.py")

CONFTEST = f"""
import importlib.util

spec = importlib.util.spec_from_file_location("profiles_under_test", {str(PROFILES)!r})
profiles = importlib.util.module_from_spec(spec)
spec.loader.exec_module(profiles)


def pytest_configure(config):
    profiles.install(config)
    profiles.install(config)  # a second conftest calling it changes nothing
"""

TESTS = """
import json
import os

import pytest
from hypothesis import given, settings, strategies as st


def count(name):
    with open(os.environ["CALLS_FILE"], "a") as calls:
        calls.write(json.dumps(name) + "\\n")


@settings(max_examples=300, database=None)
@given(st.integers())
def test_own_count(number):
    count("own")


@settings(database=None)
@given(st.integers())
def test_default_count(number):
    count("default")


@pytest.mark.parametrize("case", ["a", "b"])
@settings(max_examples=200, database=None)
@given(st.integers())
def test_parametrized(case, number):
    count("parametrized-" + case)


class TestInClass:
    @settings(max_examples=50, database=None)
    @given(st.integers())
    def test_method(self, number):
        count("method")
"""


def run_counts(tmp_path: Path, profile: str | None) -> dict[str, int]:
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "test_counts.py").write_text(TESTS, encoding="utf-8")
    calls = tmp_path / "calls.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_PROFILE"}
    env["CALLS_FILE"] = str(calls)
    if profile is not None:
        env["HYPOTHESIS_PROFILE"] = profile
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:django", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    counts: dict[str, int] = {}
    for line in calls.read_text(encoding="utf-8").splitlines():
        name = json.loads(line)
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_ci_runs_the_full_counts(tmp_path: Path) -> None:
    assert run_counts(tmp_path, "ci") == {
        "own": 300,
        "default": 100,
        "parametrized-a": 200,
        "parametrized-b": 200,
        "method": 50,
    }


@pytest.mark.parametrize("profile", [None, "dev"])
def test_dev_is_the_default_and_runs_a_tenth_of_each_count(
    tmp_path: Path, profile: str | None
) -> None:
    assert run_counts(tmp_path, profile) == {
        "own": 30,
        "default": DEV_FLOOR,
        "parametrized-a": 20,
        "parametrized-b": 20,
        "method": DEV_FLOOR,
    }


def test_dev_never_runs_more_than_asked_nor_fewer_than_the_floor() -> None:
    assert dev_examples(3000) == 300
    assert dev_examples(50) == DEV_FLOOR
    assert dev_examples(3) == 3
