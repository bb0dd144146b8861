"""JSON paths: what ``child_path`` writes, ``path_steps`` reads back, for any key."""

from __future__ import annotations

from typing import Any

import pytest
from agentops_sdk import chain
from agentops_sdk.jsonpath import ROOT, child_path, path_steps
from hypothesis import example, given
from hypothesis import strategies as st

# Keys that stress the dialect: dots, brackets, quotes, backslashes, digits only, empty,
# identifiers outside ASCII (including characters a regular expression's \w does not take).
awkward_keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "0",
            "007",
            "a.b",
            "a[0]",
            "['x']",
            "it's",
            "back\\slash",
            "\\'",
            "']",
            "名前",
            "a·b",
            "℘",
            "_",
            "é",
            "line\nbreak",
            "$",
            ".",
            "[",
        ]
    ),
)

json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(awkward_keys, children, max_size=4),
    ),
    max_leaves=30,
)


def leaf_paths(value: Any, path: str = ROOT, steps: tuple = ()) -> list[tuple[str, tuple]]:
    """(path, steps) of every leaf and empty container of ``value``."""
    if isinstance(value, dict) and value:
        return [
            found
            for key, child in value.items()
            for found in leaf_paths(child, child_path(path, key), (*steps, key))
        ]
    if isinstance(value, list) and value:
        return [
            found
            for index, child in enumerate(value)
            for found in leaf_paths(child, child_path(path, index), (*steps, index))
        ]
    return [(path, steps)]


@given(json_values)
@example({"a·b": {"it's": ["x", {"0": 1}]}})
@example({"名前": {"": {"a.b": None}}})
def test_every_path_to_a_leaf_reads_back_as_its_steps(value: Any) -> None:
    for path, steps in leaf_paths(value):
        assert path_steps(path) == list(steps)
        found = value
        for step in path_steps(path):
            found = found[step]


@given(st.lists(st.one_of(awkward_keys, st.integers(min_value=0, max_value=10**6)), max_size=6))
def test_steps_read_back_from_any_sequence_of_keys(steps: list[str | int]) -> None:
    path = ROOT
    for step in steps:
        path = child_path(path, step)
    assert path_steps(path) == steps


@pytest.mark.parametrize(
    "path",
    ["", "args", "$.", "$.1a", "$[", "$[x]", "$[01]", "$['open", "$['a'", "$['\\x']", "$..a"],
)
def test_what_child_path_never_writes_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="not a JSON path"):
        path_steps(path)


def test_paths_already_stored_in_findings_read_back() -> None:
    assert path_steps("$.args.email") == ["args", "email"]
    assert path_steps("$.messages[0].content") == ["messages", 0, "content"]
    assert path_steps("$['weird key']") == ["weird key"]
    assert path_steps("$['it\\'s'][2]") == ["it's", 2]


def test_a_refused_value_is_located_in_the_same_dialect() -> None:
    with pytest.raises(chain.NonCanonicalValueError) as caught:
        chain.canonicalize({"tool args": {"it's": [1, float("nan")]}})
    assert caught.value.path == "$['tool args']['it\\'s'][1]"
    assert path_steps(caught.value.path) == ["tool args", "it's", 1]
