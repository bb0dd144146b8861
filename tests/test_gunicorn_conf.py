"""The gunicorn settings file: found from the project root, and what its worker hook does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def test_gunicorn_started_from_the_project_root_reads_the_settings_file() -> None:
    out = subprocess.run(
        [GUNICORN, "--print-config", "agentops.wsgi"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    settings = dict(
        (name.strip(), value.strip())
        for name, _, value in (line.partition("=") for line in out.splitlines())
    )
    assert settings["config"] == "./gunicorn.conf.py"
    assert settings["post_worker_init"] == "<post_worker_init()>"


def test_the_worker_hook_freezes_the_loaded_application_and_raises_the_young_threshold() -> None:
    # In a fresh interpreter: freezing this suite's own objects would outlive the test.
    script = (
        "import gc, json, runpy\n"
        "import django\n"
        "before = gc.get_threshold()\n"
        "conf = runpy.run_path('gunicorn.conf.py')\n"
        "conf['post_worker_init'](None)\n"
        "young = conf['YOUNG_GENERATION_THRESHOLD']\n"
        "print(json.dumps({'frozen': gc.get_freeze_count(), 'before': before,\n"
        "                  'after': gc.get_threshold(), 'young': young}))\n"
    )
    result = json.loads(
        subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
    )
    assert result["frozen"] > 1000  # at least Django's modules, imported before the hook
    assert result["after"] == [result["young"], *result["before"][1:]]
    assert result["young"] > result["before"][0]
