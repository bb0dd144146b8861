"""``manage.py check --deploy`` with the production settings reports nothing.

Run as a subprocess: production settings are read once per process and refuse to load
without their environment, which is exactly what is checked here as well.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    key_file = tmp_path / "seal-key.pem"
    key_file.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    env = {
        name: value
        for name, value in os.environ.items()
        # Nothing of the developer's own configuration may leak into the check.
        if not name.startswith(("AGENTOPS_", "SECURE_", "DJANGO_")) and name != "DEBUG"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="agentops.settings_production",
        SECRET_KEY=secrets.token_urlsafe(64),
        AGENTOPS_SEAL_KEY_FILE=str(key_file),
        ALLOWED_HOSTS="agentops.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'check.sqlite3'}",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_reports_nothing(production_env):
    result = _manage(production_env, "check", "--deploy", "--fail-level", "DEBUG")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr and "WARNINGS" not in result.stdout


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ALLOWED_HOSTS", "", "ALLOWED_HOSTS"),
        ("SECRET_KEY", "too-short", "SECRET_KEY"),
        ("AGENTOPS_SEAL_KEY_FILE", "", "AGENTOPS_SEAL_KEY_FILE"),
    ],
)
def test_production_refuses_to_start_without(production_env, name, value, message):
    production_env[name] = value
    result = _manage(production_env, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
