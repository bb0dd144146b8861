"""Tree heads time-stamped by a real RFC 3161 authority (openssl on a loopback port), and
agentops-verify checking the token against the authority's certificate."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from agentops_sdk.verify import verify_export
from agentops_sdk.verify.tsa import tsa_token_problem

from ingestion import keys
from ingestion.transparency import services as log
from ingestion.transparency.tests.local_tsa import local_tsa

from .factories import export_bytes, session_sealed

pytestmark = pytest.mark.django_db


@pytest.fixture
def tsa(settings, tmp_path):
    with local_tsa(tmp_path / "tsa") as authority:
        settings.AGENTOPS_TSA_URL = authority.url
        yield authority


def test_a_head_carries_a_token_that_verifies_against_the_authority(tsa, tmp_path):
    head = log.tree_head_json(log.tree_head_sign())
    assert base64.b64decode(head["tsa_token"])
    assert tsa_token_problem(head, tsa.chain_pem) is None
    assert "does not verify" in tsa_token_problem({**head, "tree_size": 7}, tsa.chain_pem)
    with local_tsa(tmp_path / "other", name="Another TSA") as other:
        assert tsa_token_problem(head, other.chain_pem) is not None
    assert "no RFC 3161" in tsa_token_problem({**head, "tsa_token": ""}, tsa.chain_pem)


def test_an_export_with_a_time_stamped_head_verifies_with_the_tsa_certificate(tsa, tmp_path):
    document = json.loads(export_bytes(session_sealed(), "json")[0])
    trusted = keys.trusted_public_keys()[0]
    report = verify_export(document, trusted_keys=[trusted], tsa_certificate=tsa.chain_pem)
    assert report["log_inclusion"] == "verified", report["violations"]
    with local_tsa(tmp_path / "other", name="Another TSA") as other:
        wrong = verify_export(document, trusted_keys=[trusted], tsa_certificate=other.chain_pem)
    assert wrong["log_inclusion"] == "invalid"
    assert "LOG_INCLUSION_INVALID" in {v["type"] for v in wrong["violations"]}

    export = tmp_path / "export.json"
    export.write_bytes(json.dumps(document).encode())
    certificate = tmp_path / "tsa.pem"
    certificate.write_bytes(tsa.chain_pem)
    key = next(k for k in keys.public_keys() if k["status"] == "current")["public_key"]
    result = subprocess.run(
        [sys.executable, "-m", "agentops_sdk.verify", str(export), "--format", "json",
         "--trusted-key", key, "--tsa-cert", str(certificate)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["log_inclusion"] == "verified"


def test_a_head_is_still_signed_when_the_authority_is_down(settings):
    settings.AGENTOPS_TSA_URL = "http://127.0.0.1:9/tsa"
    head = log.tree_head_sign()
    assert head.tsa_token == "" and head.signature
