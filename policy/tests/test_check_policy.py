import hashlib
from io import StringIO

import pytest
from django.core.management import call_command

from policy.rules import DEFAULT_POLICY_FILE


def run(path):
    out = StringIO()
    code = 0
    try:
        call_command("check_policy", str(path), stdout=out)
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue()


def test_valid_file_prints_name_and_hash():
    digest = hashlib.sha256(DEFAULT_POLICY_FILE.read_bytes()).hexdigest()
    assert run(DEFAULT_POLICY_FILE) == (0, f"OK: default ({digest})\n")


def test_invalid_file_prints_each_problem_and_exits_1(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nmax_events_per_session: -1\npii:\n  action: maybe\n")
    code, out = run(path)
    assert code == 1
    assert out.splitlines() == [
        f"{path}:2: max_events_per_session: must be an integer >= 1 or null, not an integer",
        f"{path}:4: pii.action: must be 'flag' or 'reject', not 'maybe'",
    ]


@pytest.mark.parametrize("name", ["absent.yaml"])
def test_missing_file_exits_1(tmp_path, name):
    code, out = run(tmp_path / name)
    assert code == 1
    assert out.startswith(f"{tmp_path / name}:1: policy:")
