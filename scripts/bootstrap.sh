#!/usr/bin/env bash
# Prepares a machine for AgentOps Replay: system libraries, the virtualenv, pinned packages.
# Idempotent and quick when nothing changed. Says plainly what is missing when it cannot fix it.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
need_apt=()

have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }

# WeasyPrint renders PDFs through Pango; pdftotext/pdftoppm read them back in tests.
have_lib 'libpango-1.0.so.0' || need_apt+=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0)
command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)
fc-list 2>/dev/null | grep -qi 'dejavu' || need_apt+=(fonts-dejavu-core)
# The console's browser tests drive Debian's Chromium (WITH_BROWSER=0 skips installing it).
# Without root it is only reported: the browser tests then fail and say how to get it.
if [ "${WITH_BROWSER:-1}" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    need_apt+=(chromium)
  else
    echo "bootstrap: /usr/bin/chromium is missing (browser tests will fail): sudo apt-get install chromium" >&2
  fi
fi
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "bootstrap: missing system packages: ${need_apt[*]}" >&2
    echo "bootstrap: install them (e.g. sudo apt-get install ${need_apt[*]}) and run again" >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# Development installs the runtime (requirements.txt, all the Docker image gets) and the tools
# for tests, lint and benchmarks (requirements-dev.txt, which includes the runtime).
stamp="$VENV/.requirements.sha256"
want=$(cat requirements.txt requirements-dev.txt sdk/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing Python requirements"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 \
    | grep -v -e '^WARNING: Location' -e 'BuildBackendWarning' || true
  "$VENV/bin/python" -c 'import django, rest_framework, agentops_sdk, weasyprint, redis, pytest' \
    || { echo "bootstrap: Python requirements did not install" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
