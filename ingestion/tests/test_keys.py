from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from agentops_sdk import seal
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as live_settings
from django.core.exceptions import ImproperlyConfigured

from ingestion import keys, services
from ingestion.models import VerificationTrigger

from .factories import session_with_events


def _key_file(path: Path) -> Ed25519PrivateKey:
    return seal.private_key_generate(path)


def _public_pem(key: Ed25519PrivateKey, path: Path) -> str:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(path)


def test_development_key_is_generated_once_readable_by_the_owner_only(settings):
    path = Path(settings.AGENTOPS_DEV_SEAL_KEY_FILE)
    first = seal.key_id(keys.signing_key().public_key())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys.cache_clear()
    assert seal.key_id(keys.signing_key().public_key()) == first


def test_configured_key_file_is_used(settings, tmp_path):
    key = _key_file(tmp_path / "prod.pem")
    settings.AGENTOPS_SEAL_KEY_FILE = str(tmp_path / "prod.pem")
    assert keys.signing_key().public_key() == key.public_key()
    assert not Path(settings.AGENTOPS_DEV_SEAL_KEY_FILE).exists()


def test_a_configured_but_unreadable_key_never_falls_back(settings, tmp_path):
    settings.AGENTOPS_SEAL_KEY_FILE = str(tmp_path / "missing.pem")
    with pytest.raises(ImproperlyConfigured, match="AGENTOPS_SEAL_KEY_FILE"):
        keys.signing_key()
    assert not Path(settings.AGENTOPS_DEV_SEAL_KEY_FILE).exists()


def test_a_required_key_must_be_configured(settings):
    settings.AGENTOPS_REQUIRE_SEAL_KEY = True
    with pytest.raises(ImproperlyConfigured, match="must name the sealing key"):
        keys.signing_key()


@pytest.mark.parametrize("required", [False, True], ids=["development", "production"])
def test_startup_check_refuses_a_configured_key_file_that_is_missing(settings, tmp_path, required):
    settings.AGENTOPS_REQUIRE_SEAL_KEY = required
    settings.AGENTOPS_SEAL_KEY_FILE = str(tmp_path / "missing.pem")
    with pytest.raises(ImproperlyConfigured, match="AGENTOPS_SEAL_KEY_FILE"):
        keys.startup_check()
    _key_file(tmp_path / "missing.pem")
    keys.cache_clear()
    keys.startup_check()


def test_startup_check_refuses_a_retired_key_that_cannot_be_loaded(settings, tmp_path):
    settings.AGENTOPS_RETIRED_PUBLIC_KEYS = [str(tmp_path / "gone.pub.pem")]
    with pytest.raises(ImproperlyConfigured, match="AGENTOPS_RETIRED_PUBLIC_KEYS"):
        keys.startup_check()


def test_startup_check_leaves_the_development_key_to_the_first_seal(settings):
    keys.startup_check()
    assert not Path(settings.AGENTOPS_DEV_SEAL_KEY_FILE).exists()


@pytest.mark.parametrize("module", ["agentops.settings", "agentops.settings_production"])
def test_the_process_refuses_to_start_with_a_missing_key_file(tmp_path, module):
    """Through the real start-up path of each settings module, not only the function."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE=module,
        AGENTOPS_SEAL_KEY_FILE=str(tmp_path / "missing.pem"),
        SECRET_KEY="x" * 64,
        ALLOWED_HOSTS="agentops.example",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=live_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "AGENTOPS_SEAL_KEY_FILE" in done.stderr
    assert "missing.pem" in done.stderr


def test_public_keys_list_current_then_retired(settings, tmp_path):
    retired_a = Ed25519PrivateKey.generate()
    retired_b = Ed25519PrivateKey.generate()
    settings.AGENTOPS_RETIRED_PUBLIC_KEYS = [
        seal.public_key_b64(retired_a.public_key()),
        _public_pem(retired_b, tmp_path / "old.pub.pem"),
    ]
    current = keys.signing_key().public_key()
    published = keys.public_keys()
    assert published == [
        {
            "key_id": seal.key_id(key),
            "public_key": seal.public_key_b64(key),
            "algorithm": "Ed25519",
            "status": status,
        }
        for key, status in [
            (current, "current"),
            (retired_a.public_key(), "retired"),
            (retired_b.public_key(), "retired"),
        ]
    ]
    assert keys.trusted_public_keys() == [current, retired_a.public_key(), retired_b.public_key()]


def test_a_retired_list_naming_the_current_key_publishes_it_once(settings):
    current = keys.signing_key().public_key()
    settings.AGENTOPS_RETIRED_PUBLIC_KEYS = [seal.public_key_b64(current)]
    assert [k["status"] for k in keys.public_keys()] == ["current"]


def test_a_bad_retired_key_is_a_configuration_error(settings):
    settings.AGENTOPS_RETIRED_PUBLIC_KEYS = ["not a key"]
    with pytest.raises(ImproperlyConfigured, match="AGENTOPS_RETIRED_PUBLIC_KEYS"):
        keys.public_keys()


def test_service_id_is_read_once():
    assert keys.service_id() == "test-ingest"
    live_settings.AGENTOPS_INGESTION_SERVICE_ID = "changed"  # no setting_changed signal
    assert keys.service_id() == "test-ingest"
    keys.cache_clear()
    assert keys.service_id() == "changed"


@pytest.mark.django_db
def test_seals_of_a_retired_key_stay_trusted(settings, tmp_path):
    session = session_with_events(2, end=True)
    services.session_seal(session=session)
    old_public = seal.public_key_b64(keys.signing_key().public_key())

    _key_file(tmp_path / "new.pem")
    settings.AGENTOPS_SEAL_KEY_FILE = str(tmp_path / "new.pem")
    forgotten = services.session_verify(session=session, trigger=VerificationTrigger.API)
    assert forgotten["evidence_class"] != "AUTHORITATIVE_EVIDENCE", forgotten

    settings.AGENTOPS_RETIRED_PUBLIC_KEYS = [old_public]
    report = services.session_verify(session=session, trigger=VerificationTrigger.API)
    assert report["evidence_class"] == "AUTHORITATIVE_EVIDENCE"
