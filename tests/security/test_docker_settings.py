"""docker-compose.yml and the Dockerfile, checked as far as a machine without a Docker engine
can: the settings the web container gets, ``check --deploy`` with them, gunicorn serving with
them over plain HTTP, and what the image installs.

The web container's environment is read from docker-compose.yml itself (anchors, ``${...}``
defaults and required values resolved as compose does) with the secrets made as its header
says. Only what names the containers' world is replaced: the database host ``db`` by a local
database and ``/run/secrets/...`` by the key file made here.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from agentops_sdk import seal

REPOSITORY = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPOSITORY / "docker-compose.yml"
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
#: What compose reads from .env, made as the compose file's header says.
DOCUMENTED_SECRETS = ("POSTGRES_PASSWORD", "AGENTOPS_SERVICE_DB_PASSWORD", "SECRET_KEY")
#: check --deploy's findings that AGENTOPS_PLAIN_HTTP stands for: no HTTPS redirect, and
#: session and CSRF cookies not marked Secure.
PLAIN_HTTP_FINDINGS = {"security.W008", "security.W012", "security.W016"}

_VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


class MissingVariable(Exception):
    pass


def interpolate(value, variables: dict[str, str]):
    """Compose's interpolation: ``$$``, ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``,
    ``${NAME:?error}``."""
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        present = name in variables
        empty = not variables.get(name)
        if op in (":-", "-"):
            return arg if (empty if op == ":-" else not present) else variables[name]
        if op in (":?", "?") and (empty if op == ":?" else not present):
            raise MissingVariable(f"{name}: {arg}")
        return variables.get(name, "")

    return _VARIABLE.sub(replace, value)


def documented_secrets() -> dict[str, str]:
    # The header's recipe: `openssl rand -hex 24` (passwords) and `-hex 32` (secret key).
    return {
        "POSTGRES_PASSWORD": secrets.token_hex(24),
        "AGENTOPS_SERVICE_DB_PASSWORD": secrets.token_hex(24),
        "SECRET_KEY": secrets.token_hex(32),
    }


def compose_service(name: str, variables: dict[str, str]) -> dict:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())  # resolves the <<: anchor merge
    return interpolate(compose["services"][name], variables)


def dockerfile_environment() -> dict[str, str]:
    """The ENV of the Dockerfile's final stage."""
    final_stage = re.split(r"^FROM .*$", (REPOSITORY / "Dockerfile").read_text(), flags=re.M)[-1]
    found = {}
    for block in re.findall(r"^ENV ((?:.*\\\n)*.*)$", final_stage, flags=re.M):
        for name, value in re.findall(r"(\w+)=(\S+)", block.replace("\\\n", " ")):
            found[name] = value
    return found


def _seal_key(directory: Path) -> Path:
    path = directory / "seal-key.pem"
    if shutil.which("openssl"):  # the compose file's own command
        subprocess.run(
            ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(path)], check=True
        )
        path.chmod(0o400)
    else:
        seal.private_key_generate(path)
    seal.private_key_load(path)  # what the service will load
    return path


@pytest.fixture
def web_env(tmp_path) -> dict[str, str]:
    """The web container's environment, as a process on this machine gets it."""
    compose_env = compose_service("web", documented_secrets())["environment"]
    assert compose_env["AGENTOPS_SEAL_KEY_FILE"] == "/run/secrets/agentops_seal_key"
    assert compose_env["DATABASE_URL"].startswith("postgres://agentops_app:")
    image_env = dockerfile_environment()
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AGENTOPS_", "SECURE_", "DJANGO_"))
        and name not in {"DEBUG", "DATABASE_URL", "ALLOWED_HOSTS", "SECRET_KEY"}
    }
    env = {
        **base,
        "DJANGO_SETTINGS_MODULE": image_env["DJANGO_SETTINGS_MODULE"],
        **{name: str(value) for name, value in compose_env.items()},
    }
    env["AGENTOPS_SEAL_KEY_FILE"] = str(_seal_key(tmp_path))
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'web.sqlite3'}"
    # The image collects static files into its own var/static; here a directory of the test's.
    env["STATIC_ROOT"] = str(tmp_path / "static")
    return env


def _python(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=check,
    )


def _findings(result: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"\((security\.\w+|\w+\.[EW]\d+)\)", result.stdout + result.stderr))


# --- the compose file and the image -----------------------------------------------------------


def test_the_image_runs_the_production_settings():
    assert dockerfile_environment()["DJANGO_SETTINGS_MODULE"] == "agentops.settings_production"


@pytest.mark.parametrize("missing", DOCUMENTED_SECRETS)
def test_compose_refuses_to_start_without_each_documented_secret(missing):
    variables = documented_secrets()
    del variables[missing]
    with pytest.raises(MissingVariable, match=missing):
        for service in ("db", "migrate", "web"):
            compose_service(service, variables)


def test_the_web_container_serves_plain_http_on_the_shared_database_cache(web_env):
    script = (
        "import json, django\n"
        "django.setup()\n"
        "from django.conf import settings as s\n"
        "print(json.dumps({'redirect': s.SECURE_SSL_REDIRECT, 'debug': s.DEBUG,\n"
        "  'session_secure': s.SESSION_COOKIE_SECURE, 'csrf_secure': s.CSRF_COOKIE_SECURE,\n"
        "  'cache': s.CACHES['default'], 'proxies': s.REST_FRAMEWORK['NUM_PROXIES']}))\n"
    )
    got = json.loads(_python(web_env, "-c", script).stdout)
    assert got["redirect"] is False
    assert got["session_secure"] is False and got["csrf_secure"] is False
    assert got["debug"] is False
    assert got["cache"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert got["cache"]["LOCATION"] == "agentops_cache"
    assert got["proxies"] == 0


def test_check_deploy_names_only_what_plain_http_relaxes(web_env):
    result = _python(web_env, "manage.py", "check", "--deploy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _findings(result) == PLAIN_HTTP_FINDINGS, result.stdout + result.stderr


def test_check_deploy_reports_nothing_behind_a_tls_proxy(web_env):
    # What the compose file says to set once a TLS-terminating proxy is in front.
    web_env.update(AGENTOPS_PLAIN_HTTP="false", AGENTOPS_TRUSTED_PROXIES="1")
    result = _python(web_env, "manage.py", "check", "--deploy", "--fail-level", "DEBUG")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_image_gets_no_test_or_development_package():
    def names(path: Path) -> set[str]:
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        return {re.split(r"[=<>\[ ]", line)[0].lower() for line in lines if line}

    runtime = names(REPOSITORY / "requirements.txt")
    development = names(REPOSITORY / "requirements-dev.txt")
    tools = {"pytest", "pytest-django", "hypothesis", "schemathesis", "ruff", "playwright"}
    assert not runtime & tools, runtime & tools
    assert tools <= development
    assert "-r" in development  # the runtime too, for development
    assert {"redis", "drf-spectacular-sidecar", "gunicorn"} <= runtime
    lines = (REPOSITORY / "Dockerfile").read_text().splitlines()
    instructions = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert "COPY requirements.txt" in instructions and "requirements-dev" not in instructions
    ignored = (REPOSITORY / ".dockerignore").read_text().split()
    assert {"secrets", ".env", ".venv", "var", ".git"} <= set(ignored)


# --- gunicorn with the web container's settings ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str, headers: dict[str, str] | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture
def web_server(web_env, tmp_path) -> Iterator[tuple[int, str]]:
    """The migrate service's and the image build's steps, then the web service's command
    (bound to a loopback port instead of 0.0.0.0:8000): (port, an API key)."""
    _python(web_env, "manage.py", "migrate", "--noinput", "-v0")
    build_env = {**web_env, "DJANGO_SETTINGS_MODULE": "agentops.settings"}
    _python(build_env, "manage.py", "collectstatic", "--noinput", "-v0")
    key = _python(web_env, "manage.py", "create_api_key", "--project", "acme").stdout.strip()

    command = compose_service("web", documented_secrets())["command"]
    assert command[:2] == ["sh", "-c"] and "--bind 0.0.0.0:8000" in command[2]
    port = _free_port()
    shell = command[2].replace("--bind 0.0.0.0:8000", f"--bind 127.0.0.1:{port}")
    shell = shell.replace("exec gunicorn", f"exec {GUNICORN}")
    log = tmp_path / "gunicorn.log"
    process = subprocess.Popen(
        ["sh", "-c", shell],
        cwd=REPOSITORY,
        env=web_env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield port, key
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_gunicorn_with_the_web_settings_answers_plain_http_without_a_redirect(web_server):
    port, key = web_server
    status, _, body = _get(port, "/healthz")
    assert status == 200, body
    status, headers, body = _get(port, "/api/v1/sessions", {"Authorization": f"Bearer {key}"})
    assert status == 200, (status, headers.get("Location"), body)
    assert json.loads(body) is not None
    # As a browser on this machine asks for it (README: http://localhost:8000).
    status, _, body = _get(port, "/api/docs/", {"Host": "localhost:8000"})
    assert status == 200, body
    asset = re.search(rb'src="(/static/[^"]+swagger-ui-bundle\.js)"', body).group(1).decode()
    status, _, script = _get(port, asset)
    assert status == 200 and len(script) > 100_000
